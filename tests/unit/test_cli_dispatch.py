"""The CLI builds only the command it runs (``mlvc.cli.app_for``), and behaves exactly as the
whole app does for it; and the console entry freezes the garbage collector before exit."""

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from mlvc.cli import app, app_for


def _commands(a: typer.Typer) -> dict:
    return typer.main.get_command(a).commands


ALL = sorted(_commands(app))


def test_every_command_is_found_by_its_name_hidden_ones_and_groups_too():
    assert {"push", "status", "remote", "stage", "git-hook", "merge-driver", "import"} <= set(ALL)
    for name in ALL:
        only = _commands(app_for([name, "--help"]))
        assert list(only) == [name]
        assert [p.name for p in only[name].params] == [p.name for p in _commands(app)[name].params]


@pytest.mark.parametrize("name", ALL)
def test_help_of_a_command_is_the_same_as_the_whole_apps(name):
    runner = CliRunner()
    whole = runner.invoke(app, [name, "--help"], prog_name="mlvc")
    alone = runner.invoke(app_for([name, "--help"]), [name, "--help"], prog_name="mlvc")
    assert whole.exit_code == alone.exit_code == 0
    assert alone.stdout == whole.stdout


@pytest.mark.parametrize("args", [[], ["--help"], ["-q"], ["--version"], ["pusj"], ["pu"],
                                  ["--", "push"], ["-q", "--", "status"]])
def test_anything_but_an_exact_command_name_gets_the_whole_app(args):
    assert app_for(args) is app


def test_global_flags_before_the_command_still_pick_it():
    assert list(_commands(app_for(["-q", "-v", "push", "-r", "x"]))) == ["push"]
    assert list(_commands(app_for(["remote", "add", "x", "/y"]))) == ["remote"]
    assert len(app.registered_commands) > 20  # the whole app is left as it was


def test_a_mistyped_command_still_gets_a_suggestion(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mlvc", "pusj"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 2
    assert "Did you mean 'push'?" in r.stderr


def test_the_real_cli_runs_a_group_command_and_a_global_flag_after_it(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mlvc", "remote", "list", "--help"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("Usage: mlvc remote list")
    r = subprocess.run([sys.executable, "-m", "mlvc", "status", "-q"], cwd=tmp_path, capture_output=True,
                       text=True)
    assert r.returncode == 3
    assert r.stderr.startswith("error: not an mlvc repository")  # -q moved before the command


def test_the_entry_freezes_the_collector_before_the_process_ends(tmp_path):
    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: sys.stderr.write(f'frozen={gc.get_freeze_count()}\\n'))\n"
            "sys.argv = ['mlvc', '--version']\n"
            "from mlvc.entry import main\n"
            "main()\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("mlvc ")
    assert int(r.stderr.split("frozen=")[1]) > 1000


def test_the_global_options_take_no_value():
    """app_for takes the first word that is not an option for the command: a global option
    that took a value (``-C DIR``) would need it to skip that value too."""
    group = typer.main.get_command(app)
    options = [p for p in group.params if p.name != "help"]
    assert options and all(p.is_flag for p in options), [p.name for p in options if not p.is_flag]
