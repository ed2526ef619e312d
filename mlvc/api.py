"""The façade: one plain function per verb, for the CLI and for Python callers.

Each opens the repository that holds ``cwd`` (default: the current folder)
and calls the verb in ``mlvc.ops``. Paths given by a user are relative to
``cwd``; everything returned is repo-relative POSIX. Functions return values
and raise ``mlvc.errors``; they never print or prompt.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Iterator

from mlvc.ops import add as _add
from mlvc.ops import checkout as _checkout
from mlvc.ops import commit as _commit
from mlvc.ops import config as _config
from mlvc.ops import fsck as _fsck
from mlvc.ops import ls as _ls
from mlvc.ops import remove as _remove
from mlvc.ops import status as _status
from mlvc.ops import unprotect as _unprotect
from mlvc.ops.add import AddResult
from mlvc.ops.checkout import CheckoutResult
from mlvc.ops.fsck import FsckResult
from mlvc.ops.init import InitResult, init
from mlvc.ops.ls import LsResult
from mlvc.ops.remove import RemoveResult
from mlvc.ops.status import ArtifactStatus
from mlvc.repo import Repo

__all__ = [
    "open_repo", "init", "add", "commit", "status", "checkout", "remove", "unprotect", "ls", "fsck",
    "config_get", "config_list", "config_set", "config_unset",
    "AddResult", "CheckoutResult", "FsckResult", "InitResult", "LsResult", "RemoveResult", "ArtifactStatus",
]


@contextmanager
def open_repo(cwd: str | None = None) -> Iterator[Repo]:
    repo = Repo.find(cwd)
    try:
        yield repo
    finally:
        repo.close()


def _verb(fn, takes_cwd: bool = True):
    """``fn(repo, *args, cwd=..., **kwargs)`` called as ``verb(*args, cwd=..., **kwargs)``."""

    @functools.wraps(fn)
    def verb(*args, cwd: str | None = None, **kwargs):
        with open_repo(cwd) as repo:
            if takes_cwd:
                kwargs["cwd"] = cwd
            return fn(repo, *args, **kwargs)

    return verb


add = _verb(_add.add)
commit = _verb(_commit.commit)
status = _verb(_status.status)
checkout = _verb(_checkout.checkout)
remove = _verb(_remove.remove)
unprotect = _verb(_unprotect.unprotect)
ls = _verb(_ls.ls, takes_cwd=False)
fsck = _verb(_fsck.fsck, takes_cwd=False)
config_get = _verb(_config.config_get, takes_cwd=False)
config_list = _verb(_config.config_list, takes_cwd=False)
config_set = _verb(_config.config_set)
config_unset = _verb(_config.config_unset, takes_cwd=False)
