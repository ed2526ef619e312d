"""Progress reporting from the core: a small callback object the CLI implements.

The core calls ``progress.task(description, total)`` (or, for objects moved
to or from a remote, ``progress.transfer(description, files, nbytes)``) and
then ``advance`` on the task, and ``progress.warn(message)`` for something the user should
know that is not an error (a file kept as a copy, a risky setting); it never
prints. ``NullProgress`` is the silent default.
"""

from __future__ import annotations


class Task:
    def advance(self, n: int = 1, nbytes: int = 0) -> None:
        """``n`` more items done (and, for a ``transfer`` task, ``nbytes`` more bytes moved)."""

    def close(self) -> None:
        pass

    def __enter__(self) -> "Task":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NullProgress:
    def task(self, description: str, total: int | None = None) -> Task:
        return Task()

    def transfer(self, description: str, files: int, nbytes: int | None = None) -> Task:
        """A task that counts objects and bytes (push, fetch, pull): ``advance(1, nbytes=...)``
        for each object moved, ``nbytes`` its size."""
        return Task()

    def warn(self, message: str) -> None:
        """A warning for the user (one line, no "warning:" prefix); the same text may come many times."""


NULL = NullProgress()
