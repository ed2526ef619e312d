"""``config``: read and set configuration in .mlvc/config and .mlvc/config.local."""

from __future__ import annotations

import os

from mlvc.repo import Repo


def config_get(repo: Repo, key: str) -> str | None:
    return repo.config.get(key)


def config_list(repo: Repo) -> dict[str, str]:
    return repo.config.items()


def config_set(repo: Repo, key: str, value: str, local: bool = False, cwd: str | None = None) -> str:
    with repo.lock():
        if key == "cache.dir" and value and not os.path.isabs(os.path.expanduser(value)):
            # Given relative to where the user stands; stored relative to .mlvc/.
            value = os.path.relpath(os.path.abspath(os.path.join(cwd or os.getcwd(), value)), repo.dot)
        return repo.config.set(key, value, local)


def config_unset(repo: Repo, key: str, local: bool = False) -> bool:
    with repo.lock():
        return repo.config.unset(key, local)
