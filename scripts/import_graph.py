"""The package's shape: its files, their lines, the import arrows between its modules, and whether
every arrow points down its layers.

    python scripts/import_graph.py            # files, lines, arrows, files over 300 lines; the checks
    python scripts/import_graph.py --arrows   # and every arrow, "importer -> imported"
    git worktree add /tmp/before REV && python scripts/import_graph.py --src /tmp/before/src

A restructuring reports these lines before and after. An arrow is one module importing another of
the package, counted once however many names it takes, wherever the import stands (in a function,
or only for type checking: either way one module needs the other). The layers are the README's
"How it is built", lowest first: a module may import its own layer and those below; within a layer
no arrows may form a cycle. The script exits 1 when an arrow points up or a cycle exists.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src"
LONG = 300
#: The layers, lowest first, each a list of module prefixes (the longest prefix that matches decides).
LAYERS = (
    ("foundations", ("errors", "specs", "framework", "outputs", "checkpoints.io")),
    ("data", ("data",)),
    ("parts", ("models", "metrics", "optim", "plots")),
    ("checkpoints", ("checkpoints",)),
    ("module", ("module",)),
    ("policies and outputs", ("callbacks", "inference", "export", "examples")),
    ("commands", ("command", "serving", "sweep", "recipe")),
    ("package", ("", "__main__")),
)


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


def layer_of(module: str) -> int:
    """The index in ``LAYERS`` of ``module`` (``lit_classifier.data.base``: ``data``)."""
    name = module.removeprefix("lit_classifier").removeprefix(".")
    matches = [
        (len(prefix), index)
        for index, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if name == prefix or name.startswith(f"{prefix}.")
    ]
    if not matches:
        raise SystemExit(f"{module} is in no layer of LAYERS: add it where it belongs")
    return max(matches)[1]


def cycles(arrows: list[tuple[str, str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a loop (Tarjan's strongly
    connected components of more than one module)."""
    graph: dict[str, list[str]] = {}
    for importer, target in arrows:
        graph.setdefault(importer, []).append(target)
        graph.setdefault(target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def upward(arrows: list[tuple[str, str]]) -> list[str]:
    """The arrows from a module to one of a higher layer."""
    return [
        f"{importer} ({LAYERS[layer_of(importer)][0]}) -> {target} ({LAYERS[layer_of(target)][0]})"
        for importer, target in arrows
        if layer_of(target) > layer_of(importer)
    ]


def main(argv: list[str] | None = None) -> int:
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
    for name in modules:
        layer_of(name)  # every module belongs somewhere
    loops, up = cycles(arrows), upward(arrows)
    print(f"import cycles: {len(loops)}" + "".join(f"\n  {' <-> '.join(group)}" for group in loops))
    print(f"arrows up the layers: {len(up)}" + "".join(f"\n  {arrow}" for arrow in up))
    return 1 if loops or up else 0


if __name__ == "__main__":
    raise SystemExit(main())
