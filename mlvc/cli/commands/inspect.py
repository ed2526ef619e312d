"""Seeing the pipeline: ``dag``, ``params diff``, ``metrics show``, ``metrics diff``.

Each one: parse options, call one ``mlvc.api`` function, render."""

from __future__ import annotations

import json
import sys
from typing import Any, List, Optional

import typer

from mlvc.cli import app, command
from mlvc.cli.render import data, emit_json, out, user_path

JSON = typer.Option(False, "--json", help="Print the result as JSON.")
REV_A = typer.Argument(None, metavar="[A]", help="The old side: a git revision (default: HEAD).")
REV_B = typer.Argument(None, metavar="[B]", help="The new side: a git revision (default: the workspace).")

params_app = typer.Typer(
    name="params",
    help="The params of the pipeline's stages (params.yaml and the files stages name).\n\n"
    "Example: mlvc params diff HEAD~1",
    no_args_is_help=True,
    rich_markup_mode=None,
)
metrics_app = typer.Typer(
    name="metrics",
    help="The metrics files of the pipeline's stages (JSON, YAML, TOML), now or at git revisions.\n\n"
    "Example: mlvc metrics show --rev HEAD~1 --rev HEAD",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(params_app)
app.add_typer(metrics_app)


@app.command()
@command
def dag(
    target: Optional[str] = typer.Argument(None, metavar="[TARGET]",
                                           help="A stage, group or output: only it and the stages it depends on."),
    mermaid: bool = typer.Option(False, "--mermaid", help="Print a Mermaid flowchart."),
    dot: bool = typer.Option(False, "--dot", help="Print a Graphviz dot graph."),
    as_json: bool = typer.Option(False, "--json", help="Print the nodes (with deps and outs) and edges as JSON."),
):
    """Draw the graph of stages: a stage above the stages that read its outs.

    In the terminal, each layer of stages is a row of boxes; every stage with
    edges down has a line of its own ('+' joins it, 'v' enters a box, a '|'
    across a line crosses it). --mermaid, --dot and --json print the same graph
    for other tools.

    Example: mlvc dag train --mermaid
    """
    from mlvc import api
    from mlvc.errors import UsageError

    if mermaid + dot + as_json > 1:
        raise UsageError("--mermaid, --dot and --json are different formats", "choose one of them")
    graph = api.dag(target)
    if as_json:
        emit_json(graph.to_json())
    elif mermaid:
        sys.stdout.write(graph.to_mermaid())
    elif dot:
        sys.stdout.write(graph.to_dot())
    elif not graph.nodes:
        out("No stages yet; define one with `mlvc stage add NAME -d DEP -o OUT -- CMD`.")
    else:
        sys.stdout.write(graph.to_text())


# ------------------------------------------------------------------ tables


def _fmt(value: Any) -> str:
    """A value in a table cell: text as it is (quoted when it holds a line break or a tab, or
    reads as '-' or 'missing'), anything else as JSON."""
    if isinstance(value, str) and value not in ("", "-", "missing") and not any(c in value for c in "\n\r\t"):
        return value
    return json.dumps(value)


def _where():
    """Repo-relative path -> the path as the user sees it (relative to the current folder)."""
    from mlvc import api

    root = api.find_root()
    return lambda path: user_path(root, path)


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        data("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def _side_json(side) -> dict:
    return {"rev": side.label, "sha": side.sha}


def _diff_json(result, what: str) -> dict:
    changes = []
    for c in result.changes:
        item = {"file": c.file, what: c.key, "status": c.status, "old": c.old, "new": c.new}
        if what == "metric":
            item["change"] = c.change
        changes.append(item)
    return {"old": _side_json(result.old), "new": _side_json(result.new), "changes": changes,
            "missing": [{"file": f, "rev": label} for f, label in result.missing]}


def _show_diff(result, what: str, with_change: bool) -> None:
    _path = _where()
    between = f"{result.old.label} and {'the workspace' if result.new.sha is None else result.new.label}"
    if result.changes:
        header = ["File", what.capitalize(), result.old.label, result.new.label] + (["Change"] if with_change else [])
        rows = [header]
        for c in result.changes:
            row = [_path(c.file), c.key, "-" if c.status == "added" else _fmt(c.old),
                   "-" if c.status == "removed" else _fmt(c.new)]
            if with_change:
                row.append("-" if c.change is None else f"{c.change:+}")
            rows.append(row)
        _table(rows)
    else:
        out(f"No {what} changed between {between}.")
    for f, label in result.missing:
        data(f"{_path(f)} is missing at {'the workspace' if label == 'workspace' else label}.")  # shown with -q too


@params_app.command("diff")
@command
def params_diff(
    a: Optional[str] = REV_A,
    b: Optional[str] = REV_B,
    show_all: bool = typer.Option(False, "--all", help="Show the params that did not change too."),
    as_json: bool = JSON,
):
    """Show the params that changed between two git revisions.

    Params are every key of params.yaml and of each file a stage names under
    params: (nested keys as a.b). No revision: HEAD against the workspace;
    one: it against the workspace; two: A against B. A params file missing
    at a side is said so; a malformed one is an error naming it (REV:FILE)
    and its line.

    Example: mlvc params diff HEAD~1 --all
    """
    from mlvc import api

    result = api.params_diff(a, b, all=show_all)
    if as_json:
        emit_json(_diff_json(result, "param"))
        return
    _show_diff(result, "param", with_change=False)


@metrics_app.command("show")
@command
def metrics_show(
    revs: List[str] = typer.Option([], "--rev", metavar="REV",
                                   help="Show them at this git revision (repeatable; default: the workspace)."),
    as_json: bool = JSON,
):
    """Show the values in the stages' metrics files, in the workspace or at each REV.

    Metrics files are those stages list under metrics: (JSON, TOML, or YAML);
    nested keys are shown as a.b. A file missing at a revision is shown as
    'missing'; a malformed one is an error naming it and its line.

    Example: mlvc metrics show --rev HEAD~1 --rev HEAD
    """
    from mlvc import api

    found = api.metrics_show(revs)
    if as_json:
        emit_json({"revisions": [{**_side_json(m.side), "metrics": m.files} for m in found]})
        return
    files = sorted({f for m in found for f in m.files})
    if not files:
        out("No metrics files; a stage lists them with `mlvc stage add ... -m FILE`.")
        return
    _path = _where()
    rows = [["File", "Metric"] + [m.side.label for m in found]]
    for f in files:
        keys = sorted({k for m in found for k in (m.files.get(f) or {})}) or ["-"]
        for k in keys:
            cells = []
            for m in found:
                values = m.files.get(f)
                cells.append("missing" if values is None else _fmt(values[k]) if k in values else "-")
            rows.append([_path(f), k] + cells)
    _table(rows)


@metrics_app.command("diff")
@command
def metrics_diff(
    a: Optional[str] = REV_A,
    b: Optional[str] = REV_B,
    show_all: bool = typer.Option(False, "--all", help="Show the metrics that did not change too."),
    as_json: bool = JSON,
):
    """Show the metrics that changed between two git revisions, with the change.

    No revision: HEAD against the workspace; one: it against the workspace;
    two: A against B. The change is new - old where both are numbers. A
    metrics file missing at a side is said so; a malformed one is an error
    naming it (REV:FILE) and its line.

    Example: mlvc metrics diff HEAD~1
    """
    from mlvc import api

    result = api.metrics_diff(a, b, all=show_all)
    if as_json:
        emit_json(_diff_json(result, "metric"))
        return
    _show_diff(result, "metric", with_change=True)
