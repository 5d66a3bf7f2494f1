"""``notebooks/getting_started.ipynb`` runs top to bottom, offline, and is stored without outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "getting_started.ipynb"
KERNEL = "lit-classifier-tests"


def test_notebook_is_stored_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.fixture
def kernel_of_this_interpreter(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A kernelspec that runs this interpreter, found first on JUPYTER_PATH: the notebook runs with
    the packages under test even where no kernel was ever registered, or `python` is another one."""
    spec = tmp_path_factory.mktemp("jupyter") / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(spec.parents[1]))
    return KERNEL


def test_notebook_runs_top_to_bottom(kernel_of_this_interpreter: str, tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name=kernel_of_this_interpreter,
        timeout=300,
        resources={"metadata": {"path": str(tmp_path)}},  # its runs/ land here, not in the repo
    )

    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails

    # Each cell shows its own lines, the pictures line last (none lands in a later cell's output).
    train_model_lines = printed_by(notebook, "train_model(Net()").splitlines()
    assert train_model_lines[7].startswith("epoch 8/8 | train loss")
    assert train_model_lines[8:] == [
        "drawing learning_curves.png, confusion_matrix.png, misclassified.png to runs/train_model/version_0"
    ]
    command_lines = printed_by(notebook, 'run(["fit"').splitlines()
    assert command_lines[3].startswith("epoch 4/4 | train loss")
    assert command_lines[4:] == [
        "wrote learning_curves.png, confusion_matrix.png, misclassified.png to runs/lightning_logs/version_0"
    ]
    pictures = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(pictures) == 4  # curves, confusion matrix, misclassified grid, the run's curves
    run_dir = tmp_path / "runs" / "lightning_logs" / "version_0"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "misclassified.png").is_file()


def printed_by(notebook: nbformat.NotebookNode, code: str) -> str:
    """What the one code cell containing ``code`` printed."""
    (cell,) = [cell for cell in notebook.cells if cell.cell_type == "code" and code in cell.source]
    outputs = cell.get("outputs", [])
    return "".join(output.get("text", "") for output in outputs if output.get("name") == "stdout")
