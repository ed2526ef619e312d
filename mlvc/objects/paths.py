"""The pure rule for a safe relative path (no disk access): shared by trees, lockfiles and ``fs``."""

from __future__ import annotations

from mlvc.errors import InvalidPathError


def check_relpath(path: object, what: str = "path") -> str:
    """Validate a POSIX path relative to a root; return it or raise InvalidPathError."""
    if not isinstance(path, str) or not path:
        raise InvalidPathError(f"{what} must be a non-empty string, got {path!r}")
    if "\\" in path:
        raise InvalidPathError(f"{what} {path!r} contains a backslash; paths use '/'")
    if "\0" in path or "\n" in path or "\r" in path:
        raise InvalidPathError(f"{what} {path!r} contains a NUL or newline character")
    if not path.isascii():
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:  # a file name of bytes that are not UTF-8 (os.fsdecode's surrogates)
            raise InvalidPathError(f"{what} {path!r} is not valid UTF-8", "rename it") from None
    if path.startswith("/"):
        raise InvalidPathError(f"{what} {path!r} is absolute; it must be relative to the repository")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise InvalidPathError(f"{what} {path!r} has an empty, '.' or '..' segment")
    return path
