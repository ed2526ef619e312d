"""Running one stage: remove its outs (unless ``persist``), run its commands through the
shell with the terminal's stdin, stdout and stderr (the output streams live; mlvc reads
none of it), check that every out was made, and record it: cached outs are stored and
git-ignored as ``mlvc add`` does, every id goes into a ``StageRecord``."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import threading
import time
from typing import Any

from mlvc.errors import StageFailedError
from mlvc.formats.lock import Lock, LockEntry, StageRecord
from mlvc.formats.project import Project
from mlvc.ops.record import record_all
from mlvc.ops.targets import check_inside
from mlvc.ops.unprotect import unprotect_artifact
from mlvc.pipeline.stage import Stage
from mlvc.pipeline.status import current_entry
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.workspace import gitignore


def _writable(func, path, _exc) -> None:
    """rmtree's retry: a read-only folder (hardlink mode) is made writable, then emptied."""
    os.chmod(os.path.dirname(path), stat.S_IRWXU)
    func(path)


def remove_outs(repo: Repo, stage: Stage) -> None:
    """Delete the outs that are not ``persist``, so a stale file cannot leak into a new result."""
    outs = [o.path for o in stage.outs if not o.persist]
    for rel in outs:  # every path is checked before the first is removed
        check_inside(repo, rel)
    for rel in outs:
        path = os.path.join(repo.root, rel)
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)
        elif os.path.isdir(path):
            shutil.rmtree(path, onerror=_writable)


def _run(cmd: str, cwd: str, env: dict, stdout, on_output=None, procs: set | None = None) -> int:
    """Run one command; on Ctrl-C (or any exception) stop it and everything it started.

    From a terminal the command stays in mlvc's process group, so it can read the
    terminal, and Ctrl-C reaches the whole group at once. Otherwise (CI, a script), or
    when its output goes to ``on_output(stream, line)`` (parallel runs: no terminal
    input, lines read here), it gets a process group of its own, which is interrupted
    as a whole. What has not ended ``STOP_SECONDS`` after the interrupt is killed. A
    command started in a worker thread is in ``procs`` while it runs, for ``stop_all``."""
    own_group = on_output is not None or not _isatty(0)
    piped = on_output is not None
    proc = subprocess.Popen(cmd, shell=True, cwd=cwd, env=env, process_group=0 if own_group else None,
                            stdin=subprocess.DEVNULL if piped else None,
                            stdout=subprocess.PIPE if piped else stdout, stderr=subprocess.PIPE if piped else None)
    if procs is not None:
        procs.add(proc)
    readers = []
    if piped:
        for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            t = threading.Thread(target=_pump, args=(pipe, name, on_output), daemon=True)
            t.start()
            readers.append(t)
    try:
        code = proc.wait()
        for t in readers:
            t.join()
        return code
    except BaseException:
        _stop(proc, own_group)
        raise
    finally:
        if procs is not None:
            procs.discard(proc)


def _pump(pipe, name: str, on_output) -> None:
    with pipe:
        for line in iter(pipe.readline, b""):
            on_output(name, line)


def stop_all(procs: set) -> None:
    """Stop the commands still running in worker threads (after Ctrl-C in the main thread):
    each process group is interrupted, and killed if it has not ended within ``STOP_SECONDS``."""
    running = list(procs)
    for proc in running:
        _signal(proc, signal.SIGINT, True)
    deadline = time.monotonic() + STOP_SECONDS
    for proc in running:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            _signal(proc, signal.SIGKILL, True)
            proc.wait()
        _signal(proc, signal.SIGKILL, True)  # what the command started and left running


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


STOP_SECONDS = 5.0


def _signal(proc: subprocess.Popen, sig: int, group: bool) -> None:
    try:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass


def _stop(proc: subprocess.Popen, group: bool) -> None:
    if group:  # in mlvc's group, the terminal's Ctrl-C reached the command already
        _signal(proc, signal.SIGINT, True)
    try:
        proc.wait(STOP_SECONDS)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):  # still running, or a second Ctrl-C
        _signal(proc, signal.SIGKILL, False)
        proc.wait()
    if group:
        _signal(proc, signal.SIGKILL, True)  # what the command started and left running


def unprotect_persistent(repo: Repo, stage: Stage, lock: Lock, progress=NULL) -> None:
    """With hardlink or symlink first in ``cache.type``, a ``persist`` out is a link into the
    cache: make it a private copy before the command writes to it, or it would write the cache."""
    if repo.config.link_types[0] not in ("hardlink", "symlink"):
        return
    for o in stage.outs:
        if o.persist and o.cache and os.path.lexists(os.path.join(repo.root, o.path)):
            unprotect_artifact(repo, o.path, lock.artifacts.get(o.path), progress)


def run_commands(repo: Repo, stage: Stage, output_to_stderr: bool = False, on_output=None,
                 procs: set | None = None) -> None:
    """Run each command of the stage in order, from the repository root or its wdir; with
    ``output_to_stderr`` their stdout goes where mlvc's stderr goes; with
    ``on_output(stream, line)`` each line of their output goes there instead."""
    cwd = os.path.join(repo.root, stage.wdir) if stage.wdir else repo.root
    if not os.path.isdir(cwd):
        raise StageFailedError(f"stage {stage.name!r}: its wdir {stage.wdir!r} is not a folder", stage.name)
    env = dict(os.environ, MLVC_ROOT=repo.root, MLVC_STAGE=stage.name)
    for cmd in stage.commands:
        code = _run(cmd, cwd, env, 2 if output_to_stderr else None, on_output, procs)
        if code:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            raise StageFailedError(f"stage {stage.name!r} failed: `{cmd}` {how}", stage.name, code,
                                   "fix the command and run `mlvc repro` again; mlvc.lock keeps "
                                   "the stages that finished")


def record_stage(repo: Repo, stage: Stage, project: Project, lock: Lock,
                 params: dict[str, dict[str, Any]], progress=NULL) -> list[str]:
    """Record the stage that just ran into ``lock`` (not yet written); return the
    .gitignore files that changed."""
    for o in stage.outs:
        if not os.path.lexists(os.path.join(repo.root, o.path)):
            raise StageFailedError(f"stage {stage.name!r} did not make its out {o.path!r}", stage.name,
                                   hint="the command must write every out declared in mlvc.yaml")
    cached = list(stage.cached_outs)
    entries, _ = record_all(repo, cached, lock.artifacts, progress)
    uncached: dict[str, LockEntry] = {}
    for p in stage.uncached_outs:
        entry = current_entry(repo, p, progress)
        assert entry is not None  # checked above
        uncached[p] = entry
    deps: dict[str, LockEntry] = {}
    for d in stage.deps:
        entry = current_entry(repo, d, progress)
        if entry is None:
            raise StageFailedError(f"stage {stage.name!r}: its dep {d!r} is gone after it ran", stage.name)
        deps[d] = entry
    changed: list[str] = []
    old = lock.stages.get(stage.name)
    if old is not None:  # outs it no longer makes stop being tracked
        for p in old.outs:
            if p not in cached and p not in project.artifacts and not _out_of_another(lock, stage.name, p):
                lock.artifacts.pop(p, None)
                gi = gitignore.unignore(repo.root, p)
                if gi:
                    changed.append(gi)
    for entry in entries:
        lock.artifacts[entry.path] = entry
        gi = gitignore.ignore(repo.root, entry.path)
        if gi:
            changed.append(gi)
    lock.stages[stage.name] = StageRecord(stage.name, stage.recorded_cmd, deps, params, sorted(cached), uncached)
    return changed


def _out_of_another(lock: Lock, name: str, path: str) -> bool:
    return any(path in s.outs for n, s in lock.stages.items() if n != name)
