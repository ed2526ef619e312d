"""Git hooks: the scripts ``mlvc install`` writes, where git keeps them, and what git tells them.

A hook of ours is a small ``sh`` script holding ``MARKER`` on its second line; it calls
``mlvc git-hook NAME ARGS...`` through the Python that ran ``mlvc install`` (quoted), or
``mlvc`` on PATH when that Python is gone. A hook file without the marker is the user's
own and is replaced only with ``force``. Imports nothing of mlvc but ``errors``.
"""

from __future__ import annotations

import os
import shlex
import subprocess

from mlvc.errors import ScmError

HOOKS = ("pre-commit", "post-checkout", "pre-push")
MARKER = "# mlvc: this hook was written by `mlvc install` (delete this line to keep your own edits)"


def _git(cwd: str, *args: str) -> str:
    try:
        p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    except OSError as exc:
        raise ScmError(f"cannot run git: {exc.strerror}", "install git") from None
    if p.returncode:
        raise ScmError(f"git {' '.join(args)} failed: {(p.stderr.strip().splitlines() or ['?'])[0]}")
    return p.stdout.strip()


def hooks_dir(git_root: str) -> str:
    """The folder git runs hooks from (``core.hooksPath`` if set, else ``.git/hooks``)."""
    path = _git(git_root, "rev-parse", "--git-path", "hooks")
    return os.path.normpath(os.path.join(git_root, path))


def git_dir(cwd: str) -> str:
    return os.path.normpath(os.path.join(cwd, _git(cwd, "rev-parse", "--git-dir")))


def in_rebase(cwd: str) -> bool:
    """Whether a rebase is running in the git repository at ``cwd``."""
    d = git_dir(cwd)
    return any(os.path.isdir(os.path.join(d, name)) for name in ("rebase-merge", "rebase-apply"))


def unstaged(cwd: str, paths: list[str]) -> list[str]:
    """Those of ``paths`` (relative to ``cwd``) whose workspace content differs from git's index."""
    out = _git(cwd, "diff", "--name-only", "--relative", "--", *paths)
    return [line for line in out.splitlines() if line]


def same_in(cwd: str, a: str, b: str, paths: list[str]) -> bool:
    """Whether ``paths`` (relative to ``cwd``) are the same in commits ``a`` and ``b``."""
    if not a.strip("0") or not b.strip("0"):
        return False  # the null sha: a clone's first checkout
    p = subprocess.run(["git", "diff", "--quiet", a, b, "--", *paths], cwd=cwd, capture_output=True)
    return p.returncode == 0


def hook_script(name: str, python: str | None, mlvc_dir: str) -> str:
    """The text of hook ``name``: run from the git top, it changes to ``mlvc_dir`` (the mlvc
    root relative to it, '' when the same) and runs ``mlvc git-hook NAME "$@"``."""
    lines = ["#!/bin/sh", MARKER]
    if mlvc_dir:
        lines.append(f"cd {shlex.quote(mlvc_dir)} || exit 0")
    if python:
        q = shlex.quote(python)
        lines.append(f"if [ -x {q} ]; then exec {q} -m mlvc git-hook {name} \"$@\"; fi")
    lines.append(f"exec mlvc git-hook {name} \"$@\"")
    return "\n".join(lines) + "\n"


def is_ours(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return MARKER.encode() in f.read(4096)
    except OSError:
        return False


def write_hook(folder: str, name: str, text: str, force: bool = False) -> str:
    """Write hook ``name`` into ``folder``: 'added', 'updated', 'unchanged', or 'replaced' (a hook
    that was not ours, with ``force``). Without ``force``, a hook not ours is a ScmError."""
    path = os.path.join(folder, name)
    state = "added"
    if os.path.lexists(path):
        if is_ours(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                if f.read() == text and os.access(path, os.X_OK):
                    return "unchanged"
            state = "updated"
        elif not force:
            raise ScmError(f"{path} exists and was not written by mlvc",
                                  "move it away, or run `mlvc install --force` to replace it")
        else:
            state = "replaced"
    os.makedirs(folder, exist_ok=True)
    tmp = path + ".mlvc-tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return state
