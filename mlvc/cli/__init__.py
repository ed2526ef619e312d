"""The ``mlvc`` command line. Thin: parse, call ``mlvc.api``, render.

The core (``mlvc.api`` and below) is imported inside each command, so that
``mlvc --help`` starts fast and never loads gitpython, fsspec or pyarrow.
"""

from __future__ import annotations

import copy
import functools
import sys

import typer

from mlvc import __version__
from mlvc.cli import render
from mlvc.cli.exitcodes import ExitStatus, exit_status_for
from mlvc.cli.render import OPTIONS

app = typer.Typer(
    name="mlvc",
    help="Version control for data and models, beside git.\n\n"
    "Track datasets and models with `mlvc add`, commit mlvc.yaml and mlvc.lock with git, "
    "and get any recorded version back with `git checkout REV && mlvc checkout`.\n\n"
    "Example: git init && mlvc init && mlvc add data/images && mlvc status",
    add_completion=False,
    invoke_without_command=True,  # no command: help and exit 2 (_main), whatever click's version does
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"mlvc {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors; no progress bars."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    OPTIONS.quiet = quiet
    OPTIONS.verbose = verbose
    if ctx.invoked_subcommand is None:  # `mlvc` alone is a usage mistake: the help, and exit 2
        sys.stdout.write(ctx.get_help() + "\n")
        raise typer.Exit(int(ExitStatus.USAGE))


def command(fn):
    """Run a command body, turning any error into one line on stderr and an exit code
    (and, for a command run with ``--json``, a JSON object on stdout)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            code = fn(*args, **kwargs)
        except typer.Exit:
            raise
        except BrokenPipeError:
            render.silence_stdout()
            raise typer.Exit(int(ExitStatus.BROKEN_PIPE)) from None
        except (Exception, KeyboardInterrupt) as exc:  # the one place errors become exit codes
            code = int(exit_status_for(exc))
            render.error(exc, code, as_json=bool(kwargs.get("as_json")))
            raise typer.Exit(code) from None
        if code:
            raise typer.Exit(int(code))

    return wrapper


GLOBAL_FLAGS = frozenset({"-q", "--quiet", "-v", "--verbose"})


def hoist_global_flags(argv: list[str]) -> list[str]:
    """Let -q/-v stand after the command too (`mlvc status -q`), as users type them."""
    end = argv.index("--") if "--" in argv else len(argv)
    head, tail = argv[:end], argv[end:]
    flags = [a for a in head if a in GLOBAL_FLAGS]
    return flags + [a for a in head if a not in GLOBAL_FLAGS] + tail


def _name_of(info) -> str | None:
    """The name click will give a registered command or group (None where unknown)."""
    if isinstance(info, typer.models.CommandInfo):
        return info.name or typer.main.get_command_name(info.callback.__name__)
    name = info.name
    if isinstance(name, typer.models.DefaultPlaceholder):
        name = info.typer_instance.info.name if info.typer_instance else None
    return None if isinstance(name, typer.models.DefaultPlaceholder) else name


def app_for(args: list[str]) -> typer.Typer:
    """``app`` with only the command that ``args`` names, when it names one exactly.

    Typer builds a click command, with its parameters read from the function's signature, for
    every registered command before it parses anything: 20-40 ms of each run for the 40 that
    are not run. ``mlvc --help``, a mistyped command and anything ambiguous get the whole app.
    """
    word = next((a for a in args if not a.startswith("-")), None)
    if word is None or "--" in args[: args.index(word)]:
        return app
    named = [c for c in app.registered_commands if _name_of(c) == word]
    groups = [g for g in app.registered_groups if _name_of(g) == word]
    if len(named) + len(groups) != 1:
        return app
    only = copy.copy(app)
    only.registered_commands = named
    only.registered_groups = groups
    return only


def main() -> None:
    args = hoist_global_flags(sys.argv[1:])
    try:
        app_for(args)(args=args, prog_name="mlvc")
    except SystemExit:
        try:
            sys.stdout.flush()  # what is still buffered goes out now, where a closed pipe can be handled
        except BrokenPipeError:
            render.silence_stdout()
            raise SystemExit(int(ExitStatus.BROKEN_PIPE)) from None
        raise


# Commands live in their own modules and register themselves on ``app``.
from mlvc.cli import commands  # noqa: E402,F401
