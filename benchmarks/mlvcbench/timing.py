"""Run one command as a whole process; measure wall time and peak RSS.

Peak RSS comes from the kernel's accounting of the child: ``wait4``
returns the ``rusage`` of the process waited for, and its ``ru_maxrss``
(KiB on Linux) is the largest high-water mark among that process and the
children it waited for (e.g. a ``git`` spawned by the tool), not their sum.

One trap: Linux carries the high-water mark of the memory a process had
*before* ``exec`` into ``ru_maxrss``, and a child forked from this runner
starts with the runner's memory (tens of MiB, hundreds with a million-file
workload in memory). So the tool is launched through GNU ``time``, a small C
program that forks it and reports the ``wait4`` figure of its own child;
without GNU time the runner falls back to its own ``wait4`` figure, which is
then an upper bound.

"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    seconds: float | None  # None when the command timed out
    max_rss_kib: int
    returncode: int
    timed_out: bool = False
    background: float = 0.0  # CPU cores used by other processes meanwhile


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_busy_seconds() -> float:
    """CPU time spent by the whole machine (all cores, all processes) so far."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return 0.0
    v = [int(x) for x in fields]
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    return (sum(v[:8]) - idle) / _TICK


def io_stall_seconds() -> float:
    """Time some task was stalled on I/O (Linux PSI, /proc/pressure/io), 0 if unknown."""
    try:
        with open("/proc/pressure/io") as f:
            some = f.readline().split()
        return int(some[4].split("=")[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


def wait_for_quiet(max_wait: float, threshold: float = 0.25, io_threshold: float = 0.02,
                   window: float = 0.5) -> float:
    """Wait until other processes use less than ``threshold`` cores and stall on
    I/O less than ``io_threshold`` of the time over ``window`` seconds, at most
    ``max_wait`` seconds. Returns the waiting time."""
    start = time.monotonic()
    while True:
        b0, i0 = cpu_busy_seconds(), io_stall_seconds()
        time.sleep(window)
        load = (cpu_busy_seconds() - b0) / window
        io = (io_stall_seconds() - i0) / window
        if (load < threshold and io < io_threshold) or time.monotonic() - start >= max_wait:
            return time.monotonic() - start


class CommandFailed(RuntimeError):
    pass


def _gnu_time() -> str | None:
    path = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    if not path:
        return None
    try:
        import subprocess as sp
        r = sp.run([path, "-f", "%M", "true"], capture_output=True, text=True, timeout=10)
        int(r.stderr.strip().splitlines()[-1])
        return path
    except (OSError, ValueError, IndexError, sp.SubprocessError):
        return None


GNU_TIME = _gnu_time()


def run_timed(
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    timeout: float | None = None,
    ok_codes: tuple[int, ...] = (0,),
) -> Sample:
    """Run ``argv`` in ``cwd``; stdout/stderr go to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # Start every timed command with no dirty pages left by the untimed set-up
    # (copies of the workload): a tool that syncs (mlvc's core.fsync=batch
    # calls syncfs once) must pay for its own writes, not for ours.
    os.sync()
    busy0 = cpu_busy_seconds()
    rss_fd, rss_file = tempfile.mkstemp(prefix="mlvcbench-rss-")
    os.close(rss_fd)
    launch = [GNU_TIME, "-f", "%M", "-o", rss_file, *argv] if GNU_TIME else argv
    with open(log_path, "ab") as log:
        log.write(f"$ {' '.join(argv)}   (cwd={cwd})\n".encode())
        log.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(
            launch,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        killed = threading.Event()

        def _kill() -> None:
            killed.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, _kill) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - start
        finally:
            if timer:
                timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        maxrss = rusage.ru_maxrss
        try:
            with open(rss_file) as f:
                lines = f.read().split()
            if GNU_TIME and lines and lines[-1].isdigit():
                maxrss = int(lines[-1])
        finally:
            os.unlink(rss_file)
        own = rusage.ru_utime + rusage.ru_stime
        # /proc/stat counts in clock ticks (10 ms): meaningless for very short commands
        background = (min(os.cpu_count() or 1, max(0.0, (cpu_busy_seconds() - busy0 - own) / elapsed))
                      if elapsed >= 0.1 else 0.0)
        log.write(f"# exit {proc.returncode}, {elapsed:.3f} s, maxrss {maxrss} KiB, "
                  f"cpu {own:.2f} s, background {background:.2f} cores\n\n".encode())
    if killed.is_set():
        return Sample(None, maxrss, proc.returncode, timed_out=True, background=background)
    if proc.returncode not in ok_codes:
        raise CommandFailed(
            f"{' '.join(argv)} exited {proc.returncode} in {cwd}; see {log_path}"
        )
    return Sample(elapsed, maxrss, proc.returncode, background=background)


def run_quiet(argv: list[str], cwd: Path, env: dict[str, str], log_path: Path,
              ok_codes: tuple[int, ...] = (0,)) -> int:
    """An untimed helper step (setup, reset, verification)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"$ {' '.join(argv)}   (cwd={cwd}, untimed)\n".encode())
        log.flush()
        rc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT).returncode
    if rc not in ok_codes:
        raise CommandFailed(f"{' '.join(argv)} exited {rc} in {cwd}; see {log_path}")
    return rc
