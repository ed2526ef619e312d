"""``remote add/list/remove/modify/default``: remotes in .mlvc/config and .mlvc/config.local.

A remote is the keys ``remote.NAME.url`` and ``remote.NAME.OPTION``; the default remote is
``core.remote``. Secrets (``secret_access_key``, ``password`` ...) are kept in
.mlvc/config.local only and never returned unmasked. Nothing here imports fsspec.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mlvc.config import MASK, is_secret  # the one secret rule, shared with `config --list`
from mlvc.errors import ConfigError
from mlvc.odb.backends import RemoteSpec, check_name, check_option, check_url, missing_extra, scheme_of
from mlvc.progress import NULL
from mlvc.repo import Repo

DEFAULT = "core.remote"
# options that decide whom mlvc trusts: taken only from config.local, never from the committed
# .mlvc/config a clone brings (a crafted repository could commit a known_hosts of its own)
LOCAL_ONLY = ("known_hosts",)


def _local_only(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in LOCAL_ONLY


@dataclass(frozen=True)
class RemoteInfo:
    name: str
    url: str
    default: bool
    options: dict[str, str] = field(default_factory=dict)  # secrets masked


def _names(repo: Repo) -> dict[str, dict[str, str]]:
    """name -> {option: value} of every configured remote (config.local wins)."""
    found: dict[str, dict[str, str]] = {}
    for values in (repo.config.shared, repo.config.local):
        for key, value in values.items():
            if key.startswith("remote."):
                name, _, option = key[len("remote."):].rpartition(".")
                found.setdefault(name, {})[option] = value
    return found


def _require(repo: Repo, name: str) -> dict[str, str]:
    remotes = _names(repo)
    if name not in remotes:
        known = ", ".join(sorted(remotes)) or "none"
        raise ConfigError(f"no remote named {name!r} (configured: {known})", "add it with `mlvc remote add NAME URL`")
    if "url" not in remotes[name]:
        raise ConfigError(f"remote {name!r} has no url", f"set it with `mlvc remote modify {name} url URL`")
    return remotes[name]


def _local_url(repo: Repo, url: str, cwd: str | None) -> str:
    """A relative local path, given relative to where the user stands, stored relative to the root."""
    if scheme_of(url) != "local" or url.startswith("file://") or os.path.isabs(os.path.expanduser(url)):
        return url
    full = os.path.abspath(os.path.join(cwd or os.getcwd(), url))
    return os.path.relpath(full, repo.root)


def remote_add(repo: Repo, name: str, url: str, default: bool = False, local: bool = False,
               cwd: str | None = None, progress=NULL) -> RemoteInfo:
    check_name(name)
    scheme = check_url(url)
    with repo.lock():
        if name in _names(repo):
            raise ConfigError(f"a remote named {name!r} exists already",
                              f"change it with `mlvc remote modify {name} url URL`, or remove it first")
        url = _local_url(repo, url, cwd)
        repo.config.set(f"remote.{name}.url", url, local)
        if default:
            repo.config.set(DEFAULT, name, local)
    pip = missing_extra(scheme)
    if pip:
        progress.warn(f"using remote {name!r} needs an extra that is not installed: run `{pip}`")
    return RemoteInfo(name, url, default)


def remote_list(repo: Repo) -> list[RemoteInfo]:
    default = repo.config.get(DEFAULT)
    result = []
    for name, options in sorted(_names(repo).items()):
        shown = {k: (MASK if is_secret(k) and v else v) for k, v in sorted(options.items()) if k != "url"}
        result.append(RemoteInfo(name, options.get("url", ""), name == default, shown))
    return result


def remote_remove(repo: Repo, name: str) -> None:
    with repo.lock():
        if name not in _names(repo):
            raise ConfigError(f"no remote named {name!r}", "see `mlvc remote list`")
        for local in (False, True):
            values = repo.config.local if local else repo.config.shared
            for key in [k for k in values if k.startswith(f"remote.{name}.") and
                        k[len(f"remote.{name}."):].count(".") == 0]:
                repo.config.unset(key, local)
            if values.get(DEFAULT) == name:
                repo.config.unset(DEFAULT, local)


def remote_modify(repo: Repo, name: str, option: str, value: str | None = None, local: bool = False,
                  unset: bool = False, progress=NULL) -> bool:
    """Set (or with ``unset`` remove) one option of remote ``name``. A secret goes to
    .mlvc/config.local whatever ``local`` says (a warning says so). Returns whether the
    value went to .mlvc/config.local."""
    with repo.lock():
        options = _require(repo, name) if option != "url" else _names(repo).get(name)
        if options is None:
            raise ConfigError(f"no remote named {name!r}", "add it with `mlvc remote add NAME URL`")
        key = f"remote.{name}.{option}"
        if option == "url":
            if not unset:
                check_url(value or "")
        else:
            check_option(scheme_of(options.get("url", "")), option, None if unset else value)
        if unset:
            if option == "url":
                raise ConfigError("a remote's url cannot be unset", f"remove the remote with `mlvc remote remove {name}`")
            removed = repo.config.unset(key, local)
            if not removed and not local and (is_secret(key) or _local_only(key)):
                removed = repo.config.unset(key, True)
            if not removed:
                raise ConfigError(f"{option} is not set for remote {name!r}" + (" in config.local" if local else ""))
            return local
        if value is None:
            raise ConfigError(f"no value given for {option}", f"run `mlvc remote modify {name} {option} VALUE`")
        if option == "url":
            value = _local_url(repo, value, None)
        if is_secret(key) and not local:
            local = True
            progress.warn(f"{option} is a secret: stored in .mlvc/config.local (not committed), not .mlvc/config")
        elif _local_only(key) and not local:
            local = True
            progress.warn(f"{option} decides which hosts are trusted: stored in .mlvc/config.local (not "
                          "committed), not .mlvc/config")
        repo.config.set(key, value, local)
        if local and key in repo.config.shared and is_secret(key):
            repo.config.unset(key, False)  # a secret someone wrote into the committed file: moved
        return local


def remote_default(repo: Repo, name: str | None = None) -> str | None:
    """Set the default remote to ``name``; with None, return it (None when there is none)."""
    if name is None:
        return repo.config.get(DEFAULT)
    with repo.lock():
        _require(repo, name)
        local_only = f"remote.{name}.url" not in repo.config.shared  # added with --local: so is its default
        repo.config.set(DEFAULT, name, local_only)
    return name


def resolve(repo: Repo, name: str | None = None) -> RemoteSpec:
    """The remote ``name``, or the default one (ConfigError with a hint when there is none)."""
    if name is None:
        name = repo.config.get(DEFAULT)
        if not name:
            raise ConfigError("no remote given and no default remote set",
                              "name one with -r NAME, or set one with `mlvc remote default NAME` "
                              "(`mlvc remote add --default NAME URL` adds one)")
    options = _require(repo, name)
    for option in LOCAL_ONLY:
        key = f"remote.{name}.{option}"
        if option in options and key not in repo.config.local:
            raise ConfigError(f"remote {name!r} takes {option} from .mlvc/config, which a git clone carries: "
                              "mlvc reads it only from .mlvc/config.local",
                              f"if you trust that file, run `mlvc remote modify {name} {option} PATH --local`")
    return RemoteSpec(name, options["url"], {k: v for k, v in options.items() if k != "url"})
