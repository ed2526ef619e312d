"""Every error the core raises. The CLI maps these to exit codes in one place."""

from __future__ import annotations


class MlvcError(Exception):
    """Base class: a message that says what is wrong, and a hint that says what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}; {self.hint}"
        return self.message


class NotARepoError(MlvcError):
    """No `.mlvc` folder here or in any parent."""


class NotAGitRepoError(MlvcError):
    """`mlvc init` outside a git work tree."""


class InvalidPathError(MlvcError):
    """A path that is absolute, escapes the repository, or has forbidden characters."""


class UnsafeLinkError(InvalidPathError):
    """One of mlvc's own folders or files (``.mlvc``, ``.mlvc/tmp``, the lock, the stat cache,
    the config files, the cache) is a symlink or not the kind of file it must be; never followed."""


class UsageError(MlvcError):
    """The command line is wrong in a way the argument parser cannot see (exit 2)."""


class FileFormatError(MlvcError):
    """A malformed `mlvc.yaml`, `mlvc.lock`, tree object or config file."""

    def __init__(self, path: str, problem: str, line: int | None = None, hint: str | None = None):
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}", hint)
        self.path = path
        self.line = line
        self.problem = problem


class ConfigError(MlvcError):
    """An unknown config key or a bad value."""


class ArtifactNotFoundError(MlvcError):
    """A path that is not tracked."""


class ObjectNotFoundError(MlvcError):
    """An object that the lockfile names is not in the cache."""

    def __init__(self, message: str, oids: list[str] | None = None, hint: str | None = None):
        super().__init__(message, hint)
        self.oids = oids or []


class CorruptObjectError(MlvcError):
    """An object whose content does not match its name."""


class CheckoutConflictError(MlvcError):
    """Checkout would overwrite or delete data that is not in the cache."""

    def __init__(self, message: str, paths: list[str], hint: str | None = None):
        super().__init__(message, hint)
        self.paths = paths


class LockHeldError(MlvcError):
    """Another mlvc process holds the repository lock."""


class ScmError(MlvcError):
    """A git revision or file that cannot be read."""


class StageFailedError(MlvcError):
    """A stage's command failed, or did not make an out it declares (exit 3)."""

    def __init__(self, message: str, stage: str, exit_code: int | None = None, hint: str | None = None):
        super().__init__(message, hint)
        self.stage = stage
        self.exit_code = exit_code


class StageInputError(MlvcError):
    """A stage cannot run: a dep or a params file or key it needs is not there (exit 3)."""


class PipelineCycleError(MlvcError):
    """The stages' deps and outs form a cycle (exit 3)."""


class UnknownTargetError(MlvcError):
    """A target that is no stage, group or output of a stage (exit 3)."""


class VerifyError(MlvcError):
    """``mlvc verify`` could not run its stages (a missing input, a failing command, a stage
    never recorded at the revision): exit 2, apart from exit 1 for outs that differ."""
