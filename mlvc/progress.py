"""Progress reporting from the core: a small callback object the CLI implements.

The core calls ``progress.task(description, total)`` and then ``advance``
on the task, and ``progress.warn(message)`` for something the user should
know that is not an error (a file kept as a copy, a risky setting); it never
prints. ``NullProgress`` is the silent default.
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

    def warn(self, message: str) -> None:
        """A warning for the user (one line, no "warning:" prefix); the same text may come many times."""


NULL = NullProgress()
