"""``restore``: put the version of an artifact recorded at a git revision into the workspace.

Like ``git restore --source REV PATH``: the workspace changes, ``mlvc.lock`` does not (``mlvc
status`` then shows the artifact modified, and ``mlvc commit`` records it). PATH is an
artifact recorded at REV, a folder above artifacts, or a file or folder inside a tracked
folder. The files are written by checkout's own ``checkout_entries`` (passed in by
``mlvc.api``: history imports no verb of ``ops/``), so the safety is checkout's: nothing is
touched when an object is missing, and local changes that are not in the cache are refused
without ``force``. Objects the cache lacks are fetched from the default remote (``fetch``,
passed in too) when one is configured.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mlvc.errors import ArtifactNotFoundError, CheckoutConflictError, ObjectNotFoundError
from mlvc.formats.lock import LOCK_FILE, LockEntry, read_lock
from mlvc.formats.project import read_project
from mlvc.history.diff import _lock_at
from mlvc.ops.targets import Target, all_artifacts, check_inside, check_part, to_repo_path
from mlvc.progress import NULL
from mlvc.repo import Repo

DEFAULT_REMOTE = "core.remote"


@dataclass
class RestoreResult:
    rev: str
    commit: str  # the full sha of ``rev``
    paths: list[str]  # the repo paths restored (artifacts, or parts of folder artifacts)
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    fetched: int = 0  # objects downloaded from the default remote first
    remote: str | None = None


def _select(entries: dict[str, LockEntry], rel: str, rev: str) -> list[tuple[LockEntry, str]]:
    """(entry, inner) for what ``rel`` names in the lock at ``rev``."""
    if rel in entries:
        return [(entries[rel], "")]
    below = [e for p, e in sorted(entries.items()) if rel in ("", ".") or p.startswith(rel + "/")]
    if below:
        return [(e, "") for e in below]
    owner = next((e for p, e in entries.items() if rel.startswith(p + "/")), None)
    if owner is not None:
        if not owner.is_dir:
            raise ArtifactNotFoundError(f"{rel} cannot be inside {owner.path}, which is a file at {rev}",
                                        f"name {owner.path} instead")
        return [(owner, rel[len(owner.path) + 1:])]
    raise ArtifactNotFoundError(f"{rel} is not recorded in {LOCK_FILE} at {rev}",
                                f"see `mlvc ls --rev {rev}` or `mlvc log {rel}`")


def restore(repo: Repo, path: str, rev: str, force: bool = False, cwd: str | None = None, progress=NULL,
            checkout=None, fetch=None) -> RestoreResult:
    """Write what ``path`` (relative to ``cwd``) was at ``rev`` into the workspace; mlvc.lock
    is left as it is. ``checkout`` is ``ops.checkout.checkout_entries``, ``fetch`` is
    ``ops.transfer.fetch`` (``mlvc.api`` passes them)."""
    rel = to_repo_path(repo, path, cwd)
    sha = repo.scm.resolve(rev)
    lock_then = _lock_at(repo, sha, rev)
    chosen = _select(lock_then.artifacts, rel, rev)
    for entry, inner in chosen:
        check_inside(repo, entry.path)
        if inner:
            check_part(repo, Target(entry.path, inner))
    entries = [e for e, _ in chosen]
    parts = [inner for _, inner in chosen]
    result = RestoreResult(rev, sha, [f"{e.path}/{i}" if i else e.path for e, i in chosen])
    tracked = set(all_artifacts(read_project(repo.root), read_lock(repo.root)))
    for e in entries:
        if e.path not in tracked:
            progress.warn(f"{e.path} is not tracked now (not in mlvc.yaml); `mlvc add {e.path}` tracks it again")
    try:
        done = _checkout(repo, checkout, entries, parts, force, progress)
    except ObjectNotFoundError as exc:
        remote = repo.config.get(DEFAULT_REMOTE)
        if not remote or fetch is None:
            raise ObjectNotFoundError(
                f"{len(exc.oids)} object(s) of {rel} at {rev} are not in the cache (first: {exc.oids[0]})",
                exc.oids, f"nothing was changed; add a remote (`mlvc remote add --default NAME URL`) and run "
                f"`mlvc fetch --rev {rev} {rel}`, or copy the cache from where the data was added") from None
        # paths as fetch reads them: relative to cwd
        named = os.path.relpath(os.path.join(repo.root, rel), cwd or os.getcwd()) if rel else "."
        got = fetch(repo, [named], revs=[sha], cwd=cwd, progress=progress)
        result.fetched, result.remote = got.transferred, got.remote
        done = _checkout(repo, checkout, entries, parts, force, progress)
    result.added, result.modified, result.deleted = done.added, done.modified, done.deleted
    result.unchanged = done.unchanged
    return result


def _checkout(repo: Repo, checkout, entries, parts, force, progress):
    with repo.lock():
        try:
            return checkout(repo, entries, force, progress, parts=parts)
        except CheckoutConflictError as exc:
            shown = ", ".join(exc.paths[:5]) + (f" and {len(exc.paths) - 5} more" if len(exc.paths) > 5 else "")
            raise CheckoutConflictError(
                f"restore would overwrite or delete local changes that are not in the cache: {shown}", exc.paths,
                "nothing was changed; record them with `mlvc commit`, or run with --force to discard them") from None
