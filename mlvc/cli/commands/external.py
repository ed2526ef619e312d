"""Data from other repositories: get, import, update. Parse options, call ``mlvc.api``, render."""

from __future__ import annotations

from typing import List, Optional

import typer

from mlvc.cli import app, command, render
from mlvc.cli.render import emit_json, human_size, out, user_path

JSON = typer.Option(False, "--json", help="Print the result as JSON.")
REV = typer.Option(None, "--rev", metavar="REV", help="A branch, tag or commit of the source repository (default: its default branch).")
REMOTE = typer.Option(None, "--remote", "-r", metavar="NAME", help="Read from this remote of the source repository "
                      "(default: its default remote).")
JOBS = typer.Option(None, "--jobs", "-j", min=1, metavar="JOBS", help="Parallel downloads (default 16).")


def _short(commit: str) -> str:
    return commit[:12]


def _what(e) -> str:
    files = f"{e.nfiles} file{'s' if e.nfiles != 1 else ''}, " if e.nfiles is not None else ""
    return f"{files}{human_size(e.size)}"


def _source_json(got) -> dict:
    return {"repo": got.repo, "path": got.path, "rev": got.rev, "commit": got.commit, "remote": got.remote}


def _entry_json(e) -> dict:
    d = {"oid": e.oid, "size": e.size, "type": "dir" if e.is_dir else "file"}
    if e.nfiles is not None:
        d["nfiles"] = e.nfiles
    else:
        d["executable"] = e.executable
    return d


@app.command()
@command
def get(
    url: str = typer.Argument(..., metavar="REPO_URL", help="The git repository: a URL or a local path."),
    path: str = typer.Argument(..., metavar="PATH", help="An artifact recorded there, or a file or folder inside a tracked folder."),
    rev: Optional[str] = REV,
    output: Optional[str] = typer.Option(None, "--out", "-o", metavar="OUT", help="Where to write it "
                                         "(default: its name, in the current folder)."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace OUT if it exists."),
    remote: Optional[str] = REMOTE,
    jobs: Optional[int] = JOBS,
    as_json: bool = JSON,
):
    """Download data recorded in another git repository, from that repository's remote.

    Reads the repository's mlvc.lock at REV (no data of it is cloned) and
    downloads PATH from its default remote into OUT, as plain files. Nothing
    is tracked; inside an mlvc repository the objects also go into its cache.
    Works outside any repository too.

    Example: mlvc get https://github.com/org/registry datasets/raw --rev v1.2 -o raw
    """
    from mlvc import api

    result = render.with_progress(api.get, url, path, rev=rev, out=output, force=force, remote=remote, jobs=jobs)
    got = result.source
    if as_json:
        emit_json({"source": _source_json(got), "out": result.out, **_entry_json(got.entry),
                   "fetched": got.fetched, "bytes": got.nbytes})
        return
    out(f"Downloaded {got.path} ({_what(got.entry)}) from {got.repo} at {got.rev or 'HEAD'} "
        f"({_short(got.commit)}) into {result.out}")


@app.command("import")
@command
def import_(
    url: str = typer.Argument(..., metavar="REPO_URL", help="The git repository: a URL or a local path."),
    path: str = typer.Argument(..., metavar="PATH", help="An artifact recorded there, or a file or folder inside a tracked folder."),
    rev: Optional[str] = REV,
    output: Optional[str] = typer.Option(None, "--out", "-o", metavar="OUT", help="Where to put it in this "
                                         "repository (default: its name, in the current folder)."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace OUT if it exists or is tracked."),
    remote: Optional[str] = REMOTE,
    jobs: Optional[int] = JOBS,
    as_json: bool = JSON,
):
    """Download data recorded in another git repository and track it here, with its source.

    As `mlvc get`, then OUT is tracked like an added artifact (mlvc.yaml,
    mlvc.lock, .gitignore), and mlvc.lock records where it came from: the
    repository, the path, the revision as asked and the commit it was.
    `mlvc update OUT` moves it to a newer revision; `mlvc push` sends its
    data to this repository's remote, so a clone's `mlvc pull` needs no
    access to the source.

    Example: mlvc import ../registry datasets/raw --rev v1.2 -o data/raw
    """
    from mlvc import api

    result = render.with_progress(api.import_, url, path, rev=rev, out=output, force=force, remote=remote,
                                  jobs=jobs)
    got = result.source
    root = api.find_root()
    if as_json:
        emit_json({"source": _source_json(got), "path": result.entry.path, **_entry_json(result.entry),
                   "fetched": got.fetched, "bytes": got.nbytes, "git_add": result.git_files})
        return
    out(f"Imported {got.path} from {got.repo} at {got.rev or 'HEAD'} ({_short(got.commit)}) as "
        f"{user_path(root, result.entry.path)} ({_what(result.entry)})")
    out("\nTo track the changes with git, run:\n\n    git add " + " ".join(user_path(root, f) for f in result.git_files))


@app.command()
@command
def update(
    paths: List[str] = typer.Argument(..., metavar="PATH...", help="Imported artifacts."),
    rev: Optional[str] = typer.Option(None, "--rev", metavar="REV", help="Move to this branch, tag or commit of the source "
                                      "(default: the revision it was imported at, as it is now)."),
    remote: Optional[str] = REMOTE,
    jobs: Optional[int] = JOBS,
    as_json: bool = JSON,
):
    """Move imported artifacts to the newest commit of their source's revision (or to --rev).

    Downloads what changed, checks it out and records the new commit in
    mlvc.lock; an artifact whose data is unchanged is left as it is (no
    write). Local changes not in the cache are refused, as by checkout.

    Example: mlvc update data/raw --rev v1.3
    """
    from mlvc import api

    results = render.with_progress(api.update, paths, rev=rev, remote=remote, jobs=jobs)
    if as_json:
        emit_json([{"path": r.path, "changed": r.changed, "written": r.written, "commit": r.commit,
                    "old": {"rev": r.old.rev, "commit": r.old.commit, "oid": r.old_oid},
                    "new": {"rev": r.new.rev, "commit": r.new.commit, "oid": r.new_oid},
                    "added": r.added, "modified": r.modified, "deleted": r.deleted, "fetched": r.fetched}
                   for r in results])
        return
    root = api.find_root()
    for r in results:
        shown = user_path(root, r.path)
        at = f"{r.new.rev or 'HEAD'} ({_short(r.commit)})"
        if not r.written:
            out(f"{shown} is up to date with {r.old.repo} at {at}")
            continue
        counts = f"{len(r.added)} added, {len(r.modified)} modified, {len(r.deleted)} deleted"
        what = f"data changed: {counts}" if r.changed else "data unchanged"
        out(f"Updated {shown}: {r.old.rev or 'HEAD'} ({_short(r.old.commit)}) -> {at}, {what}")
    if any(r.written for r in results):
        out(f"\nTo track the changes with git, run:\n\n    git add {user_path(root, 'mlvc.lock')}")
