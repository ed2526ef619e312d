"""``config``: read and set configuration in .mlvc/config and .mlvc/config.local."""

from __future__ import annotations

import os

from mlvc import fs
from mlvc.config import cache_dir, masked
from mlvc.errors import ConfigError
from mlvc.repo import Repo


def config_get(repo: Repo, key: str) -> str | None:
    return repo.config.get(key)


def config_list(repo: Repo, show_secrets: bool = False) -> dict[str, str]:
    """Every key with its value; secrets (``remote.*.password`` ...) shown as ``***``."""
    items = repo.config.items()
    return items if show_secrets else masked(items)


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
    if value and not os.path.isabs(os.path.expanduser(value)):
        # Given relative to where the user stands; stored relative to .mlvc/.
        value = os.path.relpath(os.path.abspath(os.path.join(cwd or os.getcwd(), value)), repo.dot)
    target = os.path.normpath(os.path.join(repo.dot, os.path.expanduser(value))) if value else ""
    if target and os.path.exists(target) and not os.path.isdir(target):
        raise ConfigError(f"cache.dir {value!r} is a file, not a folder", "name a folder (it is created if missing)")
    return value


def config_unset(repo: Repo, key: str, local: bool = False) -> bool:
    with repo.lock():
        if key == "cache.dir" and not local:
            shared = repo.config.shared.get(key)
            if shared is not None and repo.config.local.get(key) == shared:
                repo.config.unset(key, local=True)  # the confirmation config_set wrote with it
        return repo.config.unset(key, local)
