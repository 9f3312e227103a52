"""The split-file modules import one way: schema → items → writer; reader → verify / datasets; no cycle with the cli."""

from __future__ import annotations

import ast
from pathlib import Path

import spirograph

PACKAGE = Path(spirograph.__file__).parent


def _imports(module: str) -> set[str]:
    """Absolute names of the spirograph modules that ``module`` (dotted, under spirograph) imports."""
    path = PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")
    package = module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {n for n in found if n.startswith("spirograph")}


def test_reader_and_datasets_do_not_import_the_writer():
    for module in ("spirograph.splits.reader", "spirograph.splits.verify", "spirograph.splits.datasets", "spirograph.splits.items"):
        assert not any(n.startswith("spirograph.splits.writer") for n in _imports(module)), module


def test_commands_do_not_import_the_cli():
    for module in ("spirograph.splits.commands", "spirograph.harness.commands"):
        assert not any(n.startswith("spirograph.cli") for n in _imports(module)), module


def test_the_released_import_paths_still_work():
    import spirograph.datasets
    import spirograph.h5
    import spirograph.splits as splits

    assert spirograph.SpirographH5 is spirograph.datasets.SpirographH5 is splits.SpirographH5
    assert spirograph.SpirographRendered is spirograph.datasets.SpirographRendered is splits.SpirographRendered
    for name in spirograph.h5.__all__:
        assert getattr(spirograph.h5, name) is getattr(splits, name), name
