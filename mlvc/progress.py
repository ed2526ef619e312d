"""Progress reporting from the core: a small callback object the CLI implements.

The core calls ``progress.task(description, total)`` and then ``advance``
on the task; it never prints. ``NullProgress`` is the silent default.
"""

from __future__ import annotations


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
