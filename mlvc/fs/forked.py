"""Batches of file I/O run in forked worker processes (Linux): no GIL shared between them.

Copying many small files is a few system calls a file, with a little Python between each.
Threads take turns on the GIL around every call (on 2 cores a second thread made a push of
20,000 files of 4 KiB no faster than one); processes do not. ``run_forked`` is an accelerator
only: whatever a worker did not finish (an error, a worker killed) is done again by the
caller's own ``fallback``, in this process, so an error is raised here as it would be without
workers, by the code that meets it.

A worker runs only ``fn`` on the batches it is given and plain system calls: it never writes
to the terminal, never imports, and leaves by ``os._exit`` (no atexit, no buffers flushed). It
dies with the parent (PR_SET_PDEATHSIG), ignores Ctrl-C (the parent stops it), and on SIGTERM
finishes the batch it is in, then stops.
"""

from __future__ import annotations

import os
import signal
import struct
import sys
import warnings

FORK_FROM = 16  # batches: fewer run in threads (a fork costs some milliseconds)
_RECORD = struct.Struct("=qqq")  # batch index, items done, bytes of payload that follow (-1: it failed)
_PR_SET_PDEATHSIG = 1


def usable(batches: int, jobs: int) -> bool:
    """Whether ``run_forked`` is worth it for ``batches`` batches on ``jobs`` workers here:
    Linux, more than one job, enough work, and not turned off with MLVC_FORK=0."""
    return (sys.platform.startswith("linux") and hasattr(os, "fork") and jobs > 1 and batches >= FORK_FROM
            and os.environ.get("MLVC_FORK", "1") != "0")


def run_forked(fn, batches: list[list], jobs: int, on_batch, fallback) -> None:
    """``fn(batch) -> bytes`` (what the caller wants back of it) on every batch, in ``jobs``
    forked workers (batch ``k`` in worker ``k % jobs``); ``on_batch(index, payload)`` in this
    process as each batch is done. Once the workers have stopped, ``fallback(rest)`` is called
    here with what they did not do (after an error in one, or a worker that died): ``(batch
    index, how many of its items were done)`` pairs, the second set by ``fn`` raising with
    ``partial`` on the exception, else 0. Ctrl-C (or an error in ``on_batch``) stops the
    workers, each after its current batch, and is raised once they are gone."""
    import selectors

    workers: dict[int, int] = {}  # read end of the pipe -> pid
    finished: set[int] = set()
    partial: dict[int, int] = {}  # batch index -> items done, of a batch that failed
    prctl = _prctl()
    parent = os.getpid()
    try:
        for k in range(min(jobs, len(batches))):
            r, w = os.pipe()
            try:
                with warnings.catch_warnings():  # 3.12+ warns of fork with threads; the worker takes no lock
                    warnings.simplefilter("ignore", DeprecationWarning)
                    pid = os.fork()
            except OSError:  # no more processes (EAGAIN, ENOMEM): this worker's batches go to the fallback
                os.close(r)
                os.close(w)
                break
            if pid == 0:  # pragma: no cover - the worker (coverage does not follow it)
                os.close(r)
                _worker(fn, batches, k, jobs, w, prctl, parent)
            os.close(w)
            workers[r] = pid
        with selectors.DefaultSelector() as sel:
            buffers: dict[int, bytes] = {}
            for r in workers:
                sel.register(r, selectors.EVENT_READ)
                buffers[r] = b""
            while buffers:
                for key, _ in sel.select():
                    r = key.fd
                    chunk = os.read(r, 1 << 16)
                    if not chunk:
                        sel.unregister(r)
                        del buffers[r]
                        continue
                    data = buffers[r] + chunk
                    at = 0
                    while len(data) - at >= _RECORD.size:
                        index, objects, length = _RECORD.unpack_from(data, at)
                        if length < 0:  # the worker failed in this batch after ``objects`` of it
                            at += _RECORD.size
                            partial[index] = objects
                            _stop(workers)
                            continue
                        end = at + _RECORD.size + length
                        if len(data) < end:
                            break
                        finished.add(index)
                        on_batch(index, data[at + _RECORD.size:end])
                        at = end
                    buffers[r] = data[at:]
    except BaseException:  # Ctrl-C (or a failure here): the workers stop, then it is raised
        _stop(workers)
        _reap(workers)
        raise
    _reap(workers)
    rest = [(i, partial.get(i, 0)) for i in range(len(batches)) if i not in finished]
    if rest:
        fallback(rest)


def _worker(fn, batches: list[list], k: int, jobs: int, w: int, prctl, parent: int) -> None:  # pragma: no cover
    code = 0
    try:
        stop = []
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the prctl
            os._exit(1)
        for index in range(k, len(batches), jobs):
            if stop:
                break
            try:
                payload = fn(batches[index])
            except BaseException as exc:
                _write(w, _RECORD.pack(index, getattr(exc, "partial", 0), -1))
                code = 1
                break
            _write(w, _RECORD.pack(index, len(batches[index]), len(payload)) + payload)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _write(fd: int, data: bytes) -> None:  # pragma: no cover - in the worker
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _prctl():
    """libc's prctl, loaded here before a fork (a worker imports nothing); None where there is none."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _stop(workers: dict[int, int]) -> None:
    for pid in workers.values():
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def _reap(workers: dict[int, int]) -> None:
    for r, pid in list(workers.items()):
        while True:
            try:
                os.waitpid(pid, 0)
                break
            except ChildProcessError:
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries it
                continue
        try:
            os.close(r)
        except OSError:
            pass
        del workers[r]
