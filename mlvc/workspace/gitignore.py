"""The ``.gitignore`` entries that keep tracked data out of git.

An artifact ``data/images`` is ignored by the line ``/images`` in
``data/.gitignore``, as DVC does, so the entry moves with its folder.
"""

from __future__ import annotations

import os
import re

from mlvc.fs.atomic import atomic_write

_SPECIAL = re.compile(r"([*?\[\]\\!#])")


def pattern(name: str) -> str:
    """A gitignore pattern that matches exactly ``name`` in the same folder."""
    escaped = _SPECIAL.sub(r"\\\1", name)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped


def _tmp(root: str) -> str:
    return os.path.join(root, ".mlvc", "tmp")


def _location(root: str, rel: str) -> tuple[str, str]:
    parent, _, name = rel.rpartition("/")
    return os.path.join(root, parent, ".gitignore"), pattern(name)


def _read(path: str) -> tuple[list[str], str]:
    """The file's lines, each with its own line end, and the end a new line gets: the
    file's (CRLF when its first line ends so), LF for a new file."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        return [], "\n"
    lines = [x + "\n" for x in text.split("\n")]  # git splits at LF only (not at \f, \x85 ...)
    lines[-1] = lines[-1][:-1]
    if not lines[-1]:
        lines.pop()
    return lines, "\r\n" if lines and lines[0].endswith("\r\n") else "\n"


def _bare(line: str) -> str:
    """A line without its end (LF or CRLF)."""
    if line.endswith("\n"):
        line = line[:-1]
    return line[:-1] if line.endswith("\r") else line


def _write(root: str, path: str, lines: list[str]) -> None:
    atomic_write(path, "".join(lines).encode("utf-8"), fsync=False, tmp_dir=_tmp(root))


def ignore(root: str, rel: str) -> str | None:
    """Add the entry for ``rel``; return the repo-relative .gitignore path if it changed.
    Every other line is kept as it was, line ends included."""
    path, line = _location(root, rel)
    lines, end = _read(path)
    if any(_bare(x) == line for x in lines):
        return None
    if lines and _bare(lines[-1]) == lines[-1]:  # no line end on the last line
        lines[-1] += end
    lines.append(line + end)
    _write(root, path, lines)
    return os.path.relpath(path, root).replace(os.sep, "/")


def unignore(root: str, rel: str) -> str | None:
    """Remove the entry for ``rel``; delete the .gitignore if nothing is left in it."""
    path, line = _location(root, rel)
    lines, _ = _read(path)
    kept = [x for x in lines if _bare(x) != line]
    if len(kept) == len(lines):
        return None
    if any(x.strip() for x in kept):
        _write(root, path, kept)
    else:
        os.unlink(path)
    return os.path.relpath(path, root).replace(os.sep, "/")
