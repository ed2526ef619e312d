"""The façade: one plain function per verb, for the CLI and for Python callers.

Each opens the repository that holds ``cwd`` (default: the current folder)
and calls the verb in ``mlvc.ops``, which is imported only then (so
``mlvc status`` does not load the modules of ``add`` or ``checkout``). Paths
given by a user are relative to ``cwd``; everything returned is repo-relative
POSIX. Functions return values and raise ``mlvc.errors``; they never print or
prompt. The result types (``AddResult``, ``ArtifactStatus`` ...) are importable
from here too.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from typing import Any, Iterator

from mlvc.ops.init import InitResult, init
from mlvc.repo import Repo, find_root

__all__ = [
    "open_repo", "find_root", "init", "add", "commit", "status", "checkout", "remove", "unprotect", "ls", "fsck", "gc",
    "config_get", "config_list", "config_set", "config_unset", "conflict_message", "InitResult",
    "stage_add", "stage_list", "repro", "verify",
    "dag", "params_diff", "metrics_show", "metrics_diff",
    "remote_add", "remote_list", "remote_remove", "remote_modify", "remote_default", "push", "fetch", "pull",
    "diff", "log", "restore", "install", "git_hook", "merge_driver", "get", "import_", "update",
]


@contextmanager
def open_repo(cwd: str | None = None) -> Iterator[Repo]:
    repo = Repo.find(cwd)
    try:
        yield repo
    finally:
        repo.close()


def _module(module: str) -> str:
    return module if "." in module else f"mlvc.ops.{module}"  # a verb of ops/, or one named in full


def _pass_on_warnings(repo: Repo, progress) -> None:
    """What the repository's parts noted for the user (the stat cache switched itself off on a
    full disk ...) goes to the verb's progress callback, whichever verb ran into it."""
    if progress is not None and "state" in repo.__dict__:
        for message in repo.state.take_warnings():
            progress.warn(message)


def _later(module: str, name: str):
    """``module.name``, imported when first called: what a verb of ops/ needs of the pipeline
    (ops never imports ``mlvc.pipeline``), passed in by ``_verb``."""
    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


def _verb(module: str, name: str | None = None, takes_cwd: bool = True, **hooks):
    """``mlvc.ops.<module>.<name>(repo, *args, cwd=..., **hooks, **kwargs)`` called as ``verb(*args, cwd=..., **kwargs)``."""
    name = name or module

    def verb(*args, cwd: str | None = None, **kwargs):
        fn = getattr(importlib.import_module(_module(module)), name)
        kwargs = {**hooks, **kwargs}
        with open_repo(cwd) as repo:
            if takes_cwd:
                kwargs["cwd"] = cwd
            try:
                return fn(repo, *args, **kwargs)
            finally:
                _pass_on_warnings(repo, kwargs.get("progress"))

    verb.__name__ = verb.__qualname__ = name
    verb.__doc__ = f"``mlvc.ops.{module}.{name}`` on the repository that holds ``cwd``."
    return verb


add = _verb("add", pipeline=_later("mlvc.pipeline.stage", "load_pipeline"))
commit = _verb("commit")
status = _verb("status", stages=_later("mlvc.pipeline.status", "stage_status"))
checkout = _verb("checkout")
remove = _verb("remove")
unprotect = _verb("unprotect")
ls = _verb("ls", takes_cwd=False)
fsck = _verb("fsck", takes_cwd=False)
gc = _verb("gc", takes_cwd=False)
config_get = _verb("config", "config_get", takes_cwd=False)
config_list = _verb("config", "config_list", takes_cwd=False)
config_set = _verb("config", "config_set")
config_unset = _verb("config", "config_unset", takes_cwd=False)
stage_add = _verb("mlvc.pipeline.stages", "stage_add")
stage_list = _verb("mlvc.pipeline.stages", "stage_list")
repro = _verb("mlvc.pipeline.repro", "repro", fetch=_later("mlvc.ops.transfer", "fetch_entries"))
verify = _verb("mlvc.pipeline.verify", "verify", fetch=_later("mlvc.ops.transfer", "fetch_entries"))
dag = _verb("mlvc.pipeline.dagview", "dag")
params_diff = _verb("mlvc.pipeline.values", "params_diff", takes_cwd=False)
metrics_show = _verb("mlvc.pipeline.values", "metrics_show", takes_cwd=False)
metrics_diff = _verb("mlvc.pipeline.values", "metrics_diff", takes_cwd=False)
remote_add = _verb("remote", "remote_add")
remote_list = _verb("remote", "remote_list", takes_cwd=False)
remote_remove = _verb("remote", "remote_remove", takes_cwd=False)
remote_modify = _verb("remote", "remote_modify", takes_cwd=False)
remote_default = _verb("remote", "remote_default", takes_cwd=False)
push = _verb("transfer", "push")
fetch = _verb("transfer", "fetch")
pull = _verb("transfer", "pull")
diff = _verb("mlvc.history.diff", "diff")
log = _verb("mlvc.history.log", "log")
merge_driver = _verb("merge", "merge_driver", takes_cwd=False)
restore = _verb("mlvc.history.restore", "restore", checkout=_later("mlvc.ops.checkout", "checkout_entries"), fetch=_later("mlvc.ops.transfer", "fetch"))
install = _verb("install", takes_cwd=False)
git_hook = _verb("install", "git_hook", takes_cwd=False, stages=_later("mlvc.pipeline.status", "stage_status"))

import_ = _verb("external", "import_")
update = _verb("external", "update")


def get(*args, cwd: str | None = None, **kwargs):
    """``mlvc.ops.external.get``: in the mlvc repository that holds ``cwd`` (objects into its
    cache), or outside any (a temp cache, removed afterwards)."""
    from mlvc.errors import NotARepoError

    fn = importlib.import_module("mlvc.ops.external").get
    try:
        repo = Repo.find(cwd)
    except NotARepoError:
        return fn(None, *args, cwd=cwd, **kwargs)
    try:
        return fn(repo, *args, cwd=cwd, **kwargs)
    finally:
        _pass_on_warnings(repo, kwargs.get("progress"))
        repo.close()


def conflict_message(paths: list[str]) -> str:
    """The first line of checkout's error for local changes it would lose, naming ``paths``."""
    return importlib.import_module("mlvc.ops.checkout").conflict_message(paths)


_RESULTS = {"AddResult": "add", "CommitResult": "commit", "CheckoutResult": "checkout", "FsckResult": "fsck",
            "LsResult": "ls", "RemoveResult": "remove", "ArtifactStatus": "status", "StatusResult": "status", "Target": "targets",
            "ReproResult": "mlvc.pipeline.repro", "VerifyResult": "mlvc.pipeline.verify", "Stage": "mlvc.pipeline.stage"}


def __getattr__(name: str) -> Any:
    if name in _RESULTS:
        return getattr(importlib.import_module(_module(_RESULTS[name])), name)
    raise AttributeError(f"module 'mlvc.api' has no attribute {name!r}")
