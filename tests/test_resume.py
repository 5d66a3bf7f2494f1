"""A resumed run ends exactly where the uninterrupted run ends: weights, optimizer, scheduler, metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import assert_same_tensors, cli, read_metrics, run_dir

# Short shuffled epochs, a momentum optimizer and a scheduler: all the state a resume must restore.
RUN = [
    "--trainer.limit_train_batches=4",
    "--trainer.limit_val_batches=2",
    "--trainer.deterministic=true",
    "--model.scheduler=torch.optim.lr_scheduler.StepLR",
    "--model.scheduler.step_size=1",
    "--model.scheduler.gamma=0.5",
    "--plots.enabled=false",
]


def test_stopped_after_epoch_1_and_resumed_equals_the_uninterrupted_run() -> None:
    whole = run_dir(cli("fit", *RUN, "--trainer.max_epochs=2"))
    first = run_dir(cli("fit", *RUN, "--trainer.max_epochs=1"))
    rest = run_dir(cli("fit", *RUN, "--trainer.max_epochs=2", "--ckpt_path=last"))

    expected = torch.load(whole / "checkpoints" / "last.ckpt", weights_only=True)
    resumed = torch.load(rest / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["global_step"] == expected["global_step"] == 8
    assert_same_tensors(expected["state_dict"], resumed["state_dict"])
    momentum = expected["optimizer_states"][0]["state"]
    resumed_momentum = resumed["optimizer_states"][0]["state"]
    assert len(momentum) > 0
    for index, state in momentum.items():
        assert torch.equal(resumed_momentum[index]["momentum_buffer"], state["momentum_buffer"])
    assert resumed["lr_schedulers"] == expected["lr_schedulers"]
    assert resumed["lr_schedulers"][0]["_last_lr"] == [0.05 * 0.5**2]
    assert rest == first  # the resumed run continues its folder and its metrics.csv
    assert read_metrics(rest) == read_metrics(whole)  # steps included


def test_resume_from_a_path_continues_the_run_and_its_epoch_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = run_dir(cli("fit", *RUN, "--trainer.max_epochs=1"))
    capsys.readouterr()

    resumed = cli("fit", *RUN, "--trainer.max_epochs=3", f"--ckpt_path={first / 'checkpoints' / 'last.ckpt'}")

    assert resumed.trainer.current_epoch == 3
    assert resumed.trainer.global_step == 12
    out = capsys.readouterr().out
    assert "resuming after epoch 1 (global step 4): the run continues exactly" in out
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line.split(" |")[0] for line in lines] == ["epoch 2/3", "epoch 3/3"]


@pytest.mark.parametrize("resident", ["false", "true"], ids=["DataLoader", "device-resident"])
def test_a_mid_epoch_checkpoint_resumes_at_the_next_batch_and_ends_like_the_uninterrupted_run(
    resident: str, capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    run = [*RUN, f"--data.init_args.gpu_resident={resident}"]
    whole = run_dir(cli("fit", *run, "--trainer.max_epochs=2"))
    # Stop after step 3 of the 4 steps of epoch 1, with a checkpoint written right there.
    cli("fit", *run, "--trainer.max_steps=3", "--checkpoint.every_n_train_steps=3")
    capsys.readouterr()

    resumed = cli("fit", *run, "--trainer.max_epochs=2", "--ckpt_path=last")

    out = capsys.readouterr().out
    assert "resuming mid-epoch: epoch 1 had done 3 batches (global step 3)." in out
    assert "the epoch goes on at the next sample" in out
    assert not [warning for warning in recwarn if "dataloader is not resumable" in str(warning.message)]
    assert resumed.trainer.global_step == 3 + 1 + 4  # the rest of epoch 1, then all of epoch 2
    # The 4th batch of epoch 1 is the one the uninterrupted run took there: the same weights after.
    expected = torch.load(whole / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    ended = torch.load(run_dir(resumed) / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert_same_tensors(expected, ended)


@pytest.mark.parametrize("stop", ["after epoch 1", "mid-epoch 2"])
def test_with_loader_workers_a_resume_into_a_later_epoch_takes_that_epochs_order(stop: str) -> None:
    # Workers fetch ahead as soon as the loader is iterated, which a resumed fit does before it tells
    # the sampler its epoch: the sampler must know it from the start, or it replays epoch 1's order.
    run = [*RUN, "--data.num_workers=2"]
    whole = run_dir(cli("fit", *run, "--trainer.max_epochs=2"))
    if stop == "after epoch 1":
        cli("fit", *run, "--trainer.max_epochs=1")
    else:  # step 6 is the 2nd of epoch 2's 4 steps
        cli("fit", *run, "--trainer.max_steps=6", "--checkpoint.every_n_train_steps=6")

    resumed = cli("fit", *run, "--trainer.max_epochs=2", "--ckpt_path=last")

    assert resumed.trainer.global_step == 8
    expected = torch.load(whole / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    ended = torch.load(run_dir(resumed) / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert_same_tensors(expected, ended)


def test_ckpt_path_last_also_finds_a_shared_checkpoint_folder(capsys: pytest.CaptureFixture[str]) -> None:
    cli("fit", *RUN, "--trainer.max_epochs=1", "--checkpoint.dirpath=shared")
    capsys.readouterr()

    resumed = cli("fit", *RUN, "--trainer.max_epochs=2", "--checkpoint.dirpath=shared", "--ckpt_path=last")

    assert f"--ckpt_path last: {Path('shared').resolve() / 'last.ckpt'}" in capsys.readouterr().out
    assert resumed.trainer.global_step == 8


@pytest.mark.parametrize("which", ["last", "path"])
def test_an_option_changed_on_resume_is_refused_naming_it(
    which: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run_dir(cli("fit", *RUN, "--trainer.max_epochs=1"))
    checkpoint = "last" if which == "last" else str(first / "checkpoints" / "last.ckpt")

    with pytest.raises(SystemExit) as exit_info:
        cli("fit", *RUN, "--trainer.max_epochs=2", "--model.optimizer.lr=0.001", f"--ckpt_path={checkpoint}")

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "resumes a run trained with model.optimizer = lit_classifier.optim.RecipeSGD(lr=0.05" in err
    assert "this command gives lit_classifier.optim.RecipeSGD(lr=0.001" in err
    assert len(list(Path("runs/lightning_logs").iterdir())) == 1  # no folder for the refused run
