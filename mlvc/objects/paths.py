"""The pure rule for a safe relative path (no disk access): shared by trees, lockfiles and ``fs``.

A name mlvc tracks holds no backslash, newline (LF or CR) or NUL and is valid
UTF-8 (DVC tracks some of those; a tree line cannot hold a newline, and a
backslash is a separator elsewhere): ``name_problem`` says what is wrong with
one, ``bad_name`` is the one error every entry point raises for it. A name is
at most ``NAME_MAX`` bytes and a path at most ``PATH_MAX`` bytes (what Linux
file systems take), so a crafted tree is refused before checkout changes
anything. ``.git`` and ``.mlvc`` are never a name inside a tree
(``check_tree_path``): another repository's folders, never data.
"""

from __future__ import annotations

from mlvc.errors import InvalidPathError

NAME_MAX = 255  # bytes in one path segment
PATH_MAX = 4096  # bytes in a whole path
NEVER_TRACKED = frozenset({".git", ".mlvc"})  # skipped inside a tracked folder, refused in a tree
BAD_NAME_HINT = ("rename it (mlvc tracks no name holding a backslash, a newline or bytes that are not UTF-8), "
                 "or move it out of the tracked folder")


def name_problem(name: str) -> str | None:
    """What makes ``name`` (a segment or a path) untrackable, or None: a backslash, a newline
    (LF or CR), bytes that are not UTF-8 (``os.fsdecode``'s surrogates)."""
    if "\\" in name:
        return "contains a backslash"
    if "\n" in name or "\r" in name:
        return "contains a newline"
    if not name.isascii():
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid UTF-8"
    return None


def is_plain(name: str) -> bool:
    """A fast test, one C call each, that ``name`` has no problem (``name_problem`` when False)."""
    return name.isascii() and name.isprintable() and "\\" not in name


def bad_name(path: str, problem: str) -> InvalidPathError:
    """The one error for a file mlvc cannot track because of its name (``path`` repo-relative)."""
    return InvalidPathError(f"cannot track {path!r}: its name {problem}", BAD_NAME_HINT)


def length_problem(path: str) -> str | None:
    """A segment longer than ``NAME_MAX`` bytes or a path longer than ``PATH_MAX``, or None."""
    if len(path) * 4 <= NAME_MAX:  # UTF-8 takes at most 4 bytes a character
        return None
    size = len(path.encode("utf-8", "surrogateescape"))
    if size > PATH_MAX:
        return f"is {size} bytes long (at most {PATH_MAX})"
    for part in path.split("/"):
        if len(part) * 4 > NAME_MAX and len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            return f"has a name of {len(part.encode('utf-8', 'surrogateescape'))} bytes (at most {NAME_MAX})"
    return None


def check_relpath(path: object, what: str = "path") -> str:
    """Validate a POSIX path relative to a root; return it or raise InvalidPathError."""
    if not isinstance(path, str) or not path:
        raise InvalidPathError(f"{what} must be a non-empty string, got {path!r}")
    if "\0" in path:
        raise InvalidPathError(f"{what} {path!r} contains a NUL character")
    if not is_plain(path):
        problem = name_problem(path)
        if problem:
            raise bad_name(path, problem)
    if path.startswith("/"):
        raise InvalidPathError(f"{what} {path!r} is absolute; it must be relative to the repository")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise InvalidPathError(f"{what} {path!r} has an empty, '.' or '..' segment")
    problem = length_problem(path)
    if problem:
        raise InvalidPathError(f"{what} {path!r} {problem}", "use a shorter name")
    return path


def check_tree_path(path: object) -> str:
    """``check_relpath`` for a path inside a tree, which never holds a ``.git`` or ``.mlvc``."""
    check_relpath(path, "tree path")
    if ".git" in path or ".mlvc" in path:
        for part in path.split("/"):
            if part in NEVER_TRACKED:
                raise InvalidPathError(f"tree path {path!r} holds {part!r}, which mlvc never tracks (another "
                                       "repository's folder)", "move the data out of it")
    return path
