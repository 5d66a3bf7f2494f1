"""The study in one picture: each trial's result with the best so far, and every trial's epochs."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from optuna.trial import FrozenTrial, TrialState

from lit_classifier.outputs import written_whole


def study_figure(trials: list[FrozenTrial], metric: str, maximize: bool, best: FrozenTrial | None) -> Figure:
    """Left: the value of each finished trial (pruned ones at their last epoch) and the best so far;
    right: the metric after every epoch of every trial, pruned ones dashed, the best one bold."""
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    results, epochs = figure.subplots(1, 2)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    pruned = [t for t in trials if t.state == TrialState.PRUNED and t.intermediate_values]
    results.scatter([t.number for t in complete], [t.value for t in complete], label="complete", zorder=3)
    last = [t.intermediate_values[max(t.intermediate_values)] for t in pruned]
    results.scatter([t.number for t in pruned], last, marker="x", color="grey", label="pruned", zorder=3)
    best_so_far: list[float] = []
    for trial in complete:
        value = float(trial.value)  # type: ignore[arg-type]
        earlier = best_so_far[-1] if best_so_far else value
        best_so_far.append(max(earlier, value) if maximize else min(earlier, value))
    results.step([t.number for t in complete], best_so_far, where="post", color="C1", label="best so far")
    results.set(xlabel="trial", ylabel=metric, title=f"{len(complete)} complete, {len(pruned)} pruned")
    results.xaxis.set_major_locator(MaxNLocator(integer=True))
    results.legend()
    for trial in [*complete, *pruned]:
        steps = sorted(trial.intermediate_values)
        is_best = best is not None and trial.number == best.number
        epochs.plot(
            [step + 1 for step in steps],  # Optuna's steps count epochs from 0
            [trial.intermediate_values[step] for step in steps],
            linestyle="--" if trial.state == TrialState.PRUNED else "-",
            color="C1" if is_best else ("grey" if trial.state == TrialState.PRUNED else "C0"),
            linewidth=2.5 if is_best else 1,
            alpha=1 if is_best else 0.6,
            marker=".",
        )
    epochs.set(xlabel="epoch", ylabel=metric, title="every trial by epoch (best bold, pruned dashed)")
    epochs.xaxis.set_major_locator(MaxNLocator(integer=True))
    values = [v for t in trials for v in t.intermediate_values.values()]
    if not maximize and values and min(values) > 0:  # losses: a diverged trial would flatten the rest
        results.set_yscale("log")
        epochs.set_yscale("log")
    return figure


def write_study_plot(
    path: Path, trials: list[FrozenTrial], metric: str, maximize: bool, best: FrozenTrial | None
) -> Path:
    """Write the study's picture as the PNG ``path``, whole or not at all."""
    figure = study_figure(trials, metric, maximize, best)
    with written_whole(path, "wb") as file:
        figure.savefig(file, format="png", dpi=100)
    return path
