"""benchmarks/serving.py run end to end, tiny: both servers started, measured and stopped."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# | concurrency | LitServe req/s | p50 | p99 | mean batch | FastAPI req/s | p50 | p99 | ratio |
NUMBER = r"([\d.]+)"
CELL = r" \| "
ROW = r"^\| (\d+) \| " + CELL.join([NUMBER] * 7) + rf" \| {NUMBER}x \|$"


@pytest.fixture
def serving_benchmark(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import serving

    return serving


def test_one_run_measures_both_servers_at_each_concurrency(
    serving_benchmark: ModuleType,
    trained: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["serving.py", f"--ckpt_path={trained}", "--requests=6", "--concurrency", "1", "4"]
    monkeypatch.setattr(sys, "argv", argv)

    serving_benchmark.main()

    out = capsys.readouterr().out
    rows = re.findall(ROW, out, re.M)
    assert [row[0] for row in rows] == ["1", "4"]
    for _, ours, p50, p99, batch, theirs, their_p50, their_p99, ratio in rows:
        assert float(ours) > 0 and float(theirs) > 0 and 0 < float(p50) <= float(p99)
        assert 0 < float(their_p50) <= float(their_p99) and 1 <= float(batch) <= 4
        rounding = float(ours) / float(theirs) * (0.05 / float(ours) + 0.05 / float(theirs)) + 0.005
        assert float(ratio) == pytest.approx(
            float(ours) / float(theirs), abs=rounding
        )  # figures rounded to 0.1
    assert "python benchmarks/serving.py --requests 6 --concurrency 1 4" in out
    assert re.search(r"machine: .*, \d+ cores", out)
