"""Git access. gitpython is imported here, lazily, never on the CLI's start-up path;
work-tree queries run ``git`` itself, once for many paths."""

from __future__ import annotations

import os
import subprocess

from mlvc.errors import ScmError


class NoSCM:
    """Outside git: revisions cannot be read."""

    def read_file(self, rev: str, relpath: str) -> bytes | None:
        raise ScmError("this repository is not inside git, so revisions cannot be read")

    def resolve(self, rev: str) -> str:
        raise ScmError("this repository is not inside git, so revisions cannot be read")


class Git:
    def __init__(self, git_root: str, mlvc_root: str) -> None:
        self.git_root = git_root
        prefix = os.path.relpath(mlvc_root, git_root)
        self.prefix = "" if prefix == "." else prefix.replace(os.sep, "/") + "/"
        self._repo = None

    @property
    def repo(self):
        if self._repo is None:
            import git

            self._repo = git.Repo(self.git_root)
        return self._repo

    def _commit(self, rev: str):
        try:
            commit = self.repo.commit(rev)
            commit.tree  # a full sha is taken on trust until the object is read
            return commit
        except Exception as exc:  # gitpython raises BadName, BadObject, ValueError ... for a bad revision
            raise ScmError(f"unknown git revision {rev!r}", "check the name with `git log --oneline`") from exc

    def resolve(self, rev: str) -> str:
        return self._commit(rev).hexsha

    def read_file(self, rev: str, relpath: str) -> bytes | None:
        """The content of ``relpath`` (relative to the mlvc root) at ``rev``, or None if absent."""
        commit = self._commit(rev)
        try:
            blob = commit.tree / (self.prefix + relpath)
        except KeyError:
            return None
        return blob.data_stream.read()


def git_tracked(root: str, paths: list[str]) -> set[str]:
    """Those of ``paths`` (relative to ``root``) under which git tracks any file: one
    ``git ls-files`` for them all. Empty outside git or if git cannot be run."""
    if not paths:
        return set()
    try:
        out = subprocess.run(["git", "--literal-pathspecs", "ls-files", "-z", "--", *paths], cwd=root,
                             capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return set()
    if out.returncode != 0:
        return set()
    wanted = set(paths)
    found = set()
    for f in os.fsdecode(out.stdout).split("\0"):
        while f and f not in found:  # the file, then each folder above it
            if f in wanted:
                found.add(f)
            f = f.rpartition("/")[0]
    return found
