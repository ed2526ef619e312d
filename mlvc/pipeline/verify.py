"""``verify``: re-run the pipeline from scratch in a fresh copy of the repository at a git
revision, and check that every out comes out bit for bit as that revision's mlvc.lock
records it (the CI check).

The copy is a detached ``git worktree`` in a temp folder (``scm.worktree``) whose
``.mlvc/config.local`` points at this repository's cache (and keeps the user's local
settings), so the inputs that no stage makes (artifacts added by hand) are checked out
from the cache, and what the run stores stays there. The stages run through ``repro`` on a
Repo opened at the copy: forced, without the run-cache, in the order of the graph, ``jobs``
at a time. The user's workspace, mlvc.lock, branch and index are never touched; the copy
is removed on the way out, also after Ctrl-C.

Anything that keeps the stages from running (a missing input or object, a failing command,
a stage that the revision's mlvc.lock never recorded, a bad revision) is a ``VerifyError``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

from mlvc.config import LOCAL_MODE, trusted_cache_dir, write_file
from mlvc.errors import MlvcError, ObjectNotFoundError, StageFailedError, VerifyError
from mlvc.formats.lock import Lock, LockEntry, StageRecord, read_lock
from mlvc.formats.project import read_project
from mlvc.objects.hashing import is_tree_oid
from mlvc.objects.tree import meta_oid
from mlvc.ops.checkout import checkout_entries
from mlvc.pipeline.dag import select
from mlvc.pipeline.repro import StageRun, repro
from mlvc.pipeline.stage import Pipeline, Stage, load_pipeline
from mlvc.progress import NULL
from mlvc.repo import MLVC_DIR, Repo
from mlvc.scm import worktree
from mlvc.workspace.compare import diff, executable

REPRODUCED = "reproduced"
DIFFERS = "differs"
FROZEN = "frozen"  # never runs: its outs are checked out as recorded, not verified


@dataclass(frozen=True)
class FileDiff:
    """One file of a folder out that differs: ``change`` is added, modified, deleted or mode."""

    path: str  # repo-relative
    change: str
    recorded: str | None
    reproduced: str | None


@dataclass(frozen=True)
class OutCheck:
    path: str
    recorded: str | None  # the id at the revision (None: the record has no such out)
    reproduced: str | None
    cached: bool = True
    files: tuple[FileDiff, ...] | None = None  # a folder that differs: its files (None: not known)

    @property
    def same(self) -> bool:
        return self.recorded is not None and self.recorded == self.reproduced


@dataclass(frozen=True)
class StageCheck:
    name: str
    result: str  # reproduced | differs | frozen
    outs: tuple[OutCheck, ...] = ()
    stale: tuple[str, ...] = ()  # what ran differs from the record too (a dep, a param, the cmd)


@dataclass(frozen=True)
class VerifyResult:
    rev: str
    commit: str
    root: str  # the user's repository (paths are relative to it)
    stages: list[StageCheck] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return all(s.result != DIFFERS for s in self.stages)

    @property
    def differing(self) -> list[StageCheck]:
        return [s for s in self.stages if s.result == DIFFERS]


def _short(commit: str) -> str:
    return commit[:10]


def _local_config(repo: Repo, wt_root: str) -> None:
    """The copy's ``.mlvc/config.local``: the user's local settings, with ``cache.dir`` this
    repository's cache (as an absolute path, trusted because the user's own config chose it)."""
    values = dict(repo.config.local)
    values["cache.dir"] = trusted_cache_dir(repo.config, repo.root)
    write_file(os.path.join(wt_root, MLVC_DIR, "config.local"), values, mode=LOCAL_MODE)


def _inputs(pipeline: Pipeline, names: list[str], lock: Lock) -> list[tuple[LockEntry, str]]:
    """The recorded artifacts the chosen stages read that none of them makes, each with the
    stage that needs it: deps added by hand (or a folder artifact a dep lies in, or the
    artifacts inside a dep folder), and the outs of frozen stages (which never run) that
    another stage reads."""
    chosen = [pipeline.stages[n] for n in names]
    made = {o.path for s in chosen if not s.frozen for o in s.outs}

    def is_made(path: str) -> bool:
        return any(path == m or path.startswith(m + "/") for m in made)

    wanted: dict[str, tuple[LockEntry, str]] = {}
    for s in chosen:
        if s.frozen:
            continue
        for p in (d for d in s.deps if not is_made(d)):
            for a, entry in lock.artifacts.items():
                if (a == p or p.startswith(a + "/") or a.startswith(p + "/")) and not is_made(a):
                    wanted.setdefault(a, (entry, s.name))
    return [wanted[a] for a in sorted(wanted)]


def _check_out_inputs(wt: Repo, inputs: list[tuple[LockEntry, str]], where: str, progress) -> None:
    with wt.lock():
        for entry, stage in inputs:
            try:
                checkout_entries(wt, [entry], force=True, progress=progress)
            except ObjectNotFoundError as exc:
                first = f"first: {exc.oids[0]}" if exc.oids else entry.oid
                raise VerifyError(
                    f"input {entry.path!r} of stage {stage!r} at {where} is not in the cache "
                    f"({len(exc.oids)} object(s) missing, {first})",
                    "push it from where it was added (`mlvc push`) to the default remote, or copy that cache "
                    "(or point cache.dir at it), then run verify again; nothing in your workspace was changed") from exc


def _fetch_inputs(wt: Repo, entries: list[LockEntry], base: str, fetch, progress) -> None:
    """The inputs' objects the cache lacks, fetched from the default remote (the revision's
    .mlvc/config, or the user's local one) when one is set: a CI job is `git clone`, `mlvc verify`.
    ``fetch`` is ``ops.transfer.fetch_entries`` (``mlvc.api`` passes it; None: no fetching)."""
    if fetch is not None:
        fetch(wt, entries, required=False, base=base, progress=progress)


def _check_recorded(pipeline: Pipeline, names: list[str], lock: Lock, where: str) -> None:
    never = [n for n in names if not pipeline.stages[n].frozen and n not in lock.stages]
    if never:
        raise VerifyError(f"stage {never[0]!r} has no record in mlvc.lock at {where}" +
                          (f" (nor {', '.join(repr(n) for n in never[1:])})" if len(never) > 1 else ""),
                          "run `mlvc repro` and commit mlvc.lock; verify checks what mlvc.lock records")


def _file_diffs(odb, path: str, recorded: str, reproduced: str) -> tuple[FileDiff, ...] | None:
    """The files that differ between two folder trees, both read from the cache (None when
    the recorded tree is not there)."""
    if not (odb.exists(recorded) and odb.exists(reproduced)):
        return None
    new = list(odb.walk_tree(reproduced))
    changes = diff(path, [p for p, _ in new], [meta_oid(m) for p, m in new], odb.walk_tree(recorded),
                   [executable(m) for _, m in new])
    return tuple(FileDiff(c.path, c.kind, c.old_oid, c.new_oid) for c in changes)


def _out_checks(wt: Repo, stage: Stage, old: StageRecord, old_lock: Lock, new_lock: Lock) -> list[OutCheck]:
    new = new_lock.stages.get(stage.name)
    checks = []
    for o in stage.outs:
        if o.cache:
            was = old_lock.artifacts.get(o.path) if o.path in old.outs else None
            now = new_lock.artifacts.get(o.path) if new is not None and o.path in new.outs else None
        else:
            was = old.uncached_outs.get(o.path)
            now = new.uncached_outs.get(o.path) if new is not None else None
        recorded, reproduced = (was.oid if was else None), (now.oid if now else None)
        files = None
        if o.cache and recorded and reproduced and recorded != reproduced and is_tree_oid(recorded) \
                and is_tree_oid(reproduced):
            files = _file_diffs(wt.odb, o.path, recorded, reproduced)
        checks.append(OutCheck(o.path, recorded, reproduced, o.cache, files))
    return checks


def _stale(old: StageRecord, new: StageRecord | None) -> list[str]:
    """How what ran differs from the record at the revision (a record made before a change
    that was committed without `mlvc repro`): the cmd, a dep's id, a param's value."""
    if new is None:
        return []
    notes = ["cmd changed"] if old.cmd != new.cmd else []
    for d in sorted(set(old.deps) | set(new.deps)):
        if d not in old.deps:
            notes.append(f"dep {d} is new")
        elif d not in new.deps:
            notes.append(f"dep {d} was removed")
        elif old.deps[d].oid != new.deps[d].oid:
            notes.append(f"dep {d} changed")
    for file in sorted(set(old.params) | set(new.params)):
        then, now = old.params.get(file, {}), new.params.get(file, {})
        for key in sorted(set(then) | set(now)):
            if then.get(key) != now.get(key) or key not in then or key not in now:
                notes.append(f"param {file}:{key} changed")
    return notes


def _could_not_run(exc: MlvcError, where: str) -> VerifyError:
    if isinstance(exc, VerifyError):
        return exc
    hint = exc.hint
    if isinstance(exc, StageFailedError):
        hint = "fix the stage and commit; nothing in your workspace was changed"
    return VerifyError(f"could not verify {where}: {exc.message}", hint)


def verify(repo: Repo, targets: list[str] | None = None, rev: str = "HEAD", jobs: int = 1, cwd: str | None = None,
           progress=NULL, on_stage: Callable[[StageRun], None] | None = None, output_to_stderr: bool = False,
           on_output: Callable[[str, str, bytes], None] | None = None,
           on_start: Callable[[str, str], None] | None = None, fetch: Callable | None = None) -> VerifyResult:
    """Re-run the stages named by ``targets`` (default: all) and the ones they depend on, at
    ``rev``, in a temporary worktree, and compare each out's id with mlvc.lock at ``rev``.

    ``on_start(rev, commit)`` is called once the revision is known; ``on_stage``,
    ``on_output`` and ``output_to_stderr`` are passed on to ``repro``."""
    where = rev
    try:
        git_root = worktree.toplevel(repo.root)
        commit = worktree.resolve_commit(git_root, rev)
        where = f"{rev} ({_short(commit)})"
        inner = os.path.relpath(os.path.realpath(repo.root), os.path.realpath(git_root))
        here = os.path.relpath(os.path.realpath(cwd or os.getcwd()), os.path.realpath(repo.root))
        if on_start is not None:
            on_start(rev, commit)
        with worktree.temporary_worktree(git_root, commit) as top:
            wt_root = os.path.normpath(os.path.join(top, inner))
            if not os.path.isdir(os.path.join(wt_root, MLVC_DIR)):
                raise VerifyError(f"{where} has no {MLVC_DIR} folder: mlvc was not set up in that commit",
                                  "verify a revision made after `mlvc init`")
            _local_config(repo, wt_root)
            wt = Repo(wt_root)
            try:
                return _verify_in(repo, wt, rev, commit, where, targets, jobs,
                                  None if here.startswith("..") else os.path.join(wt_root, here),
                                  progress, on_stage, output_to_stderr, on_output, fetch)
            finally:
                wt.close()
    except (MlvcError, OSError) as exc:
        if isinstance(exc, OSError):
            exc = MlvcError(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        raise _could_not_run(exc, where) from exc


def _verify_in(repo: Repo, wt: Repo, rev: str, commit: str, where: str, targets, jobs: int, cwd, progress,
               on_stage, output_to_stderr: bool, on_output, fetch=None) -> VerifyResult:
    old_lock = read_lock(wt.root)
    pipeline = load_pipeline(wt.root, read_project(wt.root))
    names = select(pipeline, list(targets or []), wt.root, cwd)
    _check_recorded(pipeline, names, old_lock, where)
    from mlvc.ops.targets import all_artifacts  # the one tracked set: push sends only these

    tracked = set(all_artifacts(read_project(wt.root), old_lock))
    inputs = [i for i in _inputs(pipeline, names, old_lock) if i[0].path in tracked]
    _fetch_inputs(wt, [e for e, _ in inputs], repo.root, fetch, progress)
    _check_out_inputs(wt, inputs, where, progress)
    if names:
        repro(wt, list(targets or []), force=True, cwd=cwd, progress=progress, on_stage=on_stage,
              output_to_stderr=output_to_stderr, jobs=jobs, on_output=on_output, run_cache=False)
    new_lock = read_lock(wt.root)
    checks = []
    for name in names:
        stage = pipeline.stages[name]
        if stage.frozen:
            checks.append(StageCheck(name, FROZEN))
            continue
        old = old_lock.stages[name]
        outs = _out_checks(wt, stage, old, old_lock, new_lock)
        result = REPRODUCED if all(o.same for o in outs) else DIFFERS
        checks.append(StageCheck(name, result, tuple(outs), tuple(_stale(old, new_lock.stages.get(name)))))
    return VerifyResult(rev, commit, repo.root, checks)
