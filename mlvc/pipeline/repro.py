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

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from mlvc.formats.lock import read_lock
from mlvc.formats.project import PROJECT_FILE, read_project
from mlvc.ops.targets import save, writing
from mlvc.pipeline.dag import select
from mlvc.pipeline.run import record_stage, remove_outs, run_commands
from mlvc.pipeline.stage import Pipeline, Stage, load_pipeline
from mlvc.pipeline.status import Reason, StageInputError, current_entry, param_values, reasons_to_run
from mlvc.progress import NULL
from mlvc.repo import Repo

RUNNING = "running"
RAN = "ran"
SKIPPED = "skipped"
WOULD_RUN = "would run"
FROZEN = "frozen"


@dataclass(frozen=True)
class StageRun:
    name: str
    action: str  # running | ran | skipped | would run | frozen
    reasons: tuple[Reason, ...] = ()
    cmd: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReproResult:
    stages: list[StageRun] = field(default_factory=list)
    git_files: list[str] = field(default_factory=list)  # what to `git add` next
    dry_run: bool = False

    @property
    def ran(self) -> list[str]:
        return [s.name for s in self.stages if s.action == RAN]


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
                raise StageInputError(f"stage {stage.name!r}: its dep {d!r} is missing",
                                      f"it is made by stage {maker!r}: run `mlvc repro {maker}`" if single
                                      else f"stage {maker!r} makes it: `mlvc checkout` or `mlvc repro {maker} -f`")
            raise StageInputError(f"stage {stage.name!r}: its dep {d!r} does not exist and no stage makes it",
                                  f"create it, track it with `mlvc add`, or change the deps in {PROJECT_FILE}")
        deps[d] = entry
    return deps, upstream


def _parents(path: str) -> Iterator[str]:
    parts = path.split("/")
    for i in range(len(parts) - 1, 0, -1):
        yield "/".join(parts[:i])


def repro(repo: Repo, targets: list[str] | None = None, force: bool = False, single: bool = False,
          downstream: bool = False, dry_run: bool = False, cwd: str | None = None, progress=NULL,
          on_stage: Callable[[StageRun], None] | None = None, output_to_stderr: bool = False) -> ReproResult:
    """Run the stages named by ``targets`` (default: all) and the ones they depend on
    (only the targets with ``single``; the targets and what depends on them with
    ``downstream``) that changed. With ``output_to_stderr`` the commands' stdout goes to
    stderr (for ``--json``, whose stdout is the result)."""
    report = on_stage or (lambda run: None)
    runs: list[StageRun] = []
    git_files: set[str] = set()
    with _files(repo, dry_run) as (project, lock):
        pipeline = load_pipeline(repo.root, project)
        names = select(pipeline, list(targets or []), repo.root, cwd, single, downstream)
        would_run: set[str] = set()
        for name in names:
            stage = pipeline.stages[name]
            if stage.frozen:
                run = StageRun(name, FROZEN)
                runs.append(run)
                report(run)
                continue
            deps, upstream = _deps_now(repo, pipeline, stage, would_run, single, progress)
            params = param_values(repo, stage)
            reasons = upstream + reasons_to_run(repo, stage, lock.stages.get(name), lock, deps, params, force,
                                                progress)
            if upstream:  # a dry run: what those deps will be is not known before their stage runs
                later = {u.name for u in upstream}
                reasons = upstream + [r for r in reasons[len(upstream):] if not (r.what == "dep" and r.name in later)]
            if not reasons:
                run = StageRun(name, SKIPPED, (), stage.commands)
                runs.append(run)
                report(run)
                continue
            if dry_run:
                would_run.add(name)
                run = StageRun(name, WOULD_RUN, tuple(reasons), stage.commands)
                runs.append(run)
                report(run)
                continue
            report(StageRun(name, RUNNING, tuple(reasons), stage.commands))
            remove_outs(repo, stage)
            run_commands(repo, stage, output_to_stderr)
            git_files.update(record_stage(repo, stage, project, lock, params, progress))
            repo.odb.flush()
            save(repo, None, lock)  # at once: a later failure keeps this stage
            run = StageRun(name, RAN, tuple(reasons), stage.commands)
            runs.append(run)
            report(run)
    changed = sorted(git_files)
    if any(r.action == RAN for r in runs):
        changed.append("mlvc.lock")
    return ReproResult(runs, changed, dry_run)
