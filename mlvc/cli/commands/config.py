"""The ``config`` command. Parse options, call ``mlvc.api``, render."""

from __future__ import annotations

from typing import Optional

import typer

from mlvc.cli import app, command
from mlvc.cli.commands.data import JSON
from mlvc.cli.exitcodes import ExitStatus
from mlvc.cli.render import data, emit_json


@app.command()
@command
def config(
    key: Optional[str] = typer.Argument(None, metavar="[KEY]", help="A key such as cache.type."),
    value: Optional[str] = typer.Argument(None, metavar="[VALUE]",
                                          help="The value to set; omit to print the current value or its default "
                                               "(exit 1 if neither)."),
    local: bool = typer.Option(False, "--local", help="Use .mlvc/config.local (git-ignored: secrets, machine paths)."),
    unset: bool = typer.Option(False, "--unset", help="Remove the key."),
    list_: bool = typer.Option(False, "--list", "-l", help="List every key with its value (defaults included)."),
    as_json: bool = JSON,
):
    """Get or set configuration in .mlvc/config (tracked) or .mlvc/config.local.

    Keys: cache.type (ordered link types from reflink, hardlink, symlink, copy;
    default reflink,copy), cache.dir (where the cache lives, default
    .mlvc/cache; may be shared), cache.shared (group: a cache several users
    share), core.fsync (batch, always, never), core.remote, remote.NAME.OPTION.
    With no KEY, lists every key (like --list), defaults marked "(default)";
    --json gives each value and its source (config, config.local, default);
    secrets such as remote.NAME.password show as ***. .mlvc/config.local wins over
    .mlvc/config. A cache.dir outside the repository that comes from the
    committed .mlvc/config is used only once confirmed in .mlvc/config.local.

    Example: mlvc config cache.type hardlink,copy
    """
    from mlvc import api
    from mlvc.errors import MlvcError, UsageError

    if list_ or key is None:
        items = api.config_list()
        if as_json:
            emit_json({k: {"value": v, "source": src} for k, (v, src) in items.items()})
        else:
            for k, (v, src) in items.items():
                data(f"{k}={v}" + (" (default)" if src == "default" else ""))
        return
    if unset:
        if value is not None:
            raise UsageError("--unset takes a key and no value", "run `mlvc config --unset KEY`")
        if not api.config_unset(key, local):
            raise MlvcError(f"{key} is not set" + (" in config.local" if local else ""))
        return
    if value is None:
        got = api.config_get(key)
        if got is None:
            return ExitStatus.CHECK_FAILED  # like `git config KEY`: unset, no default: exit 1 quietly
        if as_json:
            emit_json({key: {"value": got[0], "source": got[1]}})
        else:
            data(got[0])
        return
    api.config_set(key, value, local)
