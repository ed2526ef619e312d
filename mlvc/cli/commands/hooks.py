"""Living next to git: restore (a recorded version back into the workspace), install (git hooks
or pre-commit's config) and git-hook (what those hooks run; hidden). Parse, call ``mlvc.api``,
render."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from mlvc.cli import app, command, render
from mlvc.cli.exitcodes import ExitStatus
from mlvc.cli.render import emit_json, out, user_path

JSON = typer.Option(False, "--json", help="Print the result as JSON.")


@app.command()
@command
def restore(
    path: str = typer.Argument(..., metavar="PATH", help="An artifact recorded at REV, or a file or folder "
                               "inside a tracked folder."),
    rev: str = typer.Option(..., "--rev", "-s", "--source", metavar="REV", help="The git revision to take it from."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite local changes that are not in the cache."),
    as_json: bool = JSON,
):
    """Put the version of PATH recorded at git revision REV into the workspace.

    Like `git restore --source REV PATH`: mlvc.lock is not changed, so
    `mlvc status` then shows PATH modified and `mlvc commit` records it
    (`mlvc checkout PATH` goes back to what mlvc.lock records). The files
    come from the cache; objects it lacks are fetched from the default
    remote first when one is set. Local changes that are not in the cache
    are refused, and nothing is changed, unless --force.

    Example: mlvc restore data/images --rev v1.0
    """
    from mlvc import api

    r = render.with_progress(api.restore, path, rev, force=force)
    if as_json:
        emit_json({"rev": r.rev, "commit": r.commit, "paths": r.paths, "added": r.added, "modified": r.modified,
                   "deleted": r.deleted, "unchanged": r.unchanged, "fetched": r.fetched, "remote": r.remote})
        return
    root = api.find_root()
    if r.fetched:
        out(f"Fetched {r.fetched} object(s) from {r.remote}.")
    shown = ", ".join(user_path(root, p) for p in r.paths)
    counts = f"{len(r.added)} added, {len(r.modified)} modified, {len(r.deleted)} deleted ({r.unchanged} unchanged)"
    if not (r.added or r.modified or r.deleted):
        out(f"{shown} already matches {r.rev} ({r.commit[:12]}).")
    else:
        out(f"Restored {shown} from {r.rev} ({r.commit[:12]}): {counts}.")
    out("mlvc.lock is unchanged: `mlvc commit` records this version, `mlvc checkout` goes back.")


@app.command()
@command
def install(
    pre_commit_tool: bool = typer.Option(False, "--pre-commit-tool", help="Add the hooks to .pre-commit-config.yaml "
                                         "(the pre-commit framework) instead of writing git hooks."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace git hooks that mlvc did not write."),
):
    """Install git hooks that keep data and code in step.

    pre-commit: refuses a commit when tracked data changed but mlvc.lock was
    not updated (or mlvc.lock changed but is not staged, or what it records
    is not in the workspace or the cache), naming the command that fixes it.
    post-checkout: `mlvc checkout` after a branch checkout that changes
    mlvc.lock (not after a checkout of files, nor during a rebase). pre-push: `mlvc push` of the
    pushed commits' data to the default remote (without one: a warning, and
    the push goes on). A hook mlvc did not write is not replaced without
    --force. Also registers the mlvc.lock merge driver where it exists.

    Example: mlvc install
    Example: mlvc install --pre-commit-tool && pre-commit install --hook-type pre-commit --hook-type pre-push --hook-type post-checkout
    """
    from mlvc import api

    r = api.install(pre_commit_tool=pre_commit_tool, force=force)
    for path, state in r.hooks:
        out(f"{state:<9} {path}")
    if r.config:
        out(f"{'updated' if r.config_changed else 'unchanged'} {r.config} (ids mlvc-status, mlvc-push, mlvc-checkout)")
    if r.merge_driver:
        out("Registered the merge driver for mlvc.lock, mlvc.yaml and .gitignore (.gitattributes and git config).")
    if r.next_step:
        out(f"To let pre-commit run them, run: {r.next_step}")


@app.command("git-hook", hidden=True)
@command
def git_hook(
    name: str = typer.Argument(..., help="pre-commit, post-checkout or pre-push."),
    args: Optional[List[str]] = typer.Argument(None, help="What git passes to the hook."),
):
    """Run one of the git hooks that `mlvc install` writes (git, or pre-commit, runs this).

    pre-commit: exit 1 when tracked data and mlvc.lock are not in step.
    post-checkout PREV NEW FLAG: `mlvc checkout` when FLAG is 1, no rebase
    runs and mlvc.lock or mlvc.yaml differ between PREV and NEW. pre-push: `mlvc push --rev SHA` of the commits git sends (read
    from stdin) to the default remote.

    Example: mlvc git-hook pre-commit
    """
    from mlvc import api
    from mlvc.errors import NotARepoError

    import os

    args = list(args or [])
    shas: list[str] | None = None  # None: not known (run by hand), push what mlvc.lock records
    env = os.environ
    if name == "post-checkout" and not args and "PRE_COMMIT_CHECKOUT_TYPE" in env:  # run by pre-commit
        args = [env.get("PRE_COMMIT_FROM_REF", ""), env.get("PRE_COMMIT_TO_REF", ""), env["PRE_COMMIT_CHECKOUT_TYPE"]]
    if name == "pre-push":
        if env.get("PRE_COMMIT_TO_REF"):  # run by pre-commit, which read git's lines itself
            shas = [env["PRE_COMMIT_TO_REF"]]
        elif env.get("PRE_COMMIT_LOCAL_BRANCH"):  # pre-commit, pushing a branch with its root commit
            shas = [env["PRE_COMMIT_LOCAL_BRANCH"]]
        elif env.get("PRE_COMMIT") == "1":
            shas = None  # pre-commit gave no ref: what the workspace's mlvc.lock records
        elif not sys.stdin.isatty():
            shas = []
            for line in sys.stdin.read().splitlines():  # <local ref> <local sha> <remote ref> <remote sha>
                parts = line.split()
                if len(parts) == 4:
                    shas.append(parts[1])
    try:
        r = render.with_progress(api.git_hook, name, args, shas=shas)
    except NotARepoError:
        return None  # a commit without mlvc (an old branch, say): nothing to keep in step
    if r.ok:
        c = r.checked_out
        if c is not None and c.changed:
            out(f"mlvc: checked out {len(c.added)} added, {len(c.modified)} modified, {len(c.deleted)} deleted.")
        if r.pushed is not None:
            out(f"mlvc: pushed {r.pushed.transferred} object(s) to {r.pushed.remote} "
                f"({r.pushed.already} there already).")
        return None
    sys.stderr.write("mlvc: the commit was refused: tracked data and mlvc.lock are not in step:\n")
    for p in r.problems:
        sys.stderr.write(f"    {p}\n")
    sys.stderr.write("fix: " + "; ".join(r.fixes) + " (or commit with --no-verify to skip this check).\n")
    return ExitStatus.CHECK_FAILED
