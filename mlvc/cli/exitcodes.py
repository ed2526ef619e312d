"""Exit codes, and the one place where errors become them."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0
    CHECK_FAILED = 1  # `status --check` found something out of date; `fsck` found damage
    NOT_REPRODUCED = 1  # `verify`: an out did not come out bit for bit as mlvc.lock records it
    USAGE = 2  # the command line is wrong (unknown option, missing argument)
    NOT_VERIFIED = 2  # `verify` could not run the stages (missing input, failing command, no record)
    ERROR = 3  # mlvc refused or failed: bad input file, missing object, conflict, an OS error ...
    LOCKED = 4  # another mlvc process holds the repository lock
    INTERNAL = 70  # a bug in mlvc: please report it with the --verbose output
    INTERRUPTED = 130  # Ctrl-C
    BROKEN_PIPE = 141  # the reader of the output went away (`| head`): quiet, as git (128 + SIGPIPE)


def exit_status_for(exc: BaseException) -> ExitStatus:
    from mlvc.errors import LockHeldError, MlvcError, UsageError, VerifyError

    if isinstance(exc, KeyboardInterrupt):
        return ExitStatus.INTERRUPTED
    if isinstance(exc, UsageError):
        return ExitStatus.USAGE
    if isinstance(exc, VerifyError):
        return ExitStatus.NOT_VERIFIED
    if isinstance(exc, LockHeldError):
        return ExitStatus.LOCKED
    if isinstance(exc, (MlvcError, OSError)):  # an OS failure (no space, no permission ...) is not a bug in mlvc
        return ExitStatus.ERROR
    return ExitStatus.INTERNAL
