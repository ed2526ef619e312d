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
                                 "profile, access_key_id, secret_access_key, session_token; gs: projectname, "
                                 "credentialpath, endpointurl, anon; az: account_name, account_key, "
                                 "connection_string, sas_token; ssh: user, port, keyfile, password, known_hosts)."),
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


# ---------------------------------------------------------------- push, fetch, pull

TARGETS = typer.Argument(None, metavar="[TARGET]...",
                         help="Artifacts, paths inside tracked folders, or stages (their outs); default: all.")
REMOTE = typer.Option(None, "--remote", "-r", metavar="NAME", help="The remote (default: core.remote).")
JOBS = typer.Option(None, "--jobs", "-j", min=1, metavar="JOBS", help="Parallel transfers (default 16; one a core for a local folder).")
REVS = typer.Option(None, "--rev", metavar="REV", help="What mlvc.lock records at this git revision (repeatable) "
                    "instead of the workspace's.")
ALL_COMMITS = typer.Option(False, "--all-commits", help="What mlvc.lock records at every commit, and the workspace's.")
RUN_CACHE = typer.Option(False, "--run-cache", help="Also the run-cache records (what stage runs made), each after "
                         "the objects it names.")


def _revs(revs, all_commits):
    from mlvc.errors import UsageError

    if revs and all_commits:
        raise UsageError("--rev and --all-commits cannot be used together", "give one of them")
    return list(revs or [])


def _runs(run_cache: bool) -> dict:
    return {"run_cache": True} if run_cache else {}


def _moved(verb: str, result) -> str:
    if not result.transferred:
        return f"Everything is {verb} already ({result.already} object(s) checked)." if verb == "pushed" else \
            f"Nothing to fetch: the cache has every object ({result.already} file(s))."
    return f"{verb.capitalize()} {result.transferred} object(s) ({result.remote})."


@app.command()
@command
def push(targets: Optional[list[str]] = TARGETS, remote: Optional[str] = REMOTE, jobs: Optional[int] = JOBS,
         revs: Optional[list[str]] = REVS, all_commits: bool = ALL_COMMITS, run_cache: bool = RUN_CACHE,
         full: bool = typer.Option(False, "--full", help="Check every object on the remote (one bulk listing), "
                                   "also below folders it holds, and send again what is missing or short."),
         as_json: bool = JSON):
    """Upload to a remote the objects of tracked artifacts that it lacks.

    Walks down each recorded tree and skips every folder the remote already
    holds; a tree object is uploaded only after everything it lists. A path
    inside a tracked folder pushes only that part. On failure, one line names
    the remote and the cause, with the count of what moved; a rerun moves
    only what is still missing. --run-cache also sends the run-cache records
    (`mlvc repro` restores a stage's outs from one instead of running it),
    each after the objects it names. --full does not trust a folder the
    remote holds to be complete: it lists the remote's objects (in bulk) and
    sends again every object of the pushed trees that is missing there or
    has another size (deleted by hand, a short upload).

    Example: mlvc push -r storage data/images
    """
    from mlvc import api

    result = render.with_progress(api.push, targets or [], remote=remote, jobs=jobs, revs=_revs(revs, all_commits),
                            all_commits=all_commits, **_runs(run_cache), **({"full": True} if full else {}))
    if as_json:
        emit_json({"remote": result.remote, "transferred": result.transferred, "already": result.already,
                   **({"runs": result.runs} if run_cache else {})})
        return
    out(_moved("pushed", result))
    if run_cache:
        out(f"Pushed {result.runs} run-cache record(s).")


@app.command()
@command
def fetch(targets: Optional[list[str]] = TARGETS, remote: Optional[str] = REMOTE, jobs: Optional[int] = JOBS,
         revs: Optional[list[str]] = REVS, all_commits: bool = ALL_COMMITS, run_cache: bool = RUN_CACHE,
          as_json: bool = JSON):
    """Download from a remote into the cache the objects it lacks (the workspace is untouched).

    Each object is hashed while it is written and enters the cache only when
    its content matches its id; a corrupted one is named and discarded.
    --run-cache also brings the remote's run-cache records, each after the
    objects it names.

    Example: mlvc fetch -r storage
    """
    from mlvc import api

    result = render.with_progress(api.fetch, targets or [], remote=remote, jobs=jobs, revs=_revs(revs, all_commits),
                            all_commits=all_commits, **_runs(run_cache))
    if as_json:
        emit_json({"remote": result.remote, "transferred": result.transferred, "already": result.already,
                   "bytes": result.nbytes, **({"runs": result.runs} if run_cache else {})})
        return
    out(_moved("fetched", result))
    if run_cache:
        out(f"Fetched {result.runs} run-cache record(s).")


@app.command()
@command
def pull(targets: Optional[list[str]] = TARGETS, remote: Optional[str] = REMOTE, jobs: Optional[int] = JOBS,
         force: bool = typer.Option(False, "--force", "-f", help="Overwrite or delete local changes (as checkout)."),
         run_cache: bool = RUN_CACHE, as_json: bool = JSON):
    """Fetch the objects of tracked artifacts, then check them out (`mlvc fetch` + `mlvc checkout`).

    A path inside a tracked folder pulls and restores that part only.
    --run-cache also fetches the remote's run-cache records.

    Example: git clone URL && cd repo && mlvc pull
    """
    from mlvc import api

    result = render.with_progress(api.pull, targets or [], remote=remote, jobs=jobs, force=force, **_runs(run_cache))
    co = result.checkout
    if as_json:
        emit_json({"remote": result.fetch.remote, "transferred": result.fetch.transferred,
                   "already": result.fetch.already, "bytes": result.fetch.nbytes,
                   "added": co.added, "modified": co.modified, "deleted": co.deleted,
                   **({"runs": result.fetch.runs} if run_cache else {})})
        return
    out(_moved("fetched", result.fetch))
    if run_cache:
        out(f"Fetched {result.fetch.runs} run-cache record(s).")
    if co.changed:
        out(f"Checked out: {len(co.added)} added, {len(co.modified)} modified, {len(co.deleted)} deleted "
            f"({co.unchanged} unchanged).")
    else:
        out("Workspace already matches mlvc.lock.")
