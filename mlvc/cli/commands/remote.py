"""Remote commands: remote (add, list, remove, modify, default). Parse options, call
``mlvc.api``, render. fsspec and the backends are imported by the core, only when a command
opens a remote."""

from __future__ import annotations

from typing import Optional

import typer

from mlvc.cli import app, command, render
from mlvc.cli.exitcodes import ExitStatus
from mlvc.cli.render import data, emit_json, out

JSON = typer.Option(False, "--json", help="Print the result as JSON.")

remote_app = typer.Typer(
    name="remote",
    help="Configure remotes: where `mlvc push` sends objects and `mlvc pull` gets them.\n\n"
    "URLs: a local path or file://, s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, "
    "ssh://user@host/path, http(s):// (read-only). Secrets go to .mlvc/config.local only.\n\n"
    "Example: mlvc remote add --default storage s3://my-bucket/data",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(remote_app)


def _reporter():
    return render.Reporter()


@remote_app.command("add")
@command
def remote_add(
    name: str = typer.Argument(..., help="The remote's name."),
    url: str = typer.Argument(..., help="Where it is: a path, file://, s3://, gs://, az://, ssh://, http(s)://."),
    default: bool = typer.Option(False, "--default", "-d", help="Make it the default remote."),
    local: bool = typer.Option(False, "--local", help="Keep it in .mlvc/config.local (this clone only)."),
):
    """Add a remote.

    A relative local path is relative to where you stand, and stored relative
    to the repository's root. Options (endpointurl, region, credentials ...)
    are set with `mlvc remote modify`.

    Example: mlvc remote add --default storage s3://my-bucket/data
    """
    from mlvc import api

    api.remote_add(name, url, default=default, local=local, progress=_reporter())


@remote_app.command("list")
@command
def remote_list(as_json: bool = JSON):
    """List the remotes: name, URL, the default marked; options with --json (secrets as ***).

    Example: mlvc remote list --json
    """
    from mlvc import api

    remotes = api.remote_list()
    if as_json:
        emit_json([{"name": r.name, "url": r.url, "default": r.default, "options": r.options} for r in remotes])
        return
    for r in remotes:
        data(f"{r.name}\t{r.url}" + ("\t(default)" if r.default else ""))


@remote_app.command("remove")
@command
def remote_remove(name: str = typer.Argument(..., help="The remote to remove.")):
    """Remove a remote and its options (and the default, if it was the default).

    Example: mlvc remote remove storage
    """
    from mlvc import api

    api.remote_remove(name)


@remote_app.command("modify")
@command
def remote_modify(
    name: str = typer.Argument(..., help="The remote."),
    option: str = typer.Argument(..., metavar="KEY", help="url, or an option of its kind (s3: endpointurl, region, "
                                 "profile, access_key_id, secret_access_key; ssh: user, port, keyfile, password)."),
    value: Optional[str] = typer.Argument(None, metavar="[VALUE]", help="The value (none with --unset)."),
    local: bool = typer.Option(False, "--local", help="Write .mlvc/config.local (secrets always go there)."),
    unset: bool = typer.Option(False, "--unset", help="Remove the option."),
):
    """Set or unset one option of a remote.

    Secrets (secret_access_key, password, account_key, sas_token ...) are
    stored in .mlvc/config.local even without --local (a warning says so),
    and never printed.

    Example: mlvc remote modify storage endpointurl http://127.0.0.1:9000
    """
    from mlvc import api
    from mlvc.errors import UsageError

    if unset and value is not None:
        raise UsageError("--unset takes a remote and a key, no value", f"run `mlvc remote modify --unset {name} KEY`")
    if not unset and value is None:
        raise UsageError(f"no value given for {option}", f"run `mlvc remote modify {name} {option} VALUE`")
    api.remote_modify(name, option, value, local=local, unset=unset, progress=_reporter())


@remote_app.command("default")
@command
def remote_default(name: Optional[str] = typer.Argument(None, metavar="[NAME]", help="The remote to make the default.")):
    """Set the default remote, or print it (exit 1 when there is none).

    Example: mlvc remote default storage
    """
    from mlvc import api

    got = api.remote_default(name)
    if name is None:
        if got is None:
            return ExitStatus.CHECK_FAILED
        data(got)
