"""``push``, ``fetch`` and ``pull``: objects between the cache and a remote.

The targets are resolved as ``checkout`` resolves them (``targets.select``: artifacts, a
folder above them, a path inside a tracked folder) plus stage names (their outs). Only what
is missing moves (``odb.transfer``); ``pull`` is a fetch then a checkout of the same targets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlvc.errors import ArtifactNotFoundError
from mlvc.formats.lock import LOCK_FILE, read_lock
from mlvc.formats.project import read_project
from mlvc.odb import transfer
from mlvc.odb.backends import open_remote
from mlvc.ops.remote import resolve
from mlvc.ops.targets import select
from mlvc.progress import NULL
from mlvc.repo import Repo


@dataclass
class TransferResult:
    remote: str
    transferred: int  # objects moved
    already: int  # objects needed that were there already
    nbytes: int = 0
    runs: int = 0  # run-cache records moved (with ``run_cache``)


@dataclass
class PullResult:
    fetch: TransferResult
    checkout: object  # ops.checkout.CheckoutResult


def _expand(repo: Repo, paths: list[str] | None, cwd: str | None) -> list[str]:
    """The paths named, a stage's name (not a path here) standing for its outs."""
    lock = read_lock(repo.root)
    here = cwd or os.getcwd()
    named: list[str] = []
    for p in paths or []:
        if p in lock.stages and not os.path.lexists(os.path.join(here, p)):
            named.extend(os.path.relpath(os.path.join(repo.root, o), here) for o in lock.stages[p].outs)
        else:
            named.append(p)
    return named


def _roots(repo: Repo, paths: list[str] | None, cwd: str | None) -> list[transfer.Root]:
    project, lock = read_project(repo.root), read_lock(repo.root)
    named = _expand(repo, paths, cwd)
    if paths and not named:
        return []  # stages without cached outs
    roots = []
    for t in select(repo, named, project, lock, cwd):
        entry = lock.artifacts.get(t.artifact)
        if entry is None:
            if paths:
                raise ArtifactNotFoundError(f"{t.artifact} has no recorded version in {LOCK_FILE}",
                                            f"record it with `mlvc commit {t.artifact}`")
            continue
        roots.append(transfer.Root(entry.oid, t.inner, entry.path))
    return roots


def _rev_roots(repo: Repo, paths: list[str] | None, revs: list[str], all_commits: bool,
               cwd: str | None) -> list[transfer.Root]:
    """The roots of what mlvc.lock records at ``revs`` (with ``all_commits``: every commit and
    the workspace), limited to ``paths`` (repo paths as they were recorded then)."""
    from mlvc.errors import ScmError
    from mlvc.ops.ls import ls
    from mlvc.ops.targets import to_repo_path

    shas = list(revs)
    entries = []
    if all_commits:
        git = getattr(repo.scm, "repo", None)
        if git is None:
            raise ScmError("this repository is not inside git, so --all-commits has no commits to read")
        try:
            shas += git.git.rev_list("--all").split()
        except Exception as exc:  # gitpython's errors for a broken ref or object
            raise ScmError(f"cannot list the git commits: {exc}".splitlines()[0],
                           "check the repository with `git fsck`") from None
        lock = read_lock(repo.root)
        entries += _tracked(lock.artifacts.values(), read_project(repo.root), lock)
    for rev in dict.fromkeys(shas):
        entries += _tracked_at(repo, rev, ls(repo, rev).entries)
    named = [to_repo_path(repo, p, cwd) for p in paths or []]
    roots: set[transfer.Root] = set()
    matched: set[str] = set()
    for e in entries:
        if not named:
            roots.add(transfer.Root(e.oid, "", e.path))
        for p in named:
            if p in ("", ".") or e.path == p or e.path.startswith(p + "/"):
                roots.add(transfer.Root(e.oid, "", e.path))
                matched.add(p)
            elif p.startswith(e.path + "/") and e.is_dir:
                roots.add(transfer.Root(e.oid, p[len(e.path) + 1:], e.path))
                matched.add(p)
    unmatched = [p for p in named if p not in matched]
    if unmatched:
        raise ArtifactNotFoundError(f"{unmatched[0]} is not recorded in {LOCK_FILE} at the revisions given",
                                    "see `mlvc ls --rev REV`")
    return sorted(roots, key=lambda r: (r.oid, r.inner))


def _tracked(entries, project, lock) -> list:
    """The entries of ``lock`` that are tracked (``targets.all_artifacts``, the one rule of push,
    fetch, pull, status --remote and verify): an entry mlvc.yaml no longer lists is left out."""
    from mlvc.ops.targets import all_artifacts

    known = set(all_artifacts(project, lock))
    return [e for e in entries if e.path in known]


def _tracked_at(repo: Repo, rev: str, entries) -> list:
    """``_tracked`` with mlvc.yaml and mlvc.lock as they are at git revision ``rev``."""
    from mlvc.errors import FileFormatError
    from mlvc.formats.lock import parse_lock
    from mlvc.formats.project import PROJECT_FILE, parse_project
    from mlvc.formats.yamlio import MAX_FILE_BYTES

    sha = repo.scm.resolve(rev)
    texts = {}
    for name in (PROJECT_FILE, LOCK_FILE):
        data = repo.scm.read_file(sha, name, limit=MAX_FILE_BYTES, label=rev)
        try:
            texts[name] = None if data is None else data.decode("utf-8")
        except UnicodeDecodeError:
            raise FileFormatError(f"{name}@{rev}", "is not valid UTF-8") from None
    if texts[PROJECT_FILE] is None or texts[LOCK_FILE] is None:
        return list(entries)  # no mlvc.yaml there: whatever mlvc.lock records is tracked
    project = parse_project(texts[PROJECT_FILE], f"{PROJECT_FILE}@{rev}")
    project.exists = True
    return _tracked(entries, project, parse_lock(texts[LOCK_FILE], f"{LOCK_FILE}@{rev}"))


def _remote(repo: Repo, name: str | None, verb: str):
    store = open_remote(resolve(repo, name), repo.root)
    transfer.check_remote(store, verb)
    store.fsync = repo.odb.fsync  # what a push writes to a local folder is as durable as the cache
    return store


def push(repo: Repo, targets: list[str] | None = None, remote: str | None = None, jobs: int | None = None,
         revs: list[str] | None = None, all_commits: bool = False, cwd: str | None = None,
         run_cache: bool = False, full: bool = False, progress=NULL) -> TransferResult:
    """Upload the objects of ``targets`` (every tracked artifact when empty) that the remote lacks:
    as the workspace's mlvc.lock records them, or as it was at ``revs`` / every commit. With
    ``run_cache``, also the run-cache records the remote lacks, each after its outs' objects.
    With ``full``, every object below the trees is checked (one bulk listing), not only those
    below trees the remote lacks, and what is missing or short there is sent again."""
    with repo.lock():
        roots = _rev_roots(repo, targets, revs, all_commits, cwd) if revs or all_commits else \
            _roots(repo, targets, cwd)
        store = _remote(repo, remote, "push to")
        store._writable()  # http: read-only, said before anything is read
        marker = _push_marker(store, roots)
        try:
            got = transfer.push(repo.odb, store, roots, jobs, progress, full=full)
            runs = _push_runs(repo, store, jobs, progress, got) if run_cache else 0
        except BaseException:
            marker.failed()
            raise
        try:
            marker.done()
        except Exception:
            progress.warn(f"the push is complete, but its marker on remote {store.name!r} could not be updated: "
                          "a `mlvc gc --remote` there waits for it up to 6 hours")
    return TransferResult(store.name, got.transferred, got.already, runs=runs)


def _push_marker(store, roots: list[transfer.Root]):
    """This push's marker on the remote (``odb.remotelock``): a gc --remote running elsewhere
    stops the push before anything is sent, and one that starts later keeps its roots."""
    from mlvc.odb.remotelock import PushMarker

    try:
        return PushMarker(store, [r.oid for r in roots]).start()
    except Exception as exc:
        raise transfer.transfer_error(exc, store, "push to", 0, 0) from None


def fetch(repo: Repo, targets: list[str] | None = None, remote: str | None = None, jobs: int | None = None,
          revs: list[str] | None = None, all_commits: bool = False, cwd: str | None = None,
          run_cache: bool = False, progress=NULL) -> TransferResult:
    """Download into the cache the objects of ``targets`` that it lacks (the workspace is untouched).
    With ``run_cache``, also the remote's run-cache records the cache lacks, each after its outs'
    objects."""
    with repo.lock():
        roots = _rev_roots(repo, targets, revs, all_commits, cwd) if revs or all_commits else \
            _roots(repo, targets, cwd)
        store = _remote(repo, remote, "fetch from")
        got = transfer.fetch(repo.odb, store, roots, jobs, progress)
        runs = _fetch_runs(repo, store, jobs, progress, got) if run_cache else 0
    return TransferResult(store.name, got.transferred, got.already, got.nbytes, runs)


def pull(repo: Repo, targets: list[str] | None = None, remote: str | None = None, jobs: int | None = None,
         force: bool = False, cwd: str | None = None, run_cache: bool = False, progress=NULL) -> PullResult:
    """``fetch`` then ``checkout`` of the same targets."""
    from mlvc.ops.checkout import checkout

    fetched = fetch(repo, targets, remote, jobs, cwd=cwd, run_cache=run_cache, progress=progress)
    named = _expand(repo, targets, cwd)
    if targets and not named:
        from mlvc.ops.checkout import CheckoutResult

        return PullResult(fetched, CheckoutResult())
    done = checkout(repo, named, force=force, cwd=cwd, progress=progress)
    return PullResult(fetched, done)


# ---------------------------------------------------------------- the run-cache

RUNS = "runs"  # <cache>/runs/<2 hex>/<30 hex> (mlvc.pipeline.run_cache.RUNS)


def _local_runs(repo: Repo) -> set[str]:
    from mlvc import fs

    root = fs.safe_dir(repo.odb.cache, RUNS, create=False, shown_root=None)
    found = set()
    for prefix in _listdir(root):
        found.update(prefix + n for n in _listdir(os.path.join(root, prefix)))
    return {k for k in found if transfer.is_run_key(k)}


def _run_path(repo: Repo, key: str, create: bool) -> str:
    from mlvc import fs

    return os.path.join(fs.safe_dir(repo.odb.cache, f"{RUNS}/{key[:2]}", create=create, shown_root=None), key[2:])


def _read_local_run(repo: Repo, key: str) -> bytes | None:
    from mlvc import fs
    from mlvc.errors import MlvcError

    try:
        return fs.read_regular(_run_path(repo, key, False), "a run-cache record", transfer.MAX_RUN_RECORD_BYTES)
    except (OSError, MlvcError):
        return None


def _complete_in_cache(repo: Repo, oids: list[str]) -> bool:
    from mlvc.errors import MlvcError
    from mlvc.odb.gc import reachable

    try:
        found = reachable(repo.odb, oids)
    except MlvcError:
        return False
    return not found.missing and not repo.odb.missing(sorted(found.oids))


def _push_runs(repo: Repo, store, jobs, progress, got) -> int:
    """The cache's run-cache records that the remote lacks, each sent after every object its
    outs name (a record whose objects are not all in the cache stays behind)."""
    runs = transfer.RemoteRuns(store)
    try:
        todo = sorted(_local_runs(repo) - runs.keys())
        records = []
        for key in todo:
            data = _read_local_run(repo, key)
            oids = transfer.record_oids(data)
            if oids is not None and _complete_in_cache(repo, oids):
                records.append((key, data, oids))
        if not records:
            return 0
        roots = [transfer.Root(o) for _, _, oids in records for o in oids]
        more = transfer.push(repo.odb, store, roots, jobs, progress)
        got.transferred += more.transferred
        for key, data, _ in records:
            runs.write(key, data)
    except Exception as exc:
        raise transfer.transfer_error(exc, store, "push to", got.transferred, got.transferred) from None
    return len(records)


def _fetch_runs(repo: Repo, store, jobs, progress, got) -> int:
    """The remote's run-cache records that the cache lacks, each written after every object its
    outs name is in the cache (a record whose objects the remote lacks stays behind)."""
    from mlvc import fs

    runs = transfer.RemoteRuns(store)
    try:
        todo = sorted(runs.keys() - _local_runs(repo))
        records = []
        for key in todo:
            data = runs.read(key)
            oids = transfer.record_oids(data)
            if oids is not None and not store.missing(oids):  # a tree on the remote is complete there
                records.append((key, data, oids))
        if not records:
            return 0
        roots = [transfer.Root(o) for _, _, oids in records for o in oids]
        more = transfer.fetch(repo.odb, store, roots, jobs, progress)
    except Exception as exc:
        raise transfer.transfer_error(exc, store, "fetch from", got.transferred, got.transferred) from None
    got.transferred += more.transferred
    got.nbytes += more.nbytes
    for key, data, _ in records:
        path = _run_path(repo, key, True)
        fs.atomic_write(path, data, fsync=False, tmp_dir=os.path.dirname(path))
    return len(records)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


# ---------------------------------------------------------------- what a command needs, fetched

def fetch_entries(repo: Repo, entries, remote: str | None = None, required: bool = True, base: str | None = None,
                  run_cache: bool = False, progress=NULL) -> TransferResult | None:
    """Fetch from ``remote`` (default: the default remote) the objects of the mlvc.lock
    ``entries`` that the cache lacks (a folder's files included); nothing is asked of a remote
    when the cache has them all (None then). Without ``required``, no remote configured is
    None too (the caller says what is missing). ``base``: the folder a relative remote url is
    relative to (default: the repository's root). With ``run_cache`` the remote's run-cache
    records come too."""
    from mlvc.errors import ConfigError

    lacking = [e for e in entries if not _complete_in_cache(repo, [e.oid])]
    if not lacking and not run_cache:
        return None
    try:
        spec = resolve(repo, remote)
    except ConfigError:
        if required or remote is not None:
            raise
        return None
    with repo.lock():
        store = open_remote(spec, base or repo.root)
        transfer.check_remote(store, "fetch from")
        got = transfer.fetch(repo.odb, store, [transfer.Root(e.oid, "", e.path) for e in lacking], None, progress)
        runs = _fetch_runs(repo, store, None, progress, got) if run_cache else 0
    return TransferResult(store.name, got.transferred, got.already, got.nbytes, runs)


# ---------------------------------------------------------------- status against a remote

PUSHED = "pushed"
NOT_PUSHED = "not pushed"
NOT_FETCHED = "not fetched"
LOST = "missing"  # on neither side


@dataclass(frozen=True)
class RemoteArtifactStatus:
    path: str
    status: str  # pushed | not pushed | not fetched | missing (in neither the cache nor the remote)
    pushed: int  # objects (files and trees) on both sides
    not_pushed: int  # in the cache, not on the remote
    not_fetched: int  # on the remote, not in the cache
    missing: int  # on neither
    nbytes_not_pushed: int = 0


@dataclass(frozen=True)
class RemoteStatusResult:
    remote: str
    artifacts: list[RemoteArtifactStatus]

    @property
    def clean(self) -> bool:
        """The remote holds everything mlvc.lock needs."""
        return all(a.not_pushed == 0 and a.missing == 0 for a in self.artifacts)


def remote_status(repo: Repo, targets: list[str] | None = None, remote: str | None = None,
                  cwd: str | None = None, full: bool = False, progress=NULL) -> RemoteStatusResult:
    """For each tracked artifact of ``targets`` (all when empty): how many of its objects the
    remote holds, lacks (not pushed) or holds and the cache lacks (not fetched). With ``full``,
    every object is asked about (one bulk listing), not only those below trees the remote lacks."""
    roots = _roots(repo, targets, cwd)
    store = _remote(repo, remote, "compare with")
    try:
        found = transfer.compare(repo.odb, store, roots, full=full)
    except Exception as exc:
        raise transfer.transfer_error(exc, store, "compare with", 0, 0) from None
    rows = []
    for r, c in zip(roots, found):
        status = NOT_PUSHED if c.not_pushed else LOST if c.lost else NOT_FETCHED if c.not_fetched else PUSHED
        path = f"{r.artifact}/{r.inner}" if r.inner else r.artifact
        rows.append(RemoteArtifactStatus(path, status, c.pushed, c.not_pushed, c.not_fetched, c.lost,
                                         c.nbytes_not_pushed))
    return RemoteStatusResult(store.name, rows)
