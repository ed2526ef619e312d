"""Data commands: init, add, commit, status, checkout, remove, unprotect, ls, fsck.

Each one: parse options, call one ``mlvc.api`` function, render."""

from __future__ import annotations

from typing import List, Optional

import typer

from mlvc.cli import app, command, render
from mlvc.cli.exitcodes import ExitStatus
from mlvc.cli.render import data, emit_json, human_size, out, user_path

JSON = typer.Option(False, "--json", help="Print the result as JSON.")


def _paths(paths):
    """Repo-relative paths (what the core returns) as the user sees them: relative to here."""
    from mlvc import api

    root = api.find_root()
    return [user_path(root, p) for p in paths]


def _git_add(files, intro: str = "To record this with git, run:") -> None:
    out(f"\n{intro}\n\n    git add " + " ".join(_paths(files)))


@app.command()
@command
def init(force: bool = typer.Option(False, "--force", "-f", help="Re-create .mlvc files in an existing repo."),
         as_json: bool = JSON):
    """Make this git repository an mlvc repository.

    Creates .mlvc/ (config, cache, and a .gitignore for the cache and
    temporary files). Run it at the top of a git work tree.

    Example: git init && mlvc init && git add .mlvc && git commit -m "mlvc init"
    """
    from mlvc import api

    result = api.init(force=force)
    if as_json:
        emit_json({"root": result.root})
        return
    out(f"Initialised an mlvc repository in {result.root}/.mlvc")
    out("Next: git add .mlvc && git commit -m 'mlvc init'")


def _entry_json(e) -> dict:
    d = {"path": e.path, "oid": e.oid, "size": e.size, "type": "dir" if e.is_dir else "file"}
    if e.nfiles is not None:
        d["nfiles"] = e.nfiles
    else:
        d["executable"] = e.executable
    return d


def _describe(e, shown: str | None = None) -> str:
    what = f"{e.nfiles} file{'s' if e.nfiles != 1 else ''}, " if e.nfiles is not None else ""
    return f"{shown or e.path} ({what}{human_size(e.size)})"


@app.command()
@command
def add(
    paths: List[str] = typer.Argument(..., metavar="PATH...", help="Files or folders to track."),
    as_json: bool = JSON,
):
    """Track files or folders: store their content in the cache and record it in mlvc.lock.

    The path is added to mlvc.yaml and to a .gitignore beside it, so git
    ignores the data and tracks mlvc.yaml, mlvc.lock and .gitignore instead.
    Adding a path again after a change records the new version.

    Example: mlvc add data/images model.pkl
    """
    from mlvc import api

    result = render.with_progress(api.add, paths)
    if as_json:
        emit_json({"artifacts": [_entry_json(e) for e in result.entries], "git_add": result.git_files})
        return
    for e, shown in zip(result.entries, _paths(e.path for e in result.entries)):
        out(("Unchanged " if e.path in result.unchanged else "Added ") + _describe(e, shown))
    _git_add(result.git_files, "To track the changes with git, run:")


@app.command()
@command
def commit(
    paths: Optional[List[str]] = typer.Argument(None, metavar="[PATH]...", help="Artifacts to record (default: all)."),
    as_json: bool = JSON,
):
    """Record the workspace state of tracked artifacts in mlvc.lock.

    Rehashes the named artifacts (default: every artifact in mlvc.yaml, or
    in mlvc.lock when there is no mlvc.yaml), stores new content in the
    cache, and rewrites mlvc.lock only if something changed. A folder names
    every artifact below it; a path inside a folder artifact records only
    that part of it (other changes in the folder stay unrecorded). Objects
    missing from the cache are stored again from the workspace. Entries of
    mlvc.lock that mlvc.yaml no longer lists are dropped, with their
    .gitignore line.

    Example: mlvc commit data/train.csv && git commit -am "new training data"
    """
    from mlvc import api

    result = render.with_progress(api.commit, paths or [])
    if as_json:
        emit_json({"artifacts": [_entry_json(e) for e in result.entries], "unchanged": result.unchanged,
                   "dropped": result.dropped, "parts": result.parts, "git_add": result.git_files})
        return
    parts: dict[str, list[str]] = {}
    for part, shown in zip(result.parts, _paths(result.parts)):
        parts.setdefault(next(e.path for e in result.entries if part.startswith(e.path + "/")), []).append(shown)
    for e, shown in zip(result.entries, _paths(e.path for e in result.entries)):
        verb = "Unchanged " if e.path in result.unchanged else "Recorded "
        inside = ", ".join(parts[e.path]) + " in " if e.path in parts else ""  # only these parts recorded
        out(verb + inside + _describe(e, shown))
    for shown in _paths(result.dropped):
        out(f"Dropped {shown} from mlvc.lock: mlvc.yaml no longer lists it, so it is not tracked")
    if result.git_files:
        _git_add(result.git_files)


_MAX_CHANGES = 20


def _json_value(value):
    """A param's value (or a cmd) as JSON holds it: a YAML date or time as its ISO text,
    mapping keys as strings (YAML allows ``1:`` or ``true:``)."""
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _reason_json(r) -> dict:
    d = {"kind": r.what, "change": r.change}
    if r.key:
        d["path"], d["key"] = r.name[:-len(r.key) - 1], r.key
    elif r.name:
        d["path"] = r.name
    if r.what != "stage":
        d["old"], d["new"] = _json_value(r.old), _json_value(r.new)
    return d


def _remote_status(report, as_json: bool, check: bool, full: bool = False):
    rows = report.artifacts
    failed = check and not report.clean
    if as_json:
        emit_json({"remote": report.remote, "clean": report.clean,
                   "artifacts": [{"path": a.path, "status": a.status, "pushed": a.pushed, "not_pushed": a.not_pushed,
                                  "not_fetched": a.not_fetched, "missing": a.missing} for a in rows]})
        return ExitStatus.CHECK_FAILED if failed else None
    if not rows:
        out("Nothing is recorded in mlvc.lock yet.")
        return None
    shown_paths = _paths(a.path for a in rows)
    width = max(len(p) for p in shown_paths)
    for a, shown in zip(rows, shown_paths):
        counts = [f"{n} {what}" for n, what in ((a.pushed, "pushed"), (a.not_pushed, "not pushed"),
                                               (a.not_fetched, "not fetched"), (a.missing, "missing")) if n]
        out(f"{shown:<{width}}  {a.status:<11}  {', '.join(counts) or 'no objects'}")
    total = {k: sum(getattr(a, k) for a in rows) for k in ("pushed", "not_pushed", "not_fetched", "missing")}
    out(f"\nRemote {report.remote}: {total['pushed']} object(s) pushed, {total['not_pushed']} not pushed, "
        f"{total['not_fetched']} not fetched" + (f", {total['missing']} missing" if total["missing"] else "") + ".")
    if total["not_pushed"]:
        out(f"`mlvc push{' --full' if full else ''}` sends what is not pushed.")
    if total["not_fetched"]:
        out("`mlvc fetch` (or `mlvc pull`) brings what is not fetched.")
    return ExitStatus.CHECK_FAILED if failed else None


@app.command()
@command
def status(
    paths: Optional[List[str]] = typer.Argument(None, metavar="[PATH]...", help="Artifacts to check (default: all)."),
    as_json: bool = JSON,
    check: bool = typer.Option(False, "--check", help="Exit 1 when anything is out of date, 0 when clean."),
    show_all: bool = typer.Option(False, "--all", "-a", help=f"List every changed file (default: the first {_MAX_CHANGES})."),
    cloud: bool = typer.Option(False, "--cloud", "-c", help="Compare the cache with the default remote instead."),
    remote: Optional[str] = typer.Option(None, "--remote", "-r", metavar="NAME",
                                         help="Compare the cache with this remote instead (implies -c)."),
    full: bool = typer.Option(False, "--full", help="With -c or --remote: ask about every object, also below "
                              "folders the remote holds (one bulk listing), and compare sizes."),
):
    """Show how the workspace differs from mlvc.lock.

    For each artifact: ok, modified, missing (not in the workspace), not in
    cache (recorded objects absent from the cache), not recorded (listed in
    mlvc.yaml but never committed) or not in mlvc.yaml (an entry of
    mlvc.lock that mlvc.yaml no longer lists: not tracked); for folders,
    which files were added, modified or deleted, and "(mode changed)" where
    the executable bit differs. A path inside a folder artifact reports
    that part of it. Then each stale stage of mlvc.yaml (a changed dep,
    param or cmd, a missing or modified out, not run yet, always_changed;
    a frozen stage never is) with its reasons; with PATHs, the stages that
    make them. --check exits 1 when anything is out of date (for pre-commit
    hooks and CI). Status compares hashes and executable bits; `mlvc fsck`
    checks that cached objects are intact.

    With -c (the default remote) or --remote NAME: for each artifact, how
    many of its objects (files and trees) are pushed (on the remote), not
    pushed (in the cache only) or not fetched (on the remote only), and
    missing where neither has one; --check then exits 1 when the remote
    lacks anything mlvc.lock needs. Existence is asked in bulk, and nothing
    is asked below a folder the remote holds whole; --full asks about every
    object (one bulk listing) and finds one that went missing (or arrived
    short) below such a folder, which `mlvc push --full` sends again.

    Example: mlvc status --check || echo "data changed: run mlvc commit or mlvc repro"
    """
    from mlvc import api

    if full and not (cloud or remote):
        from mlvc.errors import UsageError

        raise UsageError("--full compares with a remote", "add -c (the default remote) or --remote NAME")
    if cloud or remote:
        report = render.with_progress(api.status, paths or [], remote=remote, cloud=True, **({"full": True} if full else {}))
        return _remote_status(report, as_json, check, full)

    report = render.with_progress(api.status, paths or [])
    result, stages = report.artifacts, report.stages
    dirty = any(not s.clean for s in result)
    stale = [s for s in stages if s.stale]
    if as_json:
        emit_json({
            "clean": report.clean,
            "artifacts": [
                {"path": s.path, "status": s.status, "type": s.kind,
                 "changes": [{"path": c.path, "change": c.kind, "old_oid": c.old_oid, "new_oid": c.new_oid,
                              "mode_changed": c.mode_changed} for c in s.changes],
                 **({"missing_objects": s.missing_objects} if s.missing_objects else {})}
                for s in result
            ],
            **({"stages": [{"name": s.name, "status": s.status, "reasons": [_reason_json(r) for r in s.reasons]}
                           for s in stages]} if stages else {}),
        })
        return ExitStatus.CHECK_FAILED if check and not report.clean else None
    hints = []
    if not result:
        if not stages:
            out("Nothing is tracked yet; track data with `mlvc add PATH`.")
    elif not dirty:
        n = len(result)
        out(f"Up to date: {n} artifact{'s match' if n != 1 else ' matches'} mlvc.lock.")
    else:
        shown_paths = _paths(s.path for s in result)
        width = max(len(p) for p in shown_paths)
        for s, shown in zip(result, shown_paths):
            out(f"{shown:<{width}}  {s.status}")
            listed = s.changes if s.kind == "dir" else [c for c in s.changes if c.mode_changed]
            some = listed if show_all else listed[:_MAX_CHANGES]
            for c, cpath in zip(some, _paths(c.path for c in some)):
                label = "modified" if c.kind == "mode" else c.kind
                note = "" if not c.mode_changed else " (mode changed)" if c.kind == "mode" else \
                    " (content and mode changed)"
                out(f"    {label:<9} {cpath}{note}")
            if len(some) < len(listed):
                out(f"    ... and {len(listed) - len(some)} more (--all lists them)")
            if s.missing_objects:
                out(f"    {s.missing_objects} object(s) missing from the cache")
        if any(s.status in ("modified", "not recorded") for s in result):
            hints.append("`mlvc commit` records the workspace")
        if any(s.status in ("modified", "missing") for s in result):
            hints.append("`mlvc checkout` restores the recorded version")
        if any(s.status == "not in mlvc.yaml" for s in result):
            hints.append("not in mlvc.yaml: `mlvc commit` drops it from mlvc.lock, or add it back to mlvc.yaml")
    if stages and not stale:
        n = len(stages)
        if dirty:
            out("")
        out(f"Pipeline up to date: {n} stage{'s' if n != 1 else ''} match{'' if n != 1 else 'es'} mlvc.lock.")
    elif stale:
        if result:
            out("")
        width = max(len(s.name) for s in stale)
        for s in stale:
            out(f"stage {s.name:<{width}}  {s.status}")
            for r in s.reasons:
                if not (r.what == "stage" and r.change == s.status):  # "not run yet" says it all
                    out(f"    {r}")
        hints.append("`mlvc repro` runs the stale stages")
    if hints:
        out("\n" + "; ".join(hints) + ".")
    if check and not report.clean:
        return ExitStatus.CHECK_FAILED


@app.command()
@command
def checkout(
    paths: Optional[List[str]] = typer.Argument(None, metavar="[PATH]...", help="Artifacts to check out (default: all)."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite or delete local changes that are not in the cache."),
    relink: bool = typer.Option(False, "--relink", help="Put every file in again with the current cache.type "
                                "(after switching link types)."),
    as_json: bool = JSON,
):
    """Make the workspace match mlvc.lock.

    Writes recorded files that are missing or different, restores recorded
    executable bits, and deletes files that the recorded folder does not
    have. A path inside a folder artifact checks out that part of it.
    Refuses (and changes nothing) when that would lose data that is not in
    the cache, unless --force, or when a needed object is missing from the
    cache. Entries of mlvc.lock that mlvc.yaml does not list are not
    tracked and never touched. Run it after every git checkout, pull or
    merge that changes mlvc.lock.

    Example: git checkout v1.0 && mlvc checkout
    """
    from mlvc import api

    from mlvc.errors import CheckoutConflictError

    try:
        result = render.with_progress(api.checkout, paths or [], force=force, relink=relink)
    except CheckoutConflictError as exc:
        if exc.message != api.conflict_message(exc.paths):
            raise
        # the paths as the user sees them (relative to here)
        raise CheckoutConflictError(api.conflict_message(_paths(exc.paths)), exc.paths, exc.hint) from None
    if as_json:
        emit_json({"added": result.added, "modified": result.modified, "deleted": result.deleted,
                   "unchanged": result.unchanged})
        return
    if not result.changed:
        out("Workspace already matches mlvc.lock.")
        return
    parts = [f"{len(result.added)} added", f"{len(result.modified)} modified", f"{len(result.deleted)} deleted"]
    out("Checked out: " + ", ".join(parts) + f" ({result.unchanged} unchanged).")


@app.command()
@command
def remove(paths: List[str] = typer.Argument(..., metavar="PATH...", help="Tracked paths to stop tracking."),
           as_json: bool = JSON):
    """Stop tracking paths. The files stay in the workspace (as writable copies).

    Removes them from mlvc.yaml, mlvc.lock and .gitignore. The cached
    objects stay in the cache.

    Example: mlvc remove data/old.csv && git add data/.gitignore mlvc.yaml mlvc.lock
    """
    from mlvc import api

    result = render.with_progress(api.remove, paths)
    if as_json:
        emit_json({"removed": result.removed, "git_add": result.git_files})
        return
    for p in _paths(result.removed):
        out(f"Stopped tracking {p}")
    _git_add(result.git_files)


@app.command()
@command
def unprotect(paths: List[str] = typer.Argument(..., metavar="PATH...", help="Tracked files or folders to make writable."),
              as_json: bool = JSON):
    """Turn read-only links into the cache (hardlink or symlink mode) into private writable copies.

    Use it before editing a tracked file in place; `mlvc commit` records the edit.

    Example: mlvc unprotect data/labels.csv && echo "x,1" >> data/labels.csv && mlvc commit data
    """
    from mlvc import api

    done = render.with_progress(api.unprotect, paths)
    if as_json:
        emit_json({"unprotected": done})
        return
    out(f"Unprotected {len(done)} file{'s' if len(done) != 1 else ''}.")


@app.command("ls")
@command
def ls_(
    rev: Optional[str] = typer.Option(None, "--rev", "-r", metavar="REV",
                                      help="A git revision (default: the workspace's mlvc.lock)."),
    as_json: bool = JSON,
):
    """List the artifacts recorded in mlvc.lock at a git revision, with sizes.

    Reads mlvc.lock from git; the workspace and the cache are not touched.
    Columns: path, size, file count (folders) or "file", and the first 12
    characters of the object id.

    Example: mlvc ls --rev HEAD~3
    """
    from mlvc import api

    result = api.ls(rev)
    if as_json:
        emit_json({"rev": result.rev, "artifacts": [_entry_json(e) for e in result.entries]})
        return
    if not result.entries:
        out("No artifacts recorded" + (f" at {rev}." if rev else "."))
        return
    width = max(len(e.path) for e in result.entries)
    for e in result.entries:
        files = f"{e.nfiles} file{'s' if e.nfiles != 1 else ''}" if e.nfiles is not None else "file"
        data(f"{e.path:<{width}}  {human_size(e.size):>10}  {files:>12}  {e.oid[:12]}")


@app.command()
@command
def fsck(
    as_json: bool = JSON,
    repair: bool = typer.Option(False, "--repair", help="Delete corrupted objects, so that `mlvc commit` or "
                                "`mlvc add` can store good copies again (their content is wrong: nothing is lost)."),
):
    """Rehash every object in the cache; report corrupted ones, and missing ones mlvc.lock needs.

    Exits 1 when anything is wrong.

    Example: mlvc fsck || echo "cache damaged"
    """
    from mlvc import api

    result = render.with_progress(api.fsck, repair=repair)
    if as_json:
        emit_json({"checked": result.checked, "corrupted": result.corrupted, "missing": result.missing,
                   "removed": result.removed, "stale_temp_files": result.stale_temp, "ok": result.ok})
    else:
        for oid in result.corrupted:
            out(f"corrupted  {oid}")
        for oid in result.missing:
            out(f"missing    {oid}")
        n = result.checked
        out(f"Checked {n} object{'s' if n != 1 else ''}: {len(result.corrupted)} corrupted, "
            f"{len(result.missing)} missing.")
        if result.removed:
            out(f"Removed {len(result.removed)} corrupted object(s); run `mlvc commit` where the data is good.")
        if result.stale_temp:
            out(f"{result.stale_temp} temp file(s) left in the cache by a killed run"
                + (": removed." if repair else "; `mlvc fsck --repair` removes them."))
    if not result.ok:
        return ExitStatus.CHECK_FAILED
