"""Terminal output: messages, tables, JSON and progress bars (rich, imported lazily)."""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import dataclass


@dataclass
class Options:
    quiet: bool = False
    verbose: bool = False


OPTIONS = Options()


def out(text: str = "") -> None:
    if not OPTIONS.quiet:
        sys.stdout.write(text + "\n")


def data(text: str) -> None:
    """Output the user asked for (a value, a listing): printed even with -q, which hides only messages."""
    sys.stdout.write(text + "\n")


def silence_stdout() -> None:
    """The reader of our output has gone (`mlvc ls | head -1`): send the rest nowhere, so that
    neither a later write nor the flush at exit raises again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def user_path(root: str, path: str) -> str:
    """A repo-relative path as git prints it: relative to the current folder (``../mlvc.yaml``
    from ``data/``). JSON keeps repo-relative paths; human output uses these."""
    try:
        here = os.getcwd()
    except OSError:  # the current folder was deleted
        return path
    return os.path.relpath(os.path.join(root, path), here).replace(os.sep, "/")


def emit_json(value) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def error(exc: BaseException, exit_code: int, as_json: bool = False) -> None:
    """One line on stderr; with ``--json`` also ``{"error", "hint", "exit_code"}`` on stdout."""
    from mlvc.errors import MlvcError

    if OPTIONS.verbose:
        traceback.print_exception(exc, file=sys.stderr)
    hint = None
    if isinstance(exc, MlvcError):
        what, hint = exc.message, exc.hint
        msg = f"error: {what}" + (f"; {hint}" if hint else "")
    elif isinstance(exc, KeyboardInterrupt):
        what = msg = "interrupted"
    elif isinstance(exc, OSError):
        what = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
        msg = f"error: {what}"
    else:
        what = f"internal error: {type(exc).__name__}: {exc}"
        hint = "run again with --verbose and report it"
        msg = f"{what}; {hint}"
    sys.stderr.write(msg + "\n")
    if as_json:
        emit_json({"error": what, "hint": hint, "exit_code": exit_code})


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


class _RichTask:
    def __init__(self, bar, task_id) -> None:
        self.bar = bar
        self.task_id = task_id

    def advance(self, n: int = 1, nbytes: int = 0) -> None:
        self.bar.advance(self.task_id, n)

    def close(self) -> None:
        self.bar.remove_task(self.task_id)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _RichTransferTask(_RichTask):
    def __init__(self, bar, task_id, by_bytes: bool) -> None:
        import threading

        super().__init__(bar, task_id)
        self.by_bytes = by_bytes
        self.files = self.moved = 0
        self.lock = threading.Lock()  # the transfers' threads each tell their bytes as they go

    def advance(self, n: int = 1, nbytes: int = 0) -> None:
        with self.lock:
            self.files += n
            self.moved += nbytes
            self.bar.update(self.task_id, advance=nbytes if self.by_bytes else n, files=self.files, moved=self.moved)


def _count_column():
    """What is done beside the bar: ``M/N`` for a task, ``M/N files, X/Y MiB`` for a transfer."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Count(ProgressColumn):
        def render(self, task):
            fields = task.fields
            if "files_total" in fields:
                text = f"{fields['files']}/{fields['files_total']} files"
                if fields.get("nbytes"):
                    text += f", {human_size(fields['moved'])}/{human_size(fields['nbytes'])}"
                return Text(text, style="progress.download")
            done = int(task.completed)
            return Text(f"{done}/{int(task.total)}" if task.total is not None else str(done),
                        style="progress.download")

    from rich.table import Column

    return Count(table_column=Column(no_wrap=True))  # the bar gives up room first: the count is never wrapped


def make_bar(console):
    """The progress display: what is done, a bar, the count, the time left. The count is never
    wrapped, the bar narrows instead (at 100 columns the count of a transfer went onto a second
    line)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), _count_column(),
                    TimeRemainingColumn(), console=console, transient=True)


class Reporter:
    """The core's progress callback without bars: warnings go to stderr, each text once
    (shown with -q too: -q hides messages about work done, not what may be wrong)."""

    def __init__(self) -> None:
        self._warned: set[str] = set()

    def task(self, description: str, total: int | None = None):
        from mlvc.progress import Task

        return Task()

    def transfer(self, description: str, files: int, nbytes: int | None = None):
        from mlvc.progress import Task

        return Task()

    def warn(self, message: str) -> None:
        if message in self._warned:
            return
        self._warned.add(message)
        self._write_warning(f"warning: {message}\n")

    def _write_warning(self, text: str) -> None:
        sys.stderr.write(text)

    def stop(self) -> None:
        """Take the bars off the terminal (there are none here)."""


class RichProgress(Reporter):
    """The core's progress callback, drawn by rich on stderr (only on a terminal)."""

    MIN_TOTAL = 200  # smaller jobs finish before a bar is worth drawing

    def __init__(self) -> None:
        super().__init__()
        self._bar = None

    def _write_warning(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, end="", markup=False, highlight=False)
        else:
            sys.stderr.write(text)

    MIN_BYTES = 32 * 1024 * 1024  # a transfer of fewer objects gets a bar from this many bytes

    def task(self, description: str, total: int | None = None):
        from mlvc.progress import Task

        if total is not None and total < self.MIN_TOTAL:
            return Task()
        return _RichTask(self._start(), self._start().add_task(description, total=total))

    def transfer(self, description: str, files: int, nbytes: int | None = None):
        """One bar for objects and bytes: it fills by bytes (files when their sizes are not
        known), the count beside it says both."""
        from mlvc.progress import Task

        if files < self.MIN_TOTAL and (nbytes or 0) < self.MIN_BYTES:
            return Task()
        bar = self._start()
        by_bytes = bool(nbytes)
        task_id = bar.add_task(description, total=nbytes if by_bytes else files, files=0, files_total=files,
                               moved=0, nbytes=nbytes or 0)
        return _RichTransferTask(bar, task_id, by_bytes)

    def _start(self):
        if self._bar is None:
            from rich.console import Console

            self._bar = make_bar(Console(stderr=True))
            self._bar.start()
        return self._bar

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def with_progress(fn, *args, **kwargs):
    """``fn(*args, progress=<the CLI's progress callback>, **kwargs)``, its bars stopped afterwards."""
    bar = progress()
    try:
        return fn(*args, progress=bar, **kwargs)
    finally:
        bar.stop()


def progress():
    """A progress callback: bars on a terminal, none otherwise or with -q; warnings on stderr always."""
    if OPTIONS.quiet or os.environ.get("MLVC_NO_PROGRESS") or not (sys.stdout.isatty() and sys.stderr.isatty()):
        return Reporter()
    return RichProgress()
