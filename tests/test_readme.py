"""Every ``bash`` and ``python`` block of README.md and docs/*.md runs, shrunk to a few batches.

The rules, so that what runs is the README's own command:

- A fenced block marked ``bash`` or ``python`` is a test; ``text``, ``yaml`` and unmarked blocks are
  not. A block preceded by the line ``<!-- not-tested: REASON -->`` is skipped with that reason
  (pytest's ``-ra`` summary lists them): only for what cannot run here (a GPU, several machines,
  the internet, this test suite itself).
- ``bash``: comments are dropped, ``&&`` separates commands, and each command must be one of
  ``lit-classifier`` (run in-process, with ``LIMITS`` appended: one epoch of two batches per stage),
  ``lit-classifier-lr-find`` (with ``--lr_find.num_training=20`` appended), ``lit-classifier-sweep``
  (two trials, each with ``LIMITS``) or ``lit-classifier-plot``.
  ``pip install`` steps are not re-run: the suite runs in the environment they install. Any other
  program fails the test, naming it: add a rule here or mark the block.
- ``python``: the block is executed as it stands, except that ``epochs=N`` and ``max_epochs=N``
  become ``epochs=1``/``max_epochs=1`` and ``L.Trainer(`` gains ``limit_train_batches=2,
  limit_val_batches=2``.
- ``lit-classifier serve`` runs as a real server on a free port while the next block, a python
  block marked ``<!-- not-tested: the client of the server above ... -->``, runs as its client
  (``http://127.0.0.1:8000`` becomes the server's address, ``photo.png`` a digit).
- Each block runs in a fresh folder where ``configs/`` is the repository's, in the README's order
  of commands, so a ``test --ckpt_path runs/.../version_0/...`` line finds the block's earlier fit.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from lit_classifier import sweep
from lit_classifier.command import lr_find, optimize
from lit_classifier.command import plot as plot_command
from lit_classifier.command.cli import run
from server_process import digit_png, served

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SKIP_MARK = re.compile(r"<!--\s*not-tested:\s*(.+?)\s*-->")
LIMITS = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=2",
    "--trainer.limit_test_batches=2",
    "--trainer.limit_predict_batches=2",
]
#: How a python block that talks to the server of the bash block above it is marked (not run alone).
CLIENT = "the client of the server above"
PYTHON_SHRINK = [
    (re.compile(r"\b(max_)?epochs=\d+"), r"\1epochs=1"),
    (re.compile(r"\bL\.Trainer\("), "L.Trainer(limit_train_batches=2, limit_val_batches=2, "),
]


@dataclass
class Block:
    language: str
    line: int
    code: str
    skip_reason: str | None
    document: str = "README.md"


def readme_blocks(text: str) -> list[Block]:
    """The fenced ``bash`` and ``python`` blocks, with the line they start on and any skip reason."""
    lines = text.splitlines()
    blocks, index = [], 0
    while index < len(lines):
        fence = re.fullmatch(r"```(\w*)\s*", lines[index])
        if fence is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        if fence.group(1) in ("bash", "python"):
            before = lines[index - 1] if index else ""
            mark = SKIP_MARK.search(before)
            code = "\n".join(lines[index + 1 : end])
            blocks.append(Block(fence.group(1), index + 1, code, mark.group(1) if mark else None))
        index = end + 1
    return blocks


def shell_commands(code: str) -> list[list[str]]:
    """The commands of a bash block: one per line or per ``&&``, comments and continuations joined."""
    joined = code.replace("\\\n", " ")
    commands: list[list[str]] = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        current: list[str] = []
        for word in [*words, "&&"]:
            if word == "&&":
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(word)
    return commands


def run_lit_classifier(args: list[str]) -> None:
    try:
        run([*args, *LIMITS])
    except SystemExit as done:  # --help and --print_config end the command, successfully
        assert done.code in (0, None), f"lit-classifier {shlex.join(args)} exited with {done.code}"


RUNNERS: dict[str, Callable[[list[str]], None]] = {
    "lit-classifier": run_lit_classifier,
    "lit-classifier-lr-find": lambda args: lr_find.main([*args, "--lr_find.num_training=20"]),
    "lit-classifier-plot": plot_command.main,
    "lit-classifier-optimize": optimize.main,
    "lit-classifier-sweep": lambda args: sweep.main([*args, "--n_trials=2", *LIMITS]),
}


def run_bash(code: str, client: str | None = None) -> None:
    for program, *args in shell_commands(code):
        if program == "pip" and args[:1] == ["install"]:
            continue
        if program == "lit-classifier" and args[:1] == ["serve"]:
            serve_for(args[1:], client)
            continue
        if program not in RUNNERS:
            pytest.fail(
                f"README runs `{program}`, which tests/test_readme.py has no rule for: add one to "
                "RUNNERS, or mark the block <!-- not-tested: why -->"
            )
        RUNNERS[program](args)


def serve_for(args: list[str], client: str | None) -> None:
    """``lit-classifier serve ARGS`` as a real server (on a free port) while the document's next
    block, marked as its client, runs against it, with a digit as its ``photo.png``."""
    assert client is not None, f"a block that serves is followed by its client, marked '{CLIENT}'"
    Path("photo.png").write_bytes(digit_png())
    with served(args, Path.cwd()) as url:
        run_python(client.replace("http://127.0.0.1:8000", url), "README.md")


def client_of(block: Block) -> str | None:
    following = BLOCKS[BLOCKS.index(block) + 1 :]
    if following and (following[0].skip_reason or "").startswith(CLIENT):
        return following[0].code
    return None


def run_python(code: str, document: str) -> None:
    for pattern, replacement in PYTHON_SHRINK:
        code = pattern.sub(replacement, code)
    exec(compile(code, document, "exec"), {"__name__": "readme"})


BLOCKS = [
    Block(b.language, b.line, b.code, b.skip_reason, str(path.relative_to(REPO)))
    for path in DOCUMENTS
    for b in readme_blocks(path.read_text())
]


def test_readme_has_blocks_to_run() -> None:
    assert sum(block.skip_reason is None and block.document == "README.md" for block in BLOCKS) >= 5


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.document}:{b.line}-{b.language}" for b in BLOCKS])
def test_readme_block_runs(block: Block, tmp_path: Path) -> None:
    if block.skip_reason is not None:
        pytest.skip(f"{block.document} line {block.line}: {block.skip_reason}")
    (tmp_path / "configs").symlink_to(REPO / "configs")
    if block.language == "bash":
        run_bash(block.code, client_of(block))
    else:
        run_python(block.code, block.document)


def test_shell_commands_split_like_the_shell() -> None:
    code = 'pip install -e ".[dev]" && lit-classifier fit   # train\nlit-classifier-plot \\\n  runs/x\n'

    assert shell_commands(code) == [
        ["pip", "install", "-e", ".[dev]"],
        ["lit-classifier", "fit"],
        ["lit-classifier-plot", "runs/x"],
    ]


def test_blocks_marked_not_tested_are_skipped_with_their_reason() -> None:
    text = "<!-- not-tested: needs a GPU -->\n```bash\nlit-classifier fit\n```\n```python\nx = 1\n```\n"

    blocks = readme_blocks(text)

    assert [(b.language, b.line, b.skip_reason) for b in blocks] == [
        ("bash", 2, "needs a GPU"),
        ("python", 5, None),
    ]
