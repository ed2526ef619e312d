"""Registering mlvc's merge driver for ``mlvc.lock``, ``mlvc.yaml`` and the ``.gitignore`` files
of an mlvc repository with git: the ``.gitattributes`` lines and the ``merge.mlvc`` config. The
merge itself is in ``mlvc.ops.merge`` (git runs ``mlvc merge-driver %O %A %B %P``)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

from mlvc.errors import ScmError

ATTRIBUTES = ("mlvc.lock merge=mlvc", "mlvc.yaml merge=mlvc")
DRIVER_NAME = "mlvc: three-way merge of mlvc.lock, mlvc.yaml and .gitignore"
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=,@~")


def driver_command(mlvc: str | None = None) -> str:
    """What git runs: ``mlvc`` (default: this Python running mlvc, so a venv need not be on PATH)."""
    mlvc = mlvc or f"{shlex.quote(sys.executable)} -m mlvc"
    return f"{mlvc} merge-driver %O %A %B %P"


def gitignore_attribute(git_root: str, mlvc_root: str | None = None) -> str | None:
    """The line that gives the ``.gitignore`` files at and below ``mlvc_root`` (default: the
    git root) to the driver; None when that folder's path cannot be written as a pattern. Only
    there: the driver opens the mlvc repository that holds the file it merges."""
    rel = os.path.relpath(os.path.realpath(mlvc_root), os.path.realpath(git_root)).replace(os.sep, "/") \
        if mlvc_root else "."
    if rel == ".":
        return ".gitignore merge=mlvc"
    if rel.startswith("..") or not set(rel) <= _PLAIN:
        return None
    return f"/{rel}/**/.gitignore merge=mlvc"


def install_driver(git_root: str, mlvc: str | None = None, mlvc_root: str | None = None) -> list[str]:
    """Add the ``merge=mlvc`` lines to ``<git_root>/.gitattributes`` (its other lines kept) and set
    ``merge.mlvc.driver`` and ``merge.mlvc.name`` in the repository's git config. Running it
    again changes nothing. Returns the lines added to .gitattributes. ``mlvc_root``: the mlvc
    repository's folder, when it is below the git root."""
    path = os.path.join(git_root, ".gitattributes")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        text = ""
    present = {" ".join(line.split()) for line in text.splitlines()}
    ignore_line = gitignore_attribute(git_root, mlvc_root)
    added = [line for line in (*ATTRIBUTES, *([ignore_line] if ignore_line else [])) if line not in present]
    if added:
        if text and not text.endswith("\n"):
            text += "\n"
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text + "".join(line + "\n" for line in added))
    for key, value in (("merge.mlvc.name", DRIVER_NAME), ("merge.mlvc.driver", driver_command(mlvc))):
        try:
            subprocess.run(["git", "config", "--local", key, value], cwd=git_root, check=True,
                           capture_output=True, text=True)
        except subprocess.CalledProcessError as exc:
            raise ScmError(f"git config {key} failed: {exc.stderr.strip() or exc.returncode}",
                           "run it inside a git repository") from None
        except OSError as exc:
            raise ScmError(f"cannot run git: {exc.strerror}", "install git") from None
    return added
