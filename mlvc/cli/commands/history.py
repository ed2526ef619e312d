"""Browsing history: ``diff`` and ``log``. Each one: parse options, call one ``mlvc.api``
function, render."""

from __future__ import annotations

from typing import List, Optional

import typer

from mlvc.cli import app, command, render
from mlvc.cli.render import data, emit_json, human_size, out, user_path

JSON = typer.Option(False, "--json", help="Print the result as JSON.")


def _version_json(v) -> dict | None:
    if v is None:
        return None
    d = {"oid": v.oid, "size": v.size}
    if v.nfiles is not None:
        d["nfiles"] = v.nfiles
    else:
        d["executable"] = v.executable
    return d


def _sizes(c) -> str:
    if c.old is not None and c.new is not None:
        return f"{human_size(c.old.size)} -> {human_size(c.new.size)}"
    return human_size((c.new or c.old).size)


def _files(v) -> str:
    return f"{v.nfiles} file{'s' if v.nfiles != 1 else ''}" if v is not None and v.nfiles is not None else ""


def _rows_json(r) -> dict:
    return {"format": r.format, "key": r.key,
            "columns": {"added": [{"name": n, "type": t} for n, t in r.columns_added],
                        "removed": [{"name": n, "type": t} for n, t in r.columns_removed],
                        "retyped": [{"name": n, "old": o, "new": t} for n, o, t in r.columns_retyped]},
            "rows_old": r.rows_old, "rows_new": r.rows_new,
            "added": r.added, "removed": r.removed, "modified": r.modified,
            "examples": [{"change": e.change, "old": e.old, "new": e.new} for e in r.examples]}


def _cell(v) -> str:
    return "" if v is None else str(v)


def _show_rows(result) -> None:
    r = result.rows
    b = result.b if result.b_commit is None else f"{result.b} ({result.b_commit[:12]})"
    out(f"{result.a} ({result.a_commit[:12]}) -> {b}")
    for n, t in r.columns_added:
        data(f"column added    {n} ({t})")
    for n, t in r.columns_removed:
        data(f"column removed  {n} ({t})")
    for n, o, t in r.columns_retyped:
        data(f"column retyped  {n} ({o} -> {t})")
    counts = f"{r.added} added, {r.removed} removed" + (f", {r.modified} modified" if r.key else "")
    joined = f" (key: {', '.join(r.key)})" if r.key else " (whole rows)"
    data(f"rows: {r.rows_old:,} -> {r.rows_new:,}: {counts}{joined}")
    if not r.examples:
        return
    cols = list((r.examples[0].new or r.examples[0].old).keys())
    table = [["change", *cols]]
    for e in r.examples:
        if e.change == "modified":
            cells = [_cell(e.new[c]) if e.old[c] == e.new[c] else f"{_cell(e.old[c])} -> {_cell(e.new[c])}"
                     for c in cols]
        else:
            cells = [_cell((e.new or e.old)[c]) for c in cols]
        table.append([e.change, *cells])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        data("  ".join(f"{c:<{w}}" for c, w in zip(row, widths)).rstrip())


@app.command()
@command
def diff(
    args: Optional[List[str]] = typer.Argument(None, metavar="[A [B]] [PATH...]",
                                               help="Up to two git revisions (default: HEAD against the "
                                               "workspace; one: it against the workspace), then paths: "
                                               "artifacts, folders above them, or a part of a tracked folder. "
                                               "Write ./NAME for a path that is also a revision's name."),
    rows: bool = typer.Option(False, "--rows", help="Compare the rows of one table file (Parquet, Arrow/Feather, "
                              "CSV): schema changes, rows added, removed, modified, and the first changed rows."),
    key: List[str] = typer.Option([], "--key", metavar="COL", help="With --rows: join the rows on this column "
                                  "(repeatable); without, rows are compared whole."),
    limit: int = typer.Option(10, "--limit", min=0, metavar="N", help="With --rows: show the first N changed rows."),
    as_json: bool = JSON,
):
    """Show the artifacts added, deleted and modified between two git revisions.

    For a folder, also the files in it that were added, deleted or modified,
    with sizes. Stage outputs count as artifacts. Trees are compared folder by
    folder: only the folders that differ are read. A tree that is not in the
    cache is an error naming it (exit 3). With --rows, the one PATH is a
    table file, read in batches (never whole), and its rows are compared.

    Example: mlvc diff HEAD~1 HEAD data/images
    Example: mlvc diff v1 v2 data/train.parquet --rows --key id
    """
    from mlvc import api

    bar = render.progress()
    try:
        if key and not rows:
            from mlvc.errors import UsageError

            raise UsageError("--key goes with --rows", "add --rows to compare the rows of a table")
        result = api.diff(list(args or []), progress=bar, rows=rows, key=key, limit=limit)
    finally:
        if hasattr(bar, "stop"):
            bar.stop()
    if as_json:
        emit_json({
            "a": {"rev": result.a, "commit": result.a_commit},
            "b": {"rev": result.b, "commit": result.b_commit},
            "changes": [{"path": c.path, "artifact": c.artifact, "change": c.change, "stage": c.stage,
                         "old": _version_json(c.old), "new": _version_json(c.new),
                         "files": [{"path": f.path, "change": f.change, "old": _version_json(f.old),
                                    "new": _version_json(f.new)} for f in c.files]}
                        for c in result.changes],
            **({"rows": _rows_json(result.rows)} if result.rows is not None else {}),
        })
        return
    if result.rows is not None:
        _show_rows(result)
        return
    root = api.find_root()
    b = result.b if result.b_commit is None else f"{result.b} ({result.b_commit[:12]})"
    if not result.changes:
        out(f"No changes between {result.a} ({result.a_commit[:12]}) and {b}.")
        return
    out(f"{result.a} ({result.a_commit[:12]}) -> {b}")
    width = max(len(user_path(root, c.path)) for c in result.changes)
    for c in result.changes:
        extra = "  ".join(x for x in (_files(c.new or c.old), f"stage {c.stage}" if c.stage else "") if x)
        data(f"{c.change:<9} {user_path(root, c.path):<{width}}  {_sizes(c)}  {extra}".rstrip())
        fw = max((len(user_path(root, f.path)) for f in c.files), default=0)
        for f in c.files:
            data(f"    {f.change:<9} {user_path(root, f.path):<{fw}}  {_sizes(f)}".rstrip())
    counts = {k: sum(c.change == k for c in result.changes) for k in ("added", "deleted", "modified")}
    out(", ".join(f"{n} {k}" for k, n in counts.items()))


@app.command()
@command
def log(
    path: str = typer.Argument(..., metavar="PATH", help="An artifact (a stage out too), or a path inside a "
                               "tracked folder."),
    max_count: Optional[int] = typer.Option(None, "-n", "--max-count", min=1, metavar="N",
                                            help="Show the newest N changes only."),
    as_json: bool = JSON,
):
    """Show the commits in which an artifact's recorded version changed, newest first.

    Each line: commit, author date, author, the change (added, modified,
    deleted, mode), the object id and size recorded then, the stage whose out
    it is, and the commit's subject. Reads mlvc.lock from git (two git
    processes, whatever the length of the history); a path inside a tracked
    folder is followed through the folder's trees in the cache. Renames of
    the artifact's path are not followed.

    Example: mlvc log data/images -n 5
    """
    from mlvc import api

    result = api.log(path, n=max_count)
    if as_json:
        emit_json({"path": result.path, "artifact": result.artifact, "commits": [
            {"commit": e.commit, "date": e.date, "author": e.author, "email": e.email, "message": e.message,
             "change": e.change, "stage": e.stage, **(_version_json(e.version) or {"oid": None, "size": None})}
            for e in result.entries]})
        return
    rows = []
    for e in result.entries:
        v = e.version
        rows.append([e.commit[:12], e.date, e.author, e.change, v.oid[:12] if v else "-",
                     human_size(v.size) if v else "-", _files(v) or ("file" if v else ""),
                     f"stage {e.stage}" if e.stage else "", e.message])
    if not any(r[7] for r in rows):
        for r in rows:
            del r[7]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)] if rows else []
    for r in rows:
        cells = [f"{c:<{w}}" if i not in (5,) else f"{c:>{w}}" for i, (c, w) in enumerate(zip(r, widths))]
        data("  ".join(cells + [r[-1]]))
    if not rows:
        out(f"No recorded version of {user_path(api.find_root(), result.path)} in HEAD's history.")
