"""The package's import arrows point down its layers and form no cycle (``scripts/import_graph.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

import import_graph


def test_the_package_has_no_cycle_and_no_arrow_up_its_layers(capsys: pytest.CaptureFixture[str]) -> None:
    assert import_graph.main([]) == 0
    out = capsys.readouterr().out
    assert "import cycles: 0" in out
    assert "arrows up the layers: 0" in out


def write_package(root: Path, modules: dict[str, str]) -> Path:
    for name, text in modules.items():
        path = root / "lit_classifier" / f"{name.replace('.', '/')}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_cycle_and_an_arrow_up_are_named_and_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write_package(
        tmp_path,
        {
            "__init__": "",
            "errors": "from lit_classifier.module import ClassifierModule\n",
            "module": "from lit_classifier.checkpoints.load import load_module\n",
            "checkpoints.__init__": "",
            # an import inside a function, made to dodge the cycle at import time, is still an arrow
            "checkpoints.load": "def load_module():\n    from lit_classifier.module import Module\n",
        },
    )
    assert import_graph.main(["--src", str(src)]) == 1
    out = capsys.readouterr().out
    assert "import cycles: 1\n  lit_classifier.checkpoints.load <-> lit_classifier.module" in out
    assert "lit_classifier.errors (foundations) -> lit_classifier.module (module)" in out
    assert "lit_classifier.checkpoints.load (checkpoints) -> lit_classifier.module (module)" in out


def test_a_module_in_no_layer_is_named(tmp_path: Path) -> None:
    src = write_package(tmp_path, {"__init__": "", "gadgets": ""})
    with pytest.raises(SystemExit, match=r"lit_classifier\.gadgets is in no layer"):
        import_graph.main(["--src", str(src)])
