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


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def ignore(root: str, rel: str) -> str | None:
    """Add the entry for ``rel``; return the repo-relative .gitignore path if it changed."""
    path, line = _location(root, rel)
    lines = _read_lines(path)
    if line in lines:
        return None
    lines.append(line)
    atomic_write(path, ("\n".join(lines) + "\n").encode("utf-8"), fsync=False, tmp_dir=_tmp(root))
    return os.path.relpath(path, root).replace(os.sep, "/")


def unignore(root: str, rel: str) -> str | None:
    """Remove the entry for ``rel``; delete the .gitignore if nothing is left in it."""
    path, line = _location(root, rel)
    lines = _read_lines(path)
    if line not in lines:
        return None
    lines = [x for x in lines if x != line]
    if any(x.strip() for x in lines):
        atomic_write(path, ("\n".join(lines) + "\n").encode("utf-8"), fsync=False, tmp_dir=_tmp(root))
    else:
        os.unlink(path)
    return os.path.relpath(path, root).replace(os.sep, "/")
