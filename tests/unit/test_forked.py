"""fs.forked: batches in forked workers, and what the caller gets back when a worker fails or dies."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from mlvc.fs import forked

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers are Linux only")


@pytest.fixture
def forks(monkeypatch):
    """The pids of the workers forked (other children of this process, a test server's, are not ours)."""
    pids: list[int] = []
    real = os.fork

    def fork():
        pid = real()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return pids


def _reaped(pids: list[int]) -> bool:
    """Every worker forked has been waited for (none left running, none a zombie)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        return False
    return bool(pids)


def test_every_batch_runs_once_in_a_worker_process_and_its_payload_comes_back_here(forks):
    batches = [[i] * (i % 3 + 1) for i in range(40)]
    told: dict[int, bytes] = {}
    fallback_calls: list = []
    payload = lambda b: f"{os.getpid()}:{sum(b)}".encode() * 400  # noqa: E731 - several pipe reads a record
    forked.run_forked(payload, batches, 3, lambda i, data: told.__setitem__(i, data), fallback_calls.append)
    assert sorted(told) == list(range(40)) and fallback_calls == []
    pids = set()
    for i, data in told.items():
        pid, total = data[:len(data) // 400].decode().split(":")
        assert int(total) == sum(batches[i]) and data == data[:len(data) // 400] * 400
        pids.add(int(pid))
    assert len(pids) == 3 and os.getpid() not in pids
    assert _reaped(forks)


def _failing_at(bad: int, done):
    """A batch function that fails at item ``bad`` (saying how far it got), ``done(item)`` for
    each before it; it returns ``result(batch)``."""
    def fn(batch):
        for j, item in enumerate(batch):
            if item == bad:
                exc = OSError(5, "I/O error")
                exc.partial = j
                raise exc
            done(item)
        return fn.result(batch)

    return fn


def test_what_a_failed_worker_did_not_do_is_left_to_the_fallback(tmp_path, forks):
    marks = tmp_path / "marks"
    marks.mkdir()
    fn = _failing_at(13, lambda item: (marks / str(item)).touch())
    fn.result = lambda batch: b""
    batches = [list(range(i, i + 5)) for i in range(0, 50, 5)]  # 13 is the 4th of batch 2
    told: list[int] = []
    left: list[tuple[int, int]] = []
    forked.run_forked(fn, batches, 2, lambda i, data: told.append(i), left.extend)
    assert (2, 3) in left  # the failed batch, with how far it got
    assert all(got == 0 for i, got in left if i != 2)
    done_here = {int(p.name) for p in marks.iterdir()}
    assert done_here == {x for i in told for x in batches[i]} | {10, 11, 12}  # what was told is what was done
    assert sorted(set(told) | {i for i, _ in left}) == list(range(10)) and not set(told) & {i for i, _ in left}
    assert _reaped(forks)


def test_a_worker_that_dies_leaves_its_batches_to_the_fallback(forks):
    def fn(batch):
        if batch[0] == 8:
            os.kill(os.getpid(), signal.SIGKILL)
        return b""

    batches = [[i, i + 1] for i in range(0, 40, 2)]
    told: list[int] = []
    left: list[tuple[int, int]] = []
    forked.run_forked(fn, batches, 2, lambda i, data: told.append(i), left.extend)
    assert (4, 0) in left and all(i % 2 == 0 for i, _ in left)  # the dead worker's (every other batch)
    assert sorted(told + [i for i, _ in left]) == list(range(20))
    assert _reaped(forks)


def test_an_interrupt_here_stops_the_workers_before_it_is_raised(forks):
    told: list[int] = []

    def on_batch(i, data):
        told.append(i)
        if len(told) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        forked.run_forked(lambda b: time.sleep(0.01) or b"", [[i] for i in range(200)], 2, on_batch,
                          lambda rest: pytest.fail("no fallback after an interrupt"))
    assert len(told) == 3 and _reaped(forks)


def test_batches_of_a_transfer_are_counted_whoever_does_them(tmp_path, forks, monkeypatch):
    """odb.transfer._run_batches: the objects a worker did, those of a failed batch before its
    error, and those the threads did after it, each counted once; the error raised says so."""
    from mlvc.odb import transfer

    monkeypatch.setattr(forked, "FORK_FROM", 2)

    fn = _failing_at(23, lambda item: None)
    fn.result = lambda batch: 10 * len(batch)

    batches = [list(range(i, i + 4)) for i in range(0, 40, 4)]  # 23 is the 4th of batch 5
    after: list[tuple[int, int]] = []
    with pytest.raises(OSError) as err:
        transfer._run_batches(fn, batches, 2, transfer._NoTask(), lambda objects, n: after.append((objects, n)))
    assert forks and _reaped(forks)
    told = sum(objects for objects, _ in after)
    assert err.value.done == told + 3  # the 3 of batch 5 before 23, and every batch told
    assert transfer._run_batches(lambda b: 10 * len(b), batches, 2, transfer._NoTask(), lambda o, n: None) == 40


def test_forked_workers_are_used_only_where_they_pay(monkeypatch):
    monkeypatch.delenv("MLVC_FORK", raising=False)
    assert forked.usable(forked.FORK_FROM, 2)
    assert not forked.usable(forked.FORK_FROM - 1, 2)
    assert not forked.usable(100, 1)
    monkeypatch.setenv("MLVC_FORK", "0")
    assert not forked.usable(100, 2)


def test_a_fork_refused_leaves_that_workers_batches_to_the_fallback(monkeypatch):
    real = os.fork
    calls = []

    def fork():
        calls.append(1)
        if len(calls) == 2:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real()

    monkeypatch.setattr(os, "fork", fork)
    told: list[int] = []
    left: list[tuple[int, int]] = []
    forked.run_forked(lambda b: b"", [[i] for i in range(20)], 2, lambda i, data: told.append(i), left.extend)
    assert sorted(told) == list(range(0, 20, 2)) and left == [(i, 0) for i in range(1, 20, 2)]
