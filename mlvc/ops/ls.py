"""``ls``: the artifacts recorded in mlvc.lock at a git revision (or in the workspace)."""

from __future__ import annotations

from dataclasses import dataclass

from mlvc.errors import FileFormatError
from mlvc.formats.lock import LOCK_FILE, LockEntry, parse_lock, read_lock
from mlvc.formats.yamlio import MAX_FILE_BYTES
from mlvc.repo import Repo


@dataclass(frozen=True)
class LsResult:
    rev: str | None  # the commit's full sha, None for the workspace's mlvc.lock
    entries: list[LockEntry]


def ls(repo: Repo, rev: str | None = None) -> LsResult:
    if rev is None:
        return LsResult(None, sorted(read_lock(repo.root).artifacts.values(), key=lambda e: e.path))
    sha = repo.scm.resolve(rev)
    data = repo.scm.read_file(sha, LOCK_FILE, limit=MAX_FILE_BYTES, label=rev)
    if data is None:
        return LsResult(sha, [])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileFormatError(f"{LOCK_FILE}@{rev}", "is not valid UTF-8") from None
    lock = parse_lock(text, f"{LOCK_FILE}@{rev}")
    return LsResult(sha, sorted(lock.artifacts.values(), key=lambda e: e.path))
