"""Progress reporting from the core: a small callback object the CLI implements.

The core calls ``progress.task(description, total)`` and then ``advance``
on the task; it never prints. ``NullProgress`` is the silent default.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Task:
    def advance(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> "Task":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NullProgress:
    def task(self, description: str, total: int | None = None) -> Task:
        return Task()


NULL = NullProgress()

WORKERS = int(os.environ.get("MLVC_JOBS", "0")) or min(8, 2 * (os.cpu_count() or 1))
CHUNK = 128


def run_parallel(fn: Callable[[T], R], items: Sequence[T], task: Task, workers: int = WORKERS) -> list[R]:
    """``[fn(x) for x in items]`` on a thread pool, in chunks, advancing ``task``.

    Worth it for file I/O and hashing: both release the GIL. The first error
    is raised after the running chunks finish.
    """
    if len(items) <= CHUNK or workers <= 1:
        out = []
        for x in items:
            out.append(fn(x))
            task.advance()
        return out

    def run_chunk(chunk: Sequence[T]) -> list[R]:
        res = [fn(x) for x in chunk]
        task.advance(len(chunk))
        return res

    from concurrent.futures import ThreadPoolExecutor

    chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
    results: list[R] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(run_chunk, chunks):
            results.extend(part)
    return results
