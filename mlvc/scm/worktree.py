"""Temporary git worktrees: a detached, isolated checkout of one commit in a temp folder
(``mlvc verify`` runs the stages there), removed afterwards even after Ctrl-C.

Plain ``git`` processes, with the variables that would point git at another index or work
tree (set inside a git hook) left out, and with hooks off (a post-checkout hook must not
run in the copy). The user's branch, index and work tree are never touched: a worktree
adds only an entry under ``.git/worktrees/``, which removal (and ``git worktree prune``)
takes away again.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
from contextlib import contextmanager
from typing import Iterator

from mlvc.errors import ScmError

# Set by git for a hook (pre-commit, pre-push ...): they would send our git to the user's index.
_GIT_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_PREFIX")
TEMP_PREFIX = "mlvc-verify-"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _GIT_VARS}


def _git(cwd: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(["git", "-c", f"core.hooksPath={os.devnull}", *args], cwd=cwd, env=_env(),
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise ScmError(f"cannot run git: {exc.strerror or exc}", "install git and put it on PATH") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise ScmError(f"`git {' '.join(args[:2])}` failed: {detail}")
    return proc


def toplevel(path: str) -> str:
    """The top folder of the git work tree that holds ``path``."""
    proc = _git(path, "rev-parse", "--show-toplevel", check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise ScmError(f"{path} is not inside a git work tree", "run `git init` and commit your files first")
    return proc.stdout.strip()


def resolve_commit(git_root: str, rev: str) -> str:
    """The full sha of the commit ``rev`` names (a branch, tag, ``HEAD~1``, a sha ...)."""
    if not rev or rev.startswith("-") or "\0" in rev:
        raise ScmError(f"unknown git revision {rev!r}", "check the name with `git log --oneline`")
    proc = _git(git_root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", check=False)
    sha = proc.stdout.strip()
    if proc.returncode != 0 or not sha:
        raise ScmError(f"unknown git revision {rev!r}", "check the name with `git log --oneline`")
    return sha


def list_worktrees(git_root: str) -> list[str]:
    """The paths of the repository's worktrees (the main one first)."""
    out = _git(git_root, "worktree", "list", "--porcelain").stdout
    return [line[len("worktree "):] for line in out.splitlines() if line.startswith("worktree ")]


@contextmanager
def temporary_worktree(git_root: str, commit: str) -> Iterator[str]:
    """A detached worktree of ``commit`` in a new temp folder; yields its top folder. On the
    way out (an error, Ctrl-C) the folder is deleted and the worktree's entry pruned."""
    tmp = tempfile.mkdtemp(prefix=TEMP_PREFIX)
    path = os.path.join(tmp, "worktree")
    try:
        _git(git_root, "worktree", "add", "--detach", "--quiet", path, commit)
        yield path
    finally:
        remove_worktree(git_root, tmp, path)


def _rmtree(tmp: str) -> None:
    """Delete the folder ``tmp``; a read-only folder below it (files linked from the cache) is
    made writable and tried again. Nothing above ``tmp`` is ever changed."""
    top = os.path.abspath(tmp)

    def retry(func, path, _exc) -> None:
        parent = os.path.dirname(os.path.abspath(path))
        if parent != top and not parent.startswith(top + os.sep):
            return
        try:
            os.chmod(parent, stat.S_IRWXU)
            func(path)
        except OSError:
            pass

    if os.path.isdir(top) and not os.path.islink(top):
        shutil.rmtree(top, onerror=retry)


def remove_worktree(git_root: str, tmp: str, path: str) -> None:
    """Remove the worktree at ``path`` and the temp folder ``tmp`` that holds it, then prune
    git's record of it. Ctrl-C is held back until this is done (and then raised)."""
    blocked = hasattr(signal, "pthread_sigmask")
    if blocked:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        if os.path.isdir(path):
            _git(git_root, "worktree", "remove", "--force", "--force", path, check=False)
        _rmtree(tmp)
        _git(git_root, "worktree", "prune", check=False)
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
