import json
import re
import subprocess
import sys

import pytest

COMMANDS = ["init", "add", "commit", "status", "checkout", "remove", "unprotect", "ls", "fsck", "gc", "config", "stage",
            "repro", "dag", "params", "metrics", "verify", "remote", "push", "fetch", "pull", "diff", "log",
            "restore", "install", "get", "import", "update"]
HEAVY = ("git", "fsspec", "pyarrow", "numpy")


def test_importing_the_cli_leaves_heavy_libraries_out():
    code = ("import json, sys; import mlvc.cli; "
            f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(p.stdout) == []


def test_help_and_status_leave_heavy_libraries_out(repo):
    """`mlvc --help` and `mlvc status` run without gitpython, fsspec or pyarrow."""
    code = ("import json, sys\n"
            "from mlvc.cli import app\n"
            "for args in (['--help'], ['status']):\n"
            "    try:\n"
            "        app(args, prog_name='mlvc')\n"
            "    except SystemExit:\n"
            "        pass\n"
            f"sys.stderr.write(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n")
    repo.root.gen("a.bin", "a")
    subprocess.run([sys.executable, "-m", "mlvc", "add", "a.bin"], cwd=repo.root, check=True, capture_output=True)
    p = subprocess.run([sys.executable, "-c", code], cwd=repo.root, capture_output=True, text=True)
    assert "Up to date" in p.stdout
    assert json.loads(p.stderr.strip().splitlines()[-1]) == []


def test_main_help_has_an_example(mlvc_proc, tmp_dir):
    p = mlvc_proc("--help", cwd=tmp_dir)
    assert p.returncode == 0
    assert "Example" in p.stdout
    for cmd in COMMANDS:
        assert cmd in p.stdout


def test_no_arguments_shows_help(mlvc):
    r = mlvc()
    assert r.exit_code == 2  # a missing command is a usage error (exit codes table: 2)
    assert "Usage" in r.output


@pytest.mark.parametrize("cmd", COMMANDS)
def test_command_help_has_an_example(mlvc, cmd):
    r = mlvc(cmd, "--help")
    assert r.exit_code == 0
    assert re.search(rf"^\s*Example: .*mlvc {cmd}", r.stdout, re.M), r.stdout


def test_usage_errors_exit_2(mlvc, repo):
    assert mlvc("status", "--no-such-option").exit_code == 2
    assert mlvc("no-such-command").exit_code == 2


def test_version(mlvc_proc, tmp_dir):
    p = mlvc_proc("--version", cwd=tmp_dir)
    assert p.returncode == 0 and p.stdout.startswith("mlvc ")
