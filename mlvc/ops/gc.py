"""``gc``: remove the cache objects that no chosen revision's mlvc.lock references.

What is kept: every object the workspace's mlvc.lock names (artifacts, and the
deps and uncached outs of its stage records), with ``all_branches``,
``all_tags``, ``all_commits`` also what mlvc.lock names at those git
revisions, and below every tree its sub-folders and files
(``mlvc.odb.gc.reachable``). Everything else in the cache goes, and so do the
run-cache records (``<cache>/runs/``) whose outs are no longer all in the cache.

The verb never prompts. ``gc(repo)`` returns the plan and removes nothing;
``gc(repo, remove=True)`` removes; ``only=`` (a plan the user confirmed)
removes only what that plan listed and is still garbage now. Both read
everything again under the repository lock and the cache lock held EXCLUSIVE
(no writer of any repository sharing the cache is running meanwhile), so an
object an add or checkout is using is never removed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from mlvc import fs
from mlvc.errors import FileFormatError, MlvcError, ScmError
from mlvc.formats.lock import LOCK_FILE, Lock, parse_lock, read_lock
from mlvc.formats.yamlio import MAX_FILE_BYTES
from mlvc.objects.hashing import hash_bytes, is_tree_oid, is_valid_oid
from mlvc.odb.gc import garbage, reachable
from mlvc.progress import NULL
from mlvc.repo import Repo

RUNS = "runs"  # the run-cache's folder in the cache (mlvc.pipeline.run_cache.RUNS)
DEFAULT_GRACE = "14d"  # gc --remote keeps what is younger (git's gc.pruneExpire is 2 weeks too)
MAX_RUN_RECORD_BYTES = 1024 * 1024
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class GcResult:
    revisions: list[str]  # what was kept: "workspace", "branch main", "tag v1", "commit <sha>"
    objects: list[str]  # removed (or, when not ``removed``, to remove); trees first
    size: int  # bytes of those objects
    runs: list[str]  # run-cache records removed (or to remove), by signature
    kept: int  # objects that stay in the cache
    missing: list[str]  # trees referenced but not in the cache (their files cannot be told)
    removed: bool  # False: a plan, nothing was removed
    cache: str  # the cache folder (with ``remote``: the remote's url)
    shared: bool  # the cache is outside the repository (other clones may use it)
    remote: str | None = None  # the remote collected instead of the cache
    young: int = 0  # remote objects kept only because they were written within the grace period
    grace: float = 0.0  # that period, in seconds (``gc.grace``)
    pushed: int = 0  # roots kept only because a push from a clone named them within it


def gc(repo: Repo, all_branches: bool = False, all_tags: bool = False, all_commits: bool = False,
       remove: bool = False, only: GcResult | None = None, remote: str | None = None,
       grace: str | None = None, progress=NULL) -> GcResult:
    """With ``remote`` (a remote's name): the same on that remote instead of the cache, keeping
    what was written there, or named by a push, within the grace period (``grace``, e.g. "14d";
    default: the ``gc.grace`` config key)."""
    revisions = _revisions(repo, all_branches, all_tags, all_commits)
    roots: set[str] = set()
    seen: set[str] = set()
    with progress.task("Reading mlvc.lock at revisions", len(revisions)) as task:
        for label, sha in revisions:
            roots |= _revision_oids(repo, label, sha, seen)
            task.advance()
    if remote is not None:
        from mlvc.config import parse_duration

        seconds = parse_duration(grace if grace is not None else repo.config.get("gc.grace") or DEFAULT_GRACE)
        return _gc_remote(repo, remote, revisions, roots, remove, only, seconds, progress)
    with repo.lock():
        odb = repo.odb
        shared = not fs.is_within(os.path.realpath(repo.root), os.path.realpath(odb.cache))
        if shared:
            progress.warn(f"the cache {odb.cache} is outside this repository: objects that other repositories "
                          "sharing it use are removed too, unless this repository references them")
        with repo.cache_lock(exclusive=True):
            roots |= _lock_oids(read_lock(repo.root))
            found = reachable(odb, roots)
            plan = garbage(odb, found.oids)
            objects = plan.oids
            if only is not None:  # what the user confirmed, and still garbage now
                allowed = set(only.objects)
                objects = [o for o in objects if o in allowed]
            gone = set(objects)
            runs = _stale_runs(odb, gone)
            if only is not None:
                allowed_runs = set(only.runs)
                runs = [(k, p) for k, p in runs if k in allowed_runs]
            size = plan.size if only is None else sum(_size(odb, o) for o in objects)
            objects.sort(key=lambda o: (not is_tree_oid(o), o))  # trees first: a tree left holds all below it
            if remove:
                for _, path in runs:
                    fs.unlink_quiet(path)
                with progress.task("Removing objects", len(objects)) as task:
                    for oid in objects:
                        odb.remove(oid)
                        task.advance()
    labels = ["workspace"] + [label for label, _ in revisions]
    return GcResult(labels, objects, size, sorted(k for k, _ in runs), plan.kept + len(plan.oids) - len(objects),
                    sorted(found.missing), remove, odb.cache, shared)


def _size(odb, oid: str) -> int:
    try:
        return os.lstat(odb.path(oid)).st_size
    except FileNotFoundError:
        return 0


# ------------------------------------------------------------------ what is referenced


def _lock_oids(lock: Lock) -> set[str]:
    oids = {e.oid for e in lock.artifacts.values()}
    for stage in lock.stages.values():
        oids.update(e.oid for e in stage.deps.values())
        oids.update(e.oid for e in stage.uncached_outs.values())
    return oids


def _revisions(repo: Repo, all_branches: bool, all_tags: bool, all_commits: bool) -> list[tuple[str, str]]:
    """``(label, commit sha)`` of every git revision whose mlvc.lock is kept, each commit once."""
    if not (all_branches or all_tags or all_commits):
        return []
    git = getattr(repo.scm, "repo", None)
    if git is None:
        raise ScmError("this repository is not inside git, so --all-branches, --all-tags and --all-commits "
                       "have no revisions to read", "run `mlvc gc` without them to keep the workspace's data only")
    found: list[tuple[str, str]] = []
    try:
        if all_branches:
            found += [(f"branch {b.name}", b.commit.hexsha) for b in git.branches]
        if all_tags:
            for tag in git.tags:
                try:
                    found.append((f"tag {tag.name}", tag.commit.hexsha))
                except ValueError:  # a tag of a tree or a blob: no commit, no mlvc.lock
                    continue
        if all_commits:
            found += [(f"commit {sha}", sha) for sha in git.git.rev_list("--all").split()]
    except MlvcError:
        raise
    except Exception as exc:  # gitpython's errors for a broken ref or object
        raise ScmError(f"cannot list the git revisions: {exc}".splitlines()[0],
                       "check the repository with `git fsck`") from exc
    unique: dict[str, str] = {}
    for label, sha in found:
        unique.setdefault(sha, label)
    return [(label, sha) for sha, label in unique.items()]


def _revision_oids(repo: Repo, label: str, sha: str, seen: set[str]) -> set[str]:
    """What mlvc.lock names at commit ``sha`` (nothing if it has none); errors name ``label``.
    ``seen``: digests of the lockfiles read so far (many commits carry the same one)."""
    name = label.split(" ", 1)[1]
    if label.startswith("commit "):
        name = sha[:12]
    try:
        data = repo.scm.read_file(sha, LOCK_FILE, limit=MAX_FILE_BYTES, label=name)
    except ScmError as exc:  # errors of the file itself name it as NAME:mlvc.lock already
        raise ScmError(f"{label}: {exc.message}", exc.hint) from exc
    if data is None:
        return set()
    digest = hash_bytes(data)
    if digest in seen:
        return set()
    seen.add(digest)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileFormatError(f"{LOCK_FILE}@{name}", "is not valid UTF-8") from None
    return _lock_oids(parse_lock(text, f"{LOCK_FILE}@{name}"))


# ------------------------------------------------------------------ the run-cache


def _stale_runs(odb, gone: set[str]) -> list[tuple[str, str]]:
    """``(signature, path)`` of each run-cache record that names an object in ``gone`` or one no
    longer in the cache. A record that cannot be read is left alone (the run-cache ignores it)."""
    runs = fs.safe_dir(odb.cache, RUNS, create=False, shown_root=None)
    stale = []
    for prefix in sorted(_listdir(runs)):
        if len(prefix) != 2 or not set(prefix) <= _HEX:
            continue
        folder = fs.safe_dir(odb.cache, f"{RUNS}/{prefix}", create=False, shown_root=None)
        for name in sorted(_listdir(folder)):
            if len(name) != 30 or not set(name) <= _HEX:
                continue
            path = os.path.join(folder, name)
            oids = _record_oids(path)
            if oids is not None and any(o in gone or not odb.exists(o) for o in oids):
                stale.append((prefix + name, path))
    return stale


def _record_oids(path: str) -> list[str] | None:
    try:
        data = fs.read_regular(path, "a run-cache record", MAX_RUN_RECORD_BYTES)
        record = json.loads(data) if data is not None else None
        oids = [d["oid"] for d in record["outs"].values()]
    except (OSError, MlvcError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    if not all(isinstance(o, str) and is_valid_oid(o) for o in oids):
        return None
    return oids


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


# ------------------------------------------------------------------ on a remote


class _Trees:
    """Tree objects read from the cache, or from the remote where the cache lacks them (both
    checked against their ids): what ``reachable`` walks for a remote's gc."""

    def __init__(self, cache, remote) -> None:
        self.cache, self.remote = cache, remote

    def read_tree_object(self, oid: str) -> bytes:
        from mlvc.errors import ObjectNotFoundError

        try:
            return self.cache.read_tree_object(oid)
        except ObjectNotFoundError:
            pass
        try:
            return self.remote.read_tree_object(oid)
        except ObjectNotFoundError:
            raise ObjectNotFoundError(f"tree {oid} is in neither the cache nor remote {self.remote.name!r}",
                                      [oid]) from None


def _local_size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except FileNotFoundError:
        return 0


def _gc_remote(repo: Repo, name: str, revisions, roots: set[str], remove: bool, only: GcResult | None,
               grace: float, progress) -> GcResult:
    """gc on remote ``name``: what no chosen revision references goes (trees first, so a tree
    that stays never lacks a child), and the remote's run-cache records that name an object
    removed or absent there. The trees are read from the cache, else from the remote.

    A remote has no lock and other clones push to it meanwhile, so three things are kept too
    (``odb.remotelock``): every object written less than ``grace`` seconds ago (by the remote's
    clock); everything reachable from the roots of the pushes done within ``grace`` (a push
    skips what the remote holds, so what a pushed mlvc.lock names may be old); and nothing is
    removed while another clone's push is running (gc's marker is written before it looks)."""
    import time

    from mlvc.odb import transfer
    from mlvc.odb.backends import open_remote
    from mlvc.odb.remotelock import GcMarker, recent_pushes
    from mlvc.ops.remote import resolve

    store = open_remote(resolve(repo, name), repo.root)
    transfer.check_remote(store, "collect garbage on")
    if remove:
        store._writable()
    with repo.lock():
        roots |= _lock_oids(read_lock(repo.root))
        marker = None
        try:
            marker = GcMarker(store).start() if remove else None
            now = marker.now if marker else time.time()
            pushed, expired = recent_pushes(store, now, grace)
            trees = _Trees(repo.odb, store)
            found = reachable(trees, roots)
            listing = store.listing()
            sizes = {oid: size for oid, (size, _) in listing.items()}
            young = {oid for oid, (_, t) in listing.items() if grace and (t is None or now - t < grace)}
            # what a recent push named, and below a young tree all of it (a tree on a remote is complete)
            young |= reachable(trees, (pushed | {o for o in young if is_tree_oid(o)}) - found.oids).oids
            young = (young - found.oids) & set(sizes)
            plan = garbage(store, found.oids | young, sizes)
            objects = plan.oids
            if only is not None:  # what the user confirmed, and still garbage now
                allowed = set(only.objects)
                objects = [o for o in objects if o in allowed]
            size = plan.size if only is None else sum(sizes[o] for o in objects)
            objects.sort(key=lambda o: (not is_tree_oid(o), o))  # trees first
            left = set(sizes) - set(objects)
            runs_store = transfer.RemoteRuns(store)
            runs = []
            for key in sorted(runs_store.keys()):
                oids = transfer.record_oids(runs_store.read(key))
                if oids is not None and any(o not in left for o in oids):
                    runs.append(key)
            if only is not None:
                allowed_runs = set(only.runs)
                runs = [k for k in runs if k in allowed_runs]
            if remove:
                done = 0
                try:
                    for key in runs:
                        runs_store.remove(key)
                    with progress.task(f"Removing objects from {store.name}", len(objects)) as task:
                        for oid in objects:
                            store.remove(oid)
                            done += 1
                            task.advance()
                    for marker_name in expired:
                        marker.markers.remove(marker_name)
                except MlvcError:
                    raise
                except Exception as exc:
                    raise transfer.transfer_error(exc, store, "collect garbage on", done, len(objects)) from None
        except MlvcError:
            raise
        except Exception as exc:
            raise transfer.transfer_error(exc, store, "collect garbage on", 0, 0) from None
        finally:
            if marker is not None:
                marker.release()
    labels = ["workspace"] + [label for label, _ in revisions]
    kept_pushed = len(pushed - found.oids)
    return GcResult(labels, objects, size, sorted(runs), plan.kept + len(plan.oids) - len(objects),
                    sorted(found.missing), remove, store.base, False, store.name, len(young), grace, kept_pushed)
