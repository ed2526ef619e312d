"""``log``: the commits in which an artifact's recorded version changed, newest first.

Two git processes whatever the length of the history: one ``git log`` lists the commits that
touched mlvc.lock, one ``git cat-file --batch`` gives mlvc.lock at each of them. Each version
is compared with the one before it (the next older commit in that list). A part of a folder
artifact (a path inside it) is followed through the folder's Merkle trees, reading only the
trees on its way and only when the folder's id changed. A rename of the artifact's path is
not followed: the log of the new path starts where it was added.

Most of the time goes to reading YAML, so a lock in the layout mlvc writes and without stage
records is not read whole: the lines of the one entry that holds the path (found by its key
line in the ``artifacts:`` section) are read as a lock of their own, once for each distinct
text. Any other lock (stages, quoted keys, another layout) is read whole."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass

from mlvc.errors import ArtifactNotFoundError, FileFormatError, ScmError
from mlvc.formats.lock import LOCK_FILE, Lock, parse_lock
from mlvc.formats.yamlio import MAX_FILE_BYTES
from mlvc.history.diff import ADDED, DELETED, MODE, MODIFIED, Version, _locate, _Side
from mlvc.ops.targets import to_repo_path
from mlvc.progress import NULL
from mlvc.repo import Repo

_FIELDS = "%H%x1f%aI%x1f%an%x1f%ae%x1f%s"
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=,@~")


@dataclass(frozen=True)
class LogEntry:
    commit: str  # full sha
    date: str  # the author date, ISO 8601
    author: str
    email: str
    message: str  # the subject line
    change: str  # added | modified | deleted | mode
    version: Version | None  # None when deleted
    stage: str | None = None  # the stage whose out it is, at that commit


@dataclass(frozen=True)
class LogResult:
    path: str  # repo-relative
    artifact: str  # the artifact it is, or is inside
    entries: list[LogEntry]


def _git(scm, args: list[str], stdin: bytes | None = None, empty_ok: bool = False) -> bytes:
    try:
        p = subprocess.run(["git", *args], cwd=scm.git_root, input=stdin, capture_output=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ScmError(f"cannot run git: {exc}", "install git, or check PATH") from None
    if p.returncode != 0 and empty_ok and (b"does not have any commits" in p.stderr
                                           or b"bad revision 'HEAD'" in p.stderr):
        return b""  # no commit yet
    if p.returncode != 0:
        msg = os.fsdecode(p.stderr).strip().splitlines()
        verb = args[2] if args[0] == "-c" else args[0]
        raise ScmError(f"git {verb} failed: {msg[-1] if msg else p.returncode}")
    return p.stdout


def _commits(scm) -> list[list[str]]:
    """``[sha, date, author, email, subject]`` of each commit of HEAD's history that changed mlvc.lock."""
    out = _git(scm, ["-c", "log.showSignature=false", "log", f"--format=%x1e{_FIELDS}", "HEAD", "--",
                     f":(literal){scm.prefix}{LOCK_FILE}"], empty_ok=True)  # no commit yet: no history
    return [rec.rstrip("\n").split("\x1f", 4) for rec in out.decode("utf-8", "replace").split("\x1e")[1:]]


def _locks(scm, shas: list[str]) -> list[bytes | None]:
    """mlvc.lock's bytes at each commit (None where it is not there): one ``git cat-file --batch``."""
    if not shas:
        return []
    request = "".join(f"{sha}:{scm.prefix}{LOCK_FILE}\n" for sha in shas).encode()
    out = _git(scm, ["cat-file", "--batch"], request)
    result: list[bytes | None] = []
    pos = 0
    for sha in shas:
        end = out.index(b"\n", pos)
        header = out[pos:end].split(b" ")
        pos = end + 1
        if len(header) != 3:  # "<name> missing", "<name> ambiguous"
            result.append(None)
            continue
        size = int(header[2])
        if header[1] != b"blob":
            raise FileFormatError(f"{sha[:12]}:{LOCK_FILE}", f"is a {header[1].decode()} in git, expected a file")
        if size > MAX_FILE_BYTES:
            raise FileFormatError(f"{sha[:12]}:{LOCK_FILE}", f"is larger than {MAX_FILE_BYTES:,} bytes, "
                                  "too large to be an mlvc file")
        result.append(out[pos:pos + size])
        pos += size + 1
    return result


def _parse(data: bytes, sha: str) -> Lock:
    name = f"{LOCK_FILE}@{sha[:12]}"
    try:
        return parse_lock(data.decode("utf-8"), name)
    except UnicodeDecodeError:
        raise FileFormatError(name, "is not valid UTF-8") from None


_HEADER = b"schema: 2\nartifacts:\n"


def _entry_lines(data: bytes, rel: str) -> tuple[str, bytes] | None:
    """``(artifact, lines of its entry)`` for ``rel`` (an artifact, or a path inside one) when
    ``data`` is a lock as mlvc writes it without stages, else None (then read it whole)."""
    if not data.startswith(_HEADER) or b"\nstages:" in data:
        return None
    parts = rel.split("/")
    for n in range(len(parts), 0, -1):
        owner = "/".join(parts[:n])
        key = b"\n  " + owner.encode() + b":\n"
        at = data.find(key, len(_HEADER) - 1)
        if at < 0:
            continue
        if data.find(key, at + 1) >= 0 or re.search(rb"\n[^ \n]", data[len(_HEADER) - 1:at + 1]):
            return None  # twice, or not in the artifacts section: read it whole
        end = at + len(key)
        while data.startswith(b"    ", end):
            nl = data.find(b"\n", end)
            end = len(data) if nl < 0 else nl + 1
        return owner, data[at + 1:end]
    return None


def log(repo: Repo, path: str, cwd: str | None = None, n: int | None = None, progress=NULL) -> LogResult:
    """Every commit of HEAD's history in which the version mlvc.lock records for ``path`` (an
    artifact, or a path inside a folder artifact) changed, newest first; at most ``n``."""
    scm = repo.scm
    if not hasattr(scm, "git_root"):
        raise ScmError("this repository is not inside git, so there is no history to read")
    rel = to_repo_path(repo, path, cwd)
    commits = _commits(scm)
    blobs = _locks(scm, [c[0] for c in commits])
    # A lock that records rel, or a folder above it, holds its first name as written (no YAML escapes).
    first = rel.split("/", 1)[0].encode() if set(rel) <= _PLAIN else None
    side = _Side(repo.odb, "history", None)
    parsed: dict[bytes, tuple[str | None, Version | None, str | None]] = {}
    entries: dict[bytes, tuple[str | None, Version | None, str | None]] = {}  # by an entry's lines
    inner_memo: dict[tuple[str, str], Version | None] = {}
    artifact_seen = None

    def version_at(data: bytes | None, sha: str) -> tuple[str | None, Version | None, str | None]:
        """(artifact, version, stage) that this mlvc.lock records for ``rel``."""
        if data is None or (first is not None and first not in data):
            return None, None, None
        if data in parsed:
            return parsed[data]
        quick = _entry_lines(data, rel)
        if quick is not None:
            if quick[1] not in entries:
                entries[quick[1]] = found_in(_parse(_HEADER + quick[1], sha))
            parsed[data] = entries[quick[1]]
            return parsed[data]
        parsed[data] = found_in(_parse(data, sha))
        return parsed[data]

    def found_in(lock: Lock) -> tuple[str | None, Version | None, str | None]:
        found = (None, None, None)
        owner = rel if rel in lock.artifacts else next((a for a in lock.artifacts if rel.startswith(a + "/")), None)
        if owner is not None:
            e = lock.artifacts[owner]
            v = Version(e.oid, e.size, e.nfiles, e.executable)
            if owner != rel:
                key = (e.oid, rel[len(owner) + 1:])
                if key not in inner_memo:
                    inner_memo[key] = _locate(side, v, key[1], owner) if v.is_dir else None
                v = inner_memo[key]
            stage = next((s.name for s in lock.stages.values() if owner in s.outs), None)
            found = (owner, v, stage) if v is not None else (None, None, None)
        return found

    # oldest first, so that each version is compared with the one before it
    rows: list[LogEntry] = []
    before: Version | None = None
    for (sha, date, author, email, subject), data in reversed(list(zip(commits, blobs))):
        artifact, now, stage = version_at(data, sha)
        if artifact is not None:
            artifact_seen = artifact
        change = _change(before, now)
        if change is not None:
            rows.append(LogEntry(sha, date, author, email, subject, change, now, stage))
        before = now
    if artifact_seen is None:
        raise ArtifactNotFoundError(f"{rel} is not recorded in {LOCK_FILE} at any commit of HEAD's history",
                                    "see `mlvc ls --rev REV`; a renamed artifact's log starts at its new path")
    rows.reverse()
    return LogResult(rel, artifact_seen, rows[:n] if n is not None else rows)


def _change(o: Version | None, v: Version | None) -> str | None:
    if o is None:
        return None if v is None else ADDED
    if v is None:
        return DELETED
    if o.oid != v.oid:
        return MODIFIED
    return MODE if o.executable != v.executable else None
