"""The hidden ``merge-driver`` command git runs for ``mlvc.lock`` and ``mlvc.yaml``
(registered by ``mlvc.scm.merge.install_driver``)."""

from __future__ import annotations

import os
import sys

import typer

from mlvc.cli import app, command


@app.command("merge-driver", hidden=True)
@command
def merge_driver(
    base: str = typer.Argument(..., help="The common ancestor's version (git's %O)."),
    ours: str = typer.Argument(..., help="Our version, where the result is written (git's %A)."),
    theirs: str = typer.Argument(..., help="Their version (git's %B)."),
    path: str = typer.Argument(..., help="The merged file's path in the repository (git's %P)."),
):
    """Three-way merge of mlvc.lock, mlvc.yaml or .gitignore, run by git during a merge.

    Entries changed on one side only are taken; a folder changed on both sides
    is merged file by file when no file changed differently on both; mlvc.yaml
    keeps its comments; mlvc's own .gitignore lines merge as a set. A true
    conflict leaves git-style markers around just the conflicting entries and
    exits 1.

    Example: git config merge.mlvc.driver "mlvc merge-driver %O %A %B %P"
    """
    from mlvc import api

    where = os.path.dirname(os.path.abspath(path))  # git runs the driver at the top of the work tree
    result = api.merge_driver(base, ours, theirs, path, cwd=where)
    for folder in result.merged_folders:
        sys.stderr.write(f"mlvc: {path}: {folder} changed on both branches; merged file by file\n")
    if result.ok:
        return 0
    sys.stderr.write(f"mlvc: CONFLICT in {path}:\n")
    for line in result.conflicts:
        sys.stderr.write(f"  {line}\n")
    then = "" if os.path.basename(path) == ".gitignore" else "then `mlvc checkout` or `mlvc commit`, "
    sys.stderr.write(f"  the conflicting entries are between <<<<<<< and >>>>>>> in {path}; keep one side of each "
                     f"(or `git checkout --ours/--theirs {path}`), {then}and `git add {path}`\n")
    return 1
