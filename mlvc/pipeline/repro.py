"""``repro``: run the stages whose inputs changed, in the order of the graph, one at a time.

A stage runs when it never ran, its cmd changed, a dep's id or a param's value
changed, an out changed or is missing (or with ``force``, or ``always_changed``);
otherwise it is skipped. Each finished stage is written to mlvc.lock at once, so
a later failure keeps what the earlier stages recorded and nothing of the failed
one. ``dry_run`` says what would run and why, and changes nothing.

The core never prints: ``on_stage(StageRun)`` is called before a stage's command
runs (``action`` "running") and once its outcome is known, so the CLI can print
between the commands' own output, which goes straight to the terminal.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import partial
from dataclasses import dataclass, field
from typing import Callable, Iterator

from mlvc.errors import MlvcError, StageFailedError, StageInputError, UsageError
from mlvc.formats.lock import read_lock
from mlvc.formats.project import PROJECT_FILE, read_project
from mlvc.ops.checkout import checkout_entries
from mlvc.ops.targets import save, writing
from mlvc.pipeline import run_cache as run_cache_module
from mlvc.pipeline.dag import select, upstream
from mlvc.pipeline.run import (record_stage, remove_outs, run_commands, stop_all,
                               unprotect_persistent)
from mlvc.pipeline.stage import Pipeline, Stage, load_pipeline
from mlvc.pipeline.status import Reason, current_entry, param_values, reasons_to_run
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.scm import git_tracked
from mlvc.workspace import gitignore

RUNNING = "running"
RAN = "ran"
SKIPPED = "skipped"
WOULD_RUN = "would run"
FROZEN = "frozen"
FAILED = "failed"
RESTORED = "restored"  # from the run-cache
WOULD_RESTORE = "would restore"
BLOCKED = "blocked"  # depends on a stage that failed (with keep_going)


@dataclass(frozen=True)
class StageRun:
    name: str
    action: str  # running | ran | restored | skipped | would run | would restore | frozen | failed | blocked
    reasons: tuple[Reason, ...] = ()
    cmd: tuple[str, ...] = ()
    error: str = ""  # for "failed": what went wrong


@dataclass(frozen=True)
class ReproResult:
    stages: list[StageRun] = field(default_factory=list)
    git_files: list[str] = field(default_factory=list)  # what to `git add` next
    dry_run: bool = False
    dropped: list[str] = field(default_factory=list)  # records of stages no longer in mlvc.yaml, removed

    @property
    def ran(self) -> list[str]:
        return [s.name for s in self.stages if s.action in (RAN, RESTORED)]


@contextmanager
def _files(repo: Repo, dry_run: bool):
    if dry_run:  # reads only: no repository lock
        yield read_project(repo.root), read_lock(repo.root)
    else:
        with writing(repo) as both:
            yield both


def _deps_now(repo: Repo, pipeline: Pipeline, stage: Stage, would_run: set[str], single: bool,
              progress) -> tuple[dict, list[Reason]]:
    producer = pipeline.producer()
    deps = {}
    upstream: list[Reason] = []
    for d in stage.deps:
        entry = current_entry(repo, d, progress)
        maker = producer.get(d) or next((producer[p] for p in _parents(d) if p in producer), None)
        if maker is not None and maker in would_run:
            upstream.append(Reason("dep", "upstream", d, maker))
            continue
        if entry is None:
            if maker is not None:
                frozen = pipeline.stages[maker].frozen
                raise StageInputError(f"stage {stage.name!r}: its dep {d!r} is missing",
                                      f"stage {maker!r} makes it but is frozen: `mlvc checkout {d}`, or unfreeze it"
                                      if frozen else f"stage {maker!r} makes it: run `mlvc repro {maker}`")
            raise StageInputError(f"stage {stage.name!r}: its dep {d!r} does not exist and no stage makes it",
                                  f"create it, track it with `mlvc add`, or change the deps in {PROJECT_FILE}")
        deps[d] = entry
    return deps, upstream


def _parents(path: str) -> Iterator[str]:
    parts = path.split("/")
    for i in range(len(parts) - 1, 0, -1):
        yield "/".join(parts[:i])


def drop_stale(pipeline: Pipeline, project, lock) -> tuple[list[str], list[str]]:
    """Take the records of stages that mlvc.yaml no longer has out of ``lock`` (in memory:
    written with the next stage that runs); their outs stop being tracked (the files stay).
    Returns the stages and the outs whose .gitignore line goes when the lock is written."""
    stale = sorted(n for n in lock.stages if n not in pipeline.stages)
    made = set(pipeline.producer()) | set(project.artifacts)
    untracked = []
    for name in stale:
        for p in lock.stages.pop(name).outs:
            if p not in made and not any(p in s.outs for s in lock.stages.values()):
                lock.artifacts.pop(p, None)
                untracked.append(p)
    return stale, untracked


def _check_not_in_git(repo: Repo, stages: list[Stage]) -> None:
    """A cached out must not be a file git tracks (the cache and git would both claim it):
    one ``git ls-files`` for every out of the stages, before any runs."""
    owner = {p: s.name for s in stages if not s.frozen for p in s.cached_outs}
    tracked = git_tracked(repo.root, sorted(owner))
    if tracked:
        path = sorted(tracked)[0]
        raise StageInputError(f"out {path!r} of stage {owner[path]!r} is tracked by git",
                              f"stop tracking it in git first: `git rm -r --cached {path}`, "
                              "or give it `cache: false` in mlvc.yaml")


def _decide(repo: Repo, pipeline: Pipeline, stage: Stage, lock, would_run: set[str], single: bool,
            force: bool, progress) -> tuple[list[Reason], dict, dict | None]:
    """Why ``stage`` runs now (nothing: it is up to date), its params' values, and its deps'
    ids (None when some dep is made by a stage that would run: not known yet)."""
    deps, upstream = _deps_now(repo, pipeline, stage, would_run, single, progress)
    params = param_values(repo, stage)
    reasons = reasons_to_run(repo, stage, lock.stages.get(stage.name), lock, deps, params, force, progress)
    if upstream:  # a dry run: what those deps will be is not known before their stage runs
        later = {u.name for u in upstream}
        reasons = upstream + [r for r in reasons if not (r.what == "dep" and r.name in later)]
        return reasons, params, None
    return reasons, params, deps


def _pull(repo: Repo, targets, cwd, single: bool, downstream: bool, run_cache: bool, fetch, progress) -> None:
    """``pull``: fetch from the default remote the objects the cache lacks of the recorded
    artifacts the chosen stages read or make (and with ``run_cache`` the remote's run-cache
    records), then check out those missing from the workspace (never over a local change).
    ``fetch`` is ``ops.transfer.fetch_entries`` (``mlvc.api`` passes it)."""
    if fetch is None:
        raise UsageError("repro --pull needs a remote, and none was passed in", "run it as `mlvc repro --pull`")
    project, lock = read_project(repo.root), read_lock(repo.root)
    pipeline = load_pipeline(repo.root, project)
    chosen = [pipeline.stages[n] for n in select(pipeline, list(targets or []), repo.root, cwd, single, downstream)]
    paths = {o.path for s in chosen for o in s.outs if o.cache} | {d for s in chosen for d in s.deps}
    entries = [e for a, e in sorted(lock.artifacts.items())
               if any(a == p or p.startswith(a + "/") or a.startswith(p + "/") for p in paths)]
    fetch(repo, entries, run_cache=run_cache, progress=progress)
    absent = [e for e in entries if not os.path.lexists(os.path.join(repo.root, e.path))]
    if absent:
        with repo.lock():
            checkout_entries(repo, absent, force=False, progress=progress)


def repro(repo: Repo, targets: list[str] | None = None, force: bool = False, single: bool = False,
          downstream: bool = False, dry_run: bool = False, cwd: str | None = None, progress=NULL,
          on_stage: Callable[[StageRun], None] | None = None, output_to_stderr: bool = False,
          jobs: int = 1, keep_going: bool = False,
          on_output: Callable[[str, str, bytes], None] | None = None, run_cache: bool = True,
          pull: bool = False, fetch: Callable | None = None) -> ReproResult:
    """Run the stages named by ``targets`` (default: all) and the ones they depend on
    (only the targets with ``single``; the targets and what depends on them with
    ``downstream``) that changed. With ``output_to_stderr`` the commands' stdout goes to
    stderr (for ``--json``, whose stdout is the result).

    ``jobs`` stages run at once, each as soon as the stages it depends on are done
    (``make -j``); with more than one, each output line of a command goes to
    ``on_output(stage, stream, line)`` (when given). The lock is written as each
    stage finishes. A failure stops starting stages, waits for the running ones and
    records them; with ``keep_going`` every stage that does not depend on a failed
    one still runs. Then the (first) failure is raised.

    With ``run_cache`` (and without ``force``), a stage that must run but ran before
    with the same cmd, dep ids and param values, and whose outs are all in the cache,
    gets them checked out instead ("restored"). Every successful run is remembered."""
    if jobs < 1:
        raise UsageError(f"-j must be at least 1, got {jobs}")
    if pull and not dry_run:
        _pull(repo, targets, cwd, single, downstream, run_cache and not force, fetch, progress)
    report = on_stage or (lambda run: None)
    runs: list[StageRun] = []
    git_files: set[str] = set()
    failures: list[MlvcError] = []
    procs: set = set()
    with _files(repo, dry_run) as (project, lock):
        pipeline = load_pipeline(repo.root, project)
        dropped, unignore = ([], []) if dry_run else drop_stale(pipeline, project, lock)
        names = select(pipeline, list(targets or []), repo.root, cwd, single, downstream)
        if not dry_run:
            _check_not_in_git(repo, [pipeline.stages[n] for n in names])
        chosen = set(names)
        needs = {n: ups & chosen for n, ups in upstream(pipeline).items() if n in chosen}
        would_run: set[str] = set()
        done: set[str] = set()  # ran, skipped or frozen: what depends on it may start
        failed: set[str] = set()  # failed, or blocked by a failure
        started: set[str] = set()
        running: dict[Future, tuple[Stage, tuple[Reason, ...], dict]] = {}

        def finish(stage: Stage, reasons: tuple[Reason, ...], params: dict, action: str = RAN) -> None:
            git_files.update(record_stage(repo, stage, project, lock, params, progress))
            repo.odb.flush()
            if action == RAN and run_cache_module.eligible(stage):
                key = run_cache_module.signature(stage, lock.stages[stage.name].deps, params)
                run_cache_module.save(repo, key, [lock.artifacts[p] for p in stage.cached_outs])
            while unignore:  # with the lock that drops the stale stages' outs
                gi = gitignore.unignore(repo.root, unignore.pop())
                if gi:
                    git_files.add(gi)
            save(repo, None, lock)  # at once: a later failure keeps this stage
            done.add(stage.name)
            emit(StageRun(stage.name, action, reasons, stage.commands))

        def cached_run(stage: Stage, params: dict, deps: dict | None):
            """The outs of an earlier run with the same inputs, if the run-cache has them all."""
            if not run_cache or force or stage.always_changed or deps is None or not run_cache_module.eligible(stage):
                return None
            return run_cache_module.lookup(repo, run_cache_module.signature(stage, deps, params), stage)

        def emit(run: StageRun) -> None:
            if run.action != RUNNING:
                runs.append(run)
            report(run)

        def fail(stage: Stage, reasons: tuple[Reason, ...], exc: MlvcError) -> None:
            failed.add(stage.name)
            failures.append(exc)
            emit(StageRun(stage.name, FAILED, reasons, stage.commands, exc.message))

        def start(name: str, pool: ThreadPoolExecutor | None) -> None:
            stage = pipeline.stages[name]
            started.add(name)
            if stage.frozen:
                done.add(name)
                emit(StageRun(name, FROZEN))
                return
            reasons, params, deps = _decide(repo, pipeline, stage, lock, would_run, single, force, progress)
            if not reasons:
                done.add(name)
                emit(StageRun(name, SKIPPED, (), stage.commands))
                return
            outs = cached_run(stage, params, deps)
            if dry_run:
                would_run.add(name)  # restored or run: what depends on it cannot be judged yet
                done.add(name)
                emit(StageRun(name, WOULD_RUN if outs is None else WOULD_RESTORE, tuple(reasons), stage.commands))
                return
            if outs is not None:
                remove_outs(repo, stage)
                try:
                    checkout_entries(repo, outs, force=True, progress=progress)
                except (MlvcError, OSError) as exc:  # an object went meanwhile ...: run the command instead
                    progress.warn(f"stage '{name}': not restored from the run-cache ({exc}); running it")
                else:
                    finish(stage, tuple(reasons), params, RESTORED)
                    return
            emit(StageRun(name, RUNNING, tuple(reasons), stage.commands))
            remove_outs(repo, stage)
            unprotect_persistent(repo, stage, lock, progress)
            if pool is None:
                try:
                    run_commands(repo, stage, output_to_stderr)
                    finish(stage, tuple(reasons), params)
                except MlvcError as exc:  # the command failed, or recording its outs did
                    fail(stage, tuple(reasons), exc)
                return
            lines = partial(on_output, name) if on_output is not None else None
            future = pool.submit(run_commands, repo, stage, output_to_stderr, lines, procs)
            running[future] = (stage, tuple(reasons), params)

        def schedule(pool: ThreadPoolExecutor | None) -> None:
            progressed = True
            while progressed and (keep_going or not failures):
                progressed = False
                for name in names:
                    if name in started or len(running) >= jobs:
                        continue
                    if needs[name] & failed:
                        started.add(name)
                        failed.add(name)
                        up = sorted(needs[name] & failed)[0]
                        emit(StageRun(name, BLOCKED, (Reason("stage", "upstream failed", stage=up),),
                                      pipeline.stages[name].commands))
                        progressed = True
                    elif needs[name] <= done:
                        try:
                            start(name, pool)
                        except MlvcError as exc:  # a missing dep or param: like a failing stage
                            fail(pipeline.stages[name], (), exc)
                        progressed = True
                    if not keep_going and failures:
                        return

        pool = ThreadPoolExecutor(jobs, thread_name_prefix="mlvc-stage") if jobs > 1 and not dry_run else None
        try:
            schedule(pool)
            while running:
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in finished:
                    stage, reasons, params = running.pop(future)
                    try:
                        future.result()
                        finish(stage, reasons, params)
                    except MlvcError as exc:  # the command failed, or recording its outs did
                        fail(stage, reasons, exc)
                schedule(pool)
        except BaseException:
            stop_all(procs)
            raise
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
    changed = sorted(git_files)
    if any(r.action in (RAN, RESTORED) for r in runs):
        changed.append("mlvc.lock")
    saved = any(r.action in (RAN, RESTORED) for r in runs)  # the lock was written, with the drops
    result = ReproResult(runs, changed if saved else [], dry_run, dropped if saved else [])
    if failures:
        error = failures[0]
        if len(failures) > 1:
            others = ", ".join(repr(getattr(f, "stage", "?")) for f in failures[1:])
            error = StageFailedError(f"{error.message} (and stages {others} failed too)", getattr(error, "stage", ""),
                                     getattr(error, "exit_code", None), error.hint)
        error.result = result  # what did run, for --json
        raise error
    return result
