"""The arrows of docs/architecture.md, checked on the source: each part of mlvc imports
only the parts below it, and the core never imports typer, rich or mlvc.cli."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MLVC = Path(__file__).resolve().parents[2] / "mlvc"

# part -> the parts of mlvc it may import (besides itself). A part is a folder or a
# top-level module; "errors" and "progress" are the leaves every layer may use.
ALLOWED = {
    "objects": {"errors"},
    "fs": {"objects", "errors"},
    "odb": {"objects", "fs", "errors"},
    "workspace": {"odb", "objects", "fs", "errors", "progress"},
    "formats": {"objects", "fs", "errors"},
    "scm": {"errors"},
    "config": {"fs", "errors"},
    "repo": {"config", "odb", "workspace", "fs", "errors", "scm"},
    "ops": {"repo", "config", "workspace", "odb", "formats", "scm", "objects", "fs", "errors", "progress"},
    # pipeline sits beside ops: every layer below ops, and of ops only PIPELINE_OPS
    "pipeline": {"ops", "repo", "config", "workspace", "odb", "formats", "scm", "objects", "fs", "errors", "progress"},
    # history sits beside ops too: every layer below ops, and of ops only HISTORY_OPS
    "history": {"ops", "repo", "config", "workspace", "odb", "formats", "scm", "objects", "fs", "errors", "progress"},
    "api": {"ops", "pipeline", "history", "repo", "errors"},
    "progress": set(),
    "errors": set(),
    "cli": {"api", "errors", "progress", "cli"},
    "entry": {"cli"},
    "__main__": {"entry"},
    "__init__": set(),
}
NOT_IN_THE_CORE = {"typer", "rich", "click"}
# the helpers every writing verb shares, checkout's entries into the workspace (run-cache restores)
# and unprotect's private copies (a persist out in a link mode)
PIPELINE_OPS = {"mlvc.ops.targets", "mlvc.ops.record", "mlvc.ops.checkout", "mlvc.ops.unprotect"}
HISTORY_OPS = {"mlvc.ops.targets"}  # what is tracked, and users' paths


def _part(path: Path) -> str:
    rel = path.relative_to(MLVC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module == "mlvc":  # from mlvc import fs, errors ...
                found.extend((f"mlvc.{a.name}", node.lineno) for a in node.names)
            else:
                found.append((node.module, node.lineno))
    return found


SOURCES = sorted(MLVC.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(MLVC)) for p in SOURCES])
def test_each_module_imports_only_the_layers_below_it(path):
    part = _part(path)
    assert part in ALLOWED, f"{path.relative_to(MLVC)}: a new part of mlvc; add it to ALLOWED and the docs"
    for name, line in _imports(path):
        top = name.split(".")[0]
        if part != "cli" and top in NOT_IN_THE_CORE:
            pytest.fail(f"{path.relative_to(MLVC)}:{line}: the core imports {name}")
        if top != "mlvc" or name == "mlvc":
            continue
        target = name.split(".")[1]
        if target == "__version__":
            continue
        assert target == part or target in ALLOWED[part], (
            f"{path.relative_to(MLVC)}:{line}: {part} imports {name}; it may import {sorted(ALLOWED[part])}")
        if part == "pipeline" and target == "ops":
            assert name in PIPELINE_OPS, f"{path.relative_to(MLVC)}:{line}: pipeline imports {name} (a verb of ops)"
        if part == "history" and target == "ops":
            assert name in HISTORY_OPS, f"{path.relative_to(MLVC)}:{line}: history imports {name} (a verb of ops)"


def test_the_rules_have_no_cycle():
    import graphlib

    graphlib.TopologicalSorter({k: v - {k} for k, v in ALLOWED.items()}).prepare()
