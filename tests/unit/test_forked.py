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


def test_every_batch_runs_once_in_a_worker_process_and_is_told_here(forks):
    batches = [[i] * (i % 3 + 1) for i in range(40)]
    told: list[tuple[int, int]] = []
    fallback_calls: list = []
    done = forked.run_forked(lambda b: os.getpid(), batches, 3, lambda objects, n: told.append((objects, n)),
                             lambda rest: fallback_calls.append(rest) or 0)
    assert done == sum(len(b) for b in batches)
    assert sorted(o for o, _ in told) == sorted(len(b) for b in batches)
    pids = {n for _, n in told}
    assert len(pids) == 3 and os.getpid() not in pids
    assert fallback_calls == [] and _reaped(forks)


def test_what_a_failed_worker_did_not_do_is_done_by_the_fallback_and_its_error_raised_here(tmp_path, forks):
    marks = tmp_path / "marks"
    marks.mkdir()

    def fn(batch):
        for j, item in enumerate(batch):
            if item == 13 and not (tmp_path / "fixed").exists():
                exc = OSError(5, "I/O error")
                exc.partial = j
                raise exc
            (marks / str(item)).touch()
        return len(batch)

    batches = [list(range(i, i + 5)) for i in range(0, 50, 5)]  # 13 is the 4th of batch 2
    given: list[list] = []

    def fallback(rest):
        given.extend(rest)
        raise OSError(5, "I/O error, here too")

    with pytest.raises(OSError, match="here too") as err:
        forked.run_forked(fn, batches, 2, lambda objects, n: None, fallback)
    assert [13, 14] in given  # the failed batch from where it failed
    assert all(int(p.name) not in (13, 14) for p in marks.iterdir())
    done_here = {int(p.name) for p in marks.iterdir()}
    assert err.value.done == len(done_here)  # what the workers finished, counted
    assert sorted(done_here | {i for b in given for i in b}) == list(range(50))  # nothing lost
    assert _reaped(forks)

    (tmp_path / "fixed").touch()
    assert forked.run_forked(fn, batches, 2, lambda objects, n: None, lambda rest: 0) == 50


def test_a_worker_that_dies_leaves_its_batches_to_the_fallback(forks):
    def fn(batch):
        if batch[0] == 8:
            os.kill(os.getpid(), signal.SIGKILL)
        return 1

    batches = [[i, i + 1] for i in range(0, 40, 2)]
    given: list[list] = []
    done = forked.run_forked(fn, batches, 2, lambda objects, n: None, lambda rest: given.extend(rest) or
                             sum(len(b) for b in rest))
    assert done == 40
    assert [8, 9] in given and all(b[0] % 4 == 0 for b in given)  # the dead worker's (every other batch)
    assert _reaped(forks)


def test_an_interrupt_here_stops_the_workers_and_says_what_was_done(forks):
    told: list[int] = []

    def on_batch(objects, n):
        told.append(objects)
        if len(told) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as err:
        forked.run_forked(lambda b: time.sleep(0.01) or 1, [[i] for i in range(200)], 2, on_batch,
                          lambda rest: pytest.fail("no fallback after an interrupt"))
    assert err.value.done == 3 and _reaped(forks)  # the three told were done


def test_forked_workers_are_used_only_where_they_pay(monkeypatch):
    monkeypatch.delenv("MLVC_FORK", raising=False)
    assert forked.usable(forked.FORK_FROM, 2)
    assert not forked.usable(forked.FORK_FROM - 1, 2)
    assert not forked.usable(100, 1)
    monkeypatch.setenv("MLVC_FORK", "0")
    assert not forked.usable(100, 2)
