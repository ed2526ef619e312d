"""``diff``: artifacts added, deleted and modified between two git revisions (or a revision
and the workspace), and for folders the files added, deleted and modified, with sizes.

Each side is the artifact entries of mlvc.lock at a revision (stage outs are artifact
entries too), or for the workspace the tracked artifacts as they are on disk, hashed through
the stat cache. Folders are compared as Merkle trees: two sub-folders with the same id are
the same below, so only the trees on the way to a change are read. The workspace side's
trees are encoded in memory, never stored; a format 1 tree is re-encoded as format 2 when
read, so one comparison serves both."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from mlvc.errors import ArtifactNotFoundError, FileFormatError, ObjectNotFoundError, ScmError, UsageError
from mlvc.formats.lock import LOCK_FILE, Lock, parse_lock, read_lock
from mlvc.formats.project import read_project
from mlvc.formats.yamlio import MAX_FILE_BYTES
from mlvc.objects.hashing import TREE_SUFFIX, hash_file
from mlvc.objects.tree import TREE_HEADER, encode_entries, parse_folder, parse_tree
from mlvc.ops.targets import all_artifacts, check_inside, to_repo_path
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.workspace.build import file_entries, hash_files, is_linked, keep_exec_bits
from mlvc.workspace.scan import scan

ADDED = "added"
DELETED = "deleted"
MODIFIED = "modified"
MODE = "mode"  # the same content; only the executable bit differs
WORKSPACE = "workspace"
FETCH_HINT = ("get it from a remote with `mlvc fetch --rev REV`, or from the cache of the clone that "
              "recorded it (or point cache.dir at that cache)")


@dataclass(frozen=True)
class Version:
    """One side's record of a path: its object id, size, file count (folders)."""

    oid: str
    size: int
    nfiles: int | None = None
    executable: bool = False

    @property
    def is_dir(self) -> bool:
        return self.nfiles is not None


@dataclass(frozen=True)
class FileChange:
    path: str  # repo-relative
    change: str  # added | deleted | modified | mode
    old: Version | None
    new: Version | None


@dataclass(frozen=True)
class ArtifactChange:
    path: str  # repo-relative: the artifact, or the part of a folder artifact a PATH named
    artifact: str
    change: str  # added | deleted | modified | mode
    old: Version | None
    new: Version | None
    stage: str | None = None  # the stage whose out it is (on either side)
    files: list[FileChange] = field(default_factory=list)  # folders: the files that changed


@dataclass(frozen=True)
class DiffResult:
    a: str  # the revision as given
    a_commit: str  # its full sha
    b: str  # a revision, or "workspace"
    b_commit: str | None  # None for the workspace
    changes: list[ArtifactChange]
    rows: Any = None  # with ``rows``: the tabular.RowDiff of the one file named


class _Side:
    """One side: artifact versions and a reader of its tree objects."""

    def __init__(self, odb, label: str, commit: str | None) -> None:
        self.odb = odb
        self.label = label
        self.commit = commit
        self.versions: dict[str, Version] = {}
        self.stages: dict[str, str] = {}
        self.memo: dict[str, bytes] = {}  # trees made here: the workspace's, format 1 re-encoded

    def read(self, oid: str, artifact: str) -> bytes:
        data = self.memo.get(oid)
        if data is not None:
            return data
        try:
            data = self.odb.read_tree_object(oid)
        except ObjectNotFoundError:
            where = "the workspace" if self.commit is None else self.label
            raise ObjectNotFoundError(f"the tree {oid} of {artifact} (at {where}) is not in the cache, so the "
                                      "files that changed cannot be listed", [oid], FETCH_HINT) from None
        if not data.startswith(TREE_HEADER.encode()):  # format 1: one flat object, made Merkle here
            tree = parse_tree(data, f"tree {oid}")
            top, _ = encode_entries(zip(tree.paths, tree.metas), self.memo.__setitem__)
            data = self.memo[top]
        self.memo[oid] = data
        return data


def _lock_at(repo: Repo, sha: str, rev: str) -> Lock:
    data = repo.scm.read_file(sha, LOCK_FILE, limit=MAX_FILE_BYTES, label=rev)
    if data is None:
        return Lock()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileFormatError(f"{LOCK_FILE}@{rev}", "is not valid UTF-8") from None
    return parse_lock(text, f"{LOCK_FILE}@{rev}")


def _stages(lock: Lock) -> dict[str, str]:
    return {out: s.name for s in lock.stages.values() for out in s.outs}


def _rev_side(repo: Repo, rev: str) -> _Side:
    sha = repo.scm.resolve(rev)
    side = _Side(repo.odb, rev, sha)
    lock = _lock_at(repo, sha, rev)
    side.versions = {p: Version(e.oid, e.size, e.nfiles, e.executable) for p, e in lock.artifacts.items()}
    side.stages = _stages(lock)
    return side


def _hasher(abspath, size, known):
    return (known, size) if known is not None else hash_file(abspath, size)


def _workspace_side(repo: Repo, wanted: Callable[[str], bool], progress) -> _Side:
    """The tracked artifacts as they are on disk (those ``wanted``), hashed through the stat cache."""
    side = _Side(repo.odb, WORKSPACE, None)
    lock = read_lock(repo.root)
    side.stages = _stages(lock)
    linking = bool({"hardlink", "symlink"} & set(repo.config.link_types))  # a linked file has its object's mode
    for rel in all_artifacts(read_project(repo.root), lock):
        if not wanted(rel):
            continue
        check_inside(repo, rel)
        found = scan(repo.root, rel)
        if found.kind == "missing":
            continue
        oids, sizes = hash_files(rel, found, repo.state, _hasher, progress, f"Checking {rel}")
        recorded = lock.artifacts.get(rel)
        executable = found.executables()
        if found.kind == "file":
            if (linking and recorded is not None and recorded.executable and recorded.oid == oids[0]
                    and is_linked(found.abspath(found.paths[0]))):
                executable[0] = True
            side.versions[rel] = Version(oids[0], sizes[0], None, executable[0])
            continue
        if not found.paths:
            continue  # an empty folder holds nothing mlvc records
        if linking and recorded is not None and recorded.is_dir:
            try:
                keep_exec_bits(repo.odb.load_tree(recorded.oid, check_meta=False), found, oids, executable)
            except ObjectNotFoundError:
                pass  # without the record, the bits are the files' own
        top, _ = encode_entries(file_entries(found, oids, sizes, executable), side.memo.__setitem__)
        side.versions[rel] = Version(top, sum(sizes), len(found.paths))
    return side


# ------------------------------------------------------------------ comparing trees


def _entries(side: _Side, oid: str, artifact: str) -> tuple[list[str], list[str]]:
    return parse_folder(side.read(oid, artifact), f"tree {oid}")


def _version(meta: str) -> Version:
    """A tree entry's metadata as a Version: ``<oid> -|x <size>`` or ``<oid> d <size> <nfiles>``."""
    parts = meta.split(" ")
    if parts[1] == "d":
        return Version(parts[0] + TREE_SUFFIX, int(parts[2]), int(parts[3]))
    return Version(parts[0], int(parts[2]), None, parts[1] == "x")


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _all_files(side: _Side, oid: str, prefix: str, artifact: str) -> Iterator[tuple[str, Version]]:
    """Every file below the folder ``oid``, as ``(path, Version)``, sorted."""
    stack = [(prefix, oid)]
    while stack:
        folder, tree = stack.pop()
        names, metas = _entries(side, tree, artifact)
        subs = []
        for name, meta in zip(names, metas):
            v = _version(meta)
            if v.is_dir:
                subs.append((_join(folder, name), v.oid))
            else:
                yield _join(folder, name), v
        stack.extend(reversed(subs))


def _diff_trees(a: _Side, a_oid: str, b: _Side, b_oid: str, prefix: str, artifact: str) -> list[FileChange]:
    """The files that differ between two folders, reading only the sub-folders whose ids differ."""
    changes: list[FileChange] = []
    stack = [(prefix, a_oid, b_oid)]
    while stack:
        folder, ta, tb = stack.pop()
        na, ma = _entries(a, ta, artifact)
        nb, mb = _entries(b, tb, artifact)
        old = dict(zip(na, ma))
        new = dict(zip(nb, mb))
        subs = []
        for name in sorted(old.keys() | new.keys()):
            mo, mn = old.get(name), new.get(name)
            if mo == mn:
                continue  # the same entry text: the same file, or folder with everything below it
            path = _join(folder, name)
            o = _version(mo) if mo is not None else None
            n = _version(mn) if mn is not None else None
            if o is not None and n is not None and o.oid == n.oid and o.executable == n.executable:
                continue  # the same file, or the same folder with everything below it
            if o is not None and n is not None and o.is_dir and n.is_dir:
                subs.append((path, o.oid, n.oid))
                continue
            if o is not None and n is not None and not o.is_dir and not n.is_dir:
                changes.append(FileChange(path, MODE if o.oid == n.oid else MODIFIED, o, n))
                continue
            if o is not None:
                changes.extend(FileChange(p, DELETED, v, None) for p, v in _files_or_one(a, path, o, artifact))
            if n is not None:
                changes.extend(FileChange(p, ADDED, None, v) for p, v in _files_or_one(b, path, n, artifact))
        stack.extend(reversed(subs))
    changes.sort(key=lambda c: c.path)
    return changes


def diff_trees(odb, old: str, new: str, prefix: str = "") -> list[FileChange]:
    """The files that differ between the trees ``old`` and ``new`` of ``odb`` (paths under
    ``prefix``), reading only the trees of the folders whose ids differ."""
    return _diff_trees(_Side(odb, "old", None), old, _Side(odb, "new", None), new, prefix, prefix or "the tree")


def _files_or_one(side: _Side, path: str, v: Version, artifact: str):
    return _all_files(side, v.oid, path, artifact) if v.is_dir else [(path, v)]


def _locate(side: _Side, top: Version, inner: str, artifact: str) -> Version | None:
    """The version of the part ``inner`` of a folder artifact: walks the trees on its way only."""
    v = top
    for name in inner.split("/"):
        if not v.is_dir:
            return None
        names, metas = _entries(side, v.oid, artifact)
        try:
            v = _version(metas[names.index(name)])
        except ValueError:
            return None
    return v


# ------------------------------------------------------------------ the verb


def split_args(repo: Repo, args: list[str]) -> tuple[list[str], list[str]]:
    """``[A [B]] [PATH...]``: the leading arguments (at most two) that are git revisions, and
    the paths after them. A name that is both is taken as a revision; ``./NAME`` is a path."""
    revs: list[str] = []
    for arg in args[:2]:
        if arg.startswith(("./", "/", "../")) or arg == ".":
            break
        try:
            repo.scm.resolve(arg)
        except ScmError as exc:
            if "not inside git" in exc.message:
                raise
            break
        revs.append(arg)
    return revs, args[len(revs):]


def _change(o: Version | None, n: Version | None) -> str | None:
    if o is None and n is None:
        return None
    if o is None:
        return ADDED
    if n is None:
        return DELETED
    if o.oid != n.oid:
        return MODIFIED
    if o.executable != n.executable:
        return MODE
    return None


def diff(repo: Repo, args: list[str] | None = None, cwd: str | None = None, progress=NULL, rows: bool = False,
         key: list[str] | None = None, limit: int = 10) -> DiffResult:
    """``mlvc diff [A [B]] [PATH...]``: no revision, HEAD against the workspace; one, it against
    the workspace; two, A against B. PATHs (relative to ``cwd``) select artifacts, folders
    above them, or a part of a folder artifact. With ``rows``, the one PATH is a table file
    and its rows are compared too (``key`` columns to join on; ``limit`` example rows)."""
    revs, paths = split_args(repo, list(args or []))
    if rows and len(paths) != 1:
        raise UsageError("--rows compares one table file: name one PATH after the revisions",
                         "e.g. mlvc diff HEAD~1 HEAD data/train.parquet --rows")
    if rows:
        from mlvc.history.tabular import table_format

        table_format(paths[0])  # a path that is no table is said so before anything is read
    a_rev = revs[0] if revs else "HEAD"
    rels = [to_repo_path(repo, p, cwd) for p in paths]

    def wanted(artifact: str) -> bool:
        return not rels or any(artifact == r or artifact.startswith(r + "/") or r.startswith(artifact + "/")
                               for r in rels)

    a = _rev_side(repo, a_rev)
    b = _rev_side(repo, revs[1]) if len(revs) > 1 else _workspace_side(repo, wanted, progress)
    artifacts = sorted(a.versions.keys() | b.versions.keys())
    chosen: list[tuple[str, str]] = []  # (artifact, inner)
    if not rels:
        chosen = [(p, "") for p in artifacts]
    for r in rels:
        here = [(p, "") for p in artifacts if p == r or p.startswith(r + "/")]
        owner = next((p for p in artifacts if r.startswith(p + "/")), None)
        if owner is not None:
            here.append((owner, r[len(owner) + 1:]))
        if not here:
            where = "in the workspace" if b.commit is None else f"at {b.label}"
            raise ArtifactNotFoundError(f"{r} is not tracked at {a_rev} nor {where}",
                                        "see `mlvc ls --rev REV` for what a revision records (a name git "
                                        "does not know as a revision is taken as a path)")
        chosen.extend(h for h in here if h not in chosen)
    changes = []
    for artifact, inner in sorted(chosen):
        o, n = a.versions.get(artifact), b.versions.get(artifact)
        if inner:
            o = _locate(a, o, inner, artifact) if o is not None else None
            n = _locate(b, n, inner, artifact) if n is not None else None
        kind = _change(o, n)
        if kind is None:
            continue
        path = f"{artifact}/{inner}" if inner else artifact
        files = _diff_trees(a, o.oid, b, n.oid, path, artifact) if o and n and o.is_dir and n.is_dir else []
        changes.append(ArtifactChange(path, artifact, kind, o, n, b.stages.get(artifact) or a.stages.get(artifact),
                                      files))
    result = DiffResult(a_rev, a.commit, b.label, b.commit, changes)
    if not rows:
        return result
    return DiffResult(a_rev, a.commit, b.label, b.commit, changes, _rows(repo, a, b, chosen, key, limit))


def _table_file(repo: Repo, side: _Side, artifact: str, inner: str) -> tuple[str, str]:
    """Where the named file's data is at ``side`` (the cache, or the workspace), and its label."""
    path = f"{artifact}/{inner}" if inner else artifact
    label = f"{path}@{side.label}" if side.commit is not None else path
    v = side.versions.get(artifact)
    if v is not None and inner:
        v = _locate(side, v, inner, artifact)
    if v is None:
        where = "in the workspace" if side.commit is None else f"at {side.label}"
        raise ArtifactNotFoundError(f"{path} is not there {where}, so it has no rows to compare",
                                    "--rows compares two versions of one file")
    if v.is_dir:
        raise UsageError(f"{path} is a folder; --rows compares one table file", "name a file in it")
    if side.commit is None:
        return os.path.join(repo.root, path), label
    file = repo.odb.path(v.oid)
    if not os.path.isfile(file):
        raise ObjectNotFoundError(f"{label} (object {v.oid}) is not in the cache", [v.oid], FETCH_HINT)
    return file, label


def _rows(repo: Repo, a: _Side, b: _Side, chosen: list[tuple[str, str]], key, limit: int):
    from mlvc.history.tabular import row_diff, table_format

    if len(chosen) != 1:
        raise UsageError("--rows compares one table file; the path names a folder", "name a file in it")
    artifact, inner = chosen[0]
    old, old_label = _table_file(repo, a, artifact, inner)
    new, new_label = _table_file(repo, b, artifact, inner)
    return row_diff(old, new, table_format(artifact + "/" + inner if inner else artifact), old_label, new_label,
                    key, limit)
