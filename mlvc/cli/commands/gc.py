"""gc: remove cache objects that no chosen revision references (asks first, unless -f)."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from mlvc.cli import app, command
from mlvc.cli.commands.data import JSON
from mlvc.cli.render import with_progress
from mlvc.cli.render import data, emit_json, human_size, out
from mlvc.errors import UsageError


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _summary(result) -> str:
    verb = "Removed" if result.removed else "Would remove"
    text = f"{verb} {_plural(len(result.objects), 'object')} ({human_size(result.size)})"
    if result.remote:
        text += f" from remote {result.remote}"
    if result.runs:
        text += f" and {_plural(len(result.runs), 'run-cache record')}"
    n = len(result.revisions)
    text += f"; kept {_plural(result.kept, 'object')}, referenced by {_plural(n, 'revision')}"
    if result.remote and result.young:
        text += (f"; {result.young} of them only because they were pushed within the grace period "
                 f"({_duration(result.grace)})")
    return text + "."


def _duration(seconds: float) -> str:
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= n and seconds % n == 0:
            return f"{int(seconds // n)}{unit}"
    return f"{int(seconds)}s"


def _json(result) -> dict:
    return {"removed": result.removed, "objects": result.objects, "bytes": result.size, "runs": result.runs,
            "kept": result.kept, "missing": result.missing, "revisions": result.revisions,
            "cache": result.cache, "shared_cache": result.shared,
            **({"remote": result.remote, "url": result.cache, "young": result.young, "grace_seconds": result.grace}
               if result.remote else {})}


def _render(result, as_json: bool, listing: bool) -> None:
    if as_json:
        emit_json(_json(result))
        return
    if listing:
        for oid in result.objects:
            data(oid)
        for key in result.runs:
            data(f"runs/{key[:2]}/{key[2:]}")
    for oid in result.missing:
        where = "in neither the cache nor the remote" if result.remote else "not in the cache"
        out(f"{where}: tree {oid} (what is below it cannot be told)")
    out(_summary(result))


@app.command()
@command
def gc(
    workspace: bool = typer.Option(False, "--workspace", "-w",
                                   help="Keep what the workspace's mlvc.lock references (the default; always kept)."),
    all_branches: bool = typer.Option(False, "--all-branches", "-a",
                                      help="Also keep what mlvc.lock references at the tip of every local git branch."),
    all_tags: bool = typer.Option(False, "--all-tags", "-T", help="Also keep what mlvc.lock references at every git tag."),
    all_commits: bool = typer.Option(False, "--all-commits", "-A",
                                     help="Also keep what mlvc.lock references in every commit of the git history."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed and how many bytes; remove nothing."),
    force: bool = typer.Option(False, "--force", "-f", help="Remove without asking."),
    remote: Optional[str] = typer.Option(None, "--remote", "-r", metavar="NAME",
                                         help="Collect the objects of this remote instead of the cache."),
    grace: Optional[str] = typer.Option(None, "--grace", metavar="DURATION",
                                        help="With --remote: keep what was written there, or pushed, within this "
                                             "(30m, 12h, 14d; 0 for nothing; default: gc.grace, 14d)."),
    as_json: bool = JSON,
):
    """Remove cache objects that the chosen revisions' mlvc.lock files do not reference.

    Kept: what the workspace's mlvc.lock references (artifacts, and the deps
    of its stage records), and with --all-branches, --all-tags or
    --all-commits also what mlvc.lock references at those git revisions;
    below a folder, all its files. Run-cache records whose outs are removed
    go too. Asks before removing; without a terminal it needs -f. A cache.dir
    outside the repository may hold other clones' objects: they are removed
    unless referenced here, so gc needs -f there.

    With --remote NAME the same is done on that remote: its objects and
    run-cache records that the chosen revisions do not reference are
    removed (trees first, so a tree that stays keeps every child). Every
    clone shares a remote: keep the most with --all-commits. Other clones
    push meanwhile, so objects written to the remote within the grace period
    (--grace, config gc.grace, 14d by default) stay, and so does what a push
    named within it; while another clone's push runs, gc removes nothing.

    Example: mlvc gc --all-commits --dry-run
    """
    from mlvc import api

    del workspace  # the workspace is always kept
    revs = {"all_branches": all_branches, "all_tags": all_tags, "all_commits": all_commits, "remote": remote}
    if grace is not None:
        if remote is None:
            raise UsageError("--grace applies to a remote", "add --remote NAME (the cache has a lock instead)")
        revs["grace"] = grace
    if dry_run:
        _render(with_progress(api.gc, **revs), as_json, listing=True)
        return
    if force:
        _render(with_progress(api.gc, remove=True, **revs), as_json, listing=False)
        return
    plan = with_progress(api.gc, **revs)
    if not plan.objects and not plan.runs:
        _render(plan, as_json, listing=False)
        return
    what = f"{_plural(len(plan.objects), 'object')} ({human_size(plan.size)})"
    if plan.shared:
        raise UsageError(f"the cache {plan.cache} is outside this repository, and other repositories sharing it "
                         f"may use the {what} gc would remove",
                         "check with `mlvc gc --dry-run`, then run `mlvc gc -f` to remove them anyway")
    if as_json or not sys.stdin.isatty():
        cmd = f"mlvc gc --remote {remote}" if remote else "mlvc gc"
        where = f" from remote {remote}" if remote else ""
        raise UsageError(f"mlvc gc would remove {what}{where} and asks first, but there is no terminal to ask on",
                         f"see what would go with `{cmd} --dry-run`, then run `{cmd} -f`")
    out(_summary(plan))
    if not typer.confirm("Remove them?", default=False):
        out("Nothing removed.")
        return
    _render(with_progress(api.gc, remove=True, only=plan, **revs), as_json, listing=False)
