"""The package's shape: its files, their lines, and the import arrows between its modules.

    python scripts/import_graph.py            # one line: files, lines, arrows, files over 300 lines
    python scripts/import_graph.py --arrows   # and every arrow, "importer -> imported"
    git worktree add /tmp/before REV && python scripts/import_graph.py --src /tmp/before/src

A restructuring reports this line before and after. An arrow is one module importing another of
the package, counted once however many names it takes.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src"
LONG = 300


def module_names(root: Path) -> dict[str, Path]:
    """Each module of ``root/lit_classifier`` by its dotted name (a package by its folder's)."""
    found = {}
    for path in sorted((root / "lit_classifier").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` (at ``path``) imports."""

    def owner(dotted: str) -> str:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted

    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets |= {owner(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the importing module's package
                parts = name.split(".")
                keep = len(parts) - node.level + (path.name == "__init__.py")
                base = ".".join(parts[:keep] + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in modules else owner(base))
    return {t for t in targets if t.startswith("lit_classifier") and t != name}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrows", action="store_true", help="list every arrow too")
    parser.add_argument("--src", type=Path, default=SOURCE, help="the src folder of another checkout")
    args = parser.parse_args(argv)
    modules = module_names(args.src)
    arrows = sorted(
        (name, target) for name, path in modules.items() for target in imported(name, path, modules)
    )
    lines = {name: len(path.read_text().splitlines()) for name, path in modules.items()}
    long = [f"{name} ({count})" for name, count in lines.items() if count > LONG]
    print(
        f"{len(modules)} files, {sum(lines.values())} lines, {len(arrows)} import arrows, "
        f"over {LONG} lines: {', '.join(long) or 'none'}"
    )
    if args.arrows:
        for importer, target in arrows:
            print(f"{importer} -> {target}")


if __name__ == "__main__":
    main()
