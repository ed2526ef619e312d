"""Git access. gitpython is imported here, lazily, never on the CLI's start-up path;
work-tree queries run ``git`` itself, once for many paths."""

from __future__ import annotations

import os
import stat
import subprocess

from mlvc.errors import FileFormatError, ScmError

_REGULAR_ONLY = "mlvc reads only regular files"


class NoSCM:
    """Outside git: revisions cannot be read."""

    def read_file(self, rev: str, relpath: str, *, limit: int, label: str | None = None) -> bytes | None:
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

    def read_file(self, rev: str, relpath: str, *, limit: int, label: str | None = None) -> bytes | None:
        """The content of ``relpath`` (relative to the mlvc root) at ``rev``, or None if absent.

        What git carries is untrusted, so the rules of the workspace reads hold: only a regular
        file is read (a symlink, a folder or a submodule at ``relpath``, or a symlink or a
        submodule on the way to it, is a ``FileFormatError`` naming it), and one larger than
        ``limit`` bytes (the cap of the workspace reader of that kind of file) is refused from
        its size in the object database, before its data is read. A path that is not there
        (nor a folder on the way) is None. Errors name ``label:path`` (``label``: ``rev``)."""
        commit = self._commit(rev)
        label = label or rev
        obj = commit.tree
        for part in self.prefix.split("/")[:-1]:  # the mlvc root's folders inside the git root
            obj = _child(obj, part)
            if obj is None or obj.type != "tree":
                return None  # no mlvc root at that revision: nothing of it is there
        parts = relpath.split("/")
        for i, part in enumerate(parts):
            if obj.type != "tree":
                return None  # a file where a folder would be: the path is not there
            obj = _child(obj, part)
            if obj is None:
                return None
            name = f"{label}:{'/'.join(parts[:i + 1])}"
            if obj.type == "submodule" or stat.S_IFMT(obj.mode) == 0o160000:
                raise FileFormatError(name, "is a submodule in git (a commit, not a file)", hint=_REGULAR_ONLY)
            if stat.S_ISLNK(obj.mode):
                raise FileFormatError(name, f"is a symlink in git{_link_target(obj)}", hint=_REGULAR_ONLY)
        name = f"{label}:{relpath}"
        if obj.type == "tree":
            raise FileFormatError(name, "is a folder in git, expected a file")
        if obj.type != "blob" or not stat.S_ISREG(obj.mode):
            raise FileFormatError(name, f"is not a regular file in git (mode {obj.mode:o})", hint=_REGULAR_ONLY)
        too_big = FileFormatError(name, f"is larger than {limit:,} bytes, too large to be an mlvc file")
        if obj.size > limit:
            raise too_big
        data = obj.data_stream.read()
        if len(data) > limit:  # pragma: no cover - the size git gave is the size of the data
            raise too_big
        return data


def _child(tree, name: str):
    """The entry ``name`` of a gitpython tree (a Blob, Tree or Submodule), None if there is none."""
    if not name or name in (".", ".."):
        return None
    try:
        return tree[name]
    except KeyError:
        return None


def _link_target(blob) -> str:
    """`` (to 'target')`` for a symlink blob small enough to be a real link, else ``''``."""
    if blob.size > 4096:
        return ""
    target = blob.data_stream.read().decode("utf-8", "replace")
    return f" (to {target[:200]!r})"


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
