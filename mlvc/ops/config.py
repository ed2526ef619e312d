"""``config``: read and set configuration in .mlvc/config and .mlvc/config.local."""

from __future__ import annotations

import os

from mlvc import fs
from mlvc.config import MASK, cache_dir, is_secret
from mlvc.errors import ConfigError
from mlvc.repo import Repo


def config_get(repo: Repo, key: str) -> tuple[str, str] | None:
    """``(value, source)`` of ``key`` (source: ``config.local``, ``config`` or ``default``);
    None when it is not set and has no default."""
    return repo.config.lookup(key)


def config_list(repo: Repo, show_secrets: bool = False) -> dict[str, tuple[str, str]]:
    """Every key with a value or a default: key -> ``(value, source)``; secrets
    (``remote.*.password`` ...) shown as ``***``."""
    items = repo.config.listing()
    return items if show_secrets else {k: (MASK if is_secret(k) and v else v, src) for k, (v, src) in items.items()}


def config_set(repo: Repo, key: str, value: str, local: bool = False, cwd: str | None = None) -> str:
    with repo.lock():
        if key == "cache.dir":
            value = _cache_dir_value(repo, value, cwd)
        stored = repo.config.set(key, value, local)
        if key == "cache.dir" and not local and not fs.is_within(repo.root, cache_dir(repo.config, repo.root)):
            # A cache outside the repository named in the committed file is used only once this
            # clone's user confirms it in config.local; the user who sets it here confirms it.
            repo.config.set(key, stored, local=True)
        return stored


def _cache_dir_value(repo: Repo, value: str, cwd: str | None) -> str:
    if "\0" in value:
        raise ConfigError("cache.dir cannot hold a NUL")
    given = value
    if value and not os.path.isabs(os.path.expanduser(value)):
        # Given relative to where the user stands; stored relative to .mlvc/.
        value = os.path.relpath(os.path.abspath(os.path.join(cwd or os.getcwd(), value)), repo.dot)
    target = os.path.normpath(os.path.join(repo.dot, os.path.expanduser(value))) if value else ""
    # The folder, or the nearest part of its path that exists, must be a folder: a file there
    # would only fail later commands with "Not a directory".
    probe = target
    while probe and not os.path.lexists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    if probe and os.path.lexists(probe) and not os.path.isdir(probe):
        what = "is a file" if probe == target else f"is inside {probe}, which is a file"
        raise ConfigError(f"cache.dir {given!r} {what}, not a folder", "name a folder (it is created if missing)")
    return value


def config_unset(repo: Repo, key: str, local: bool = False) -> bool:
    with repo.lock():
        if key == "cache.dir" and not local:
            shared = repo.config.shared.get(key)
            if shared is not None and repo.config.local.get(key) == shared:
                repo.config.unset(key, local=True)  # the confirmation config_set wrote with it
        return repo.config.unset(key, local)
