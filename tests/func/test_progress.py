"""Progress bars on a terminal; silence when stdout is not one, or with -q."""

import os
import pty
import subprocess
import sys

import pytest


def _run_on_tty(args, cwd) -> str:
    """Run mlvc with stdout and stderr on a pseudo-terminal; return what it drew."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "MLVC_NO_PROGRESS"}
    env.update(TERM="xterm", COLUMNS="100", MLVC_JOBS="1")
    proc = subprocess.Popen([sys.executable, "-m", "mlvc", *args], cwd=cwd, stdout=slave, stderr=slave,
                            stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    assert proc.returncode == 0, b"".join(chunks)
    return b"".join(chunks).decode("utf-8", "replace")



def test_add_draws_a_progress_bar_on_a_terminal(repo):
    repo.root.gen({"data": {f"f{i:04d}.txt": f"file {i}\n" * 40 for i in range(1500)}})
    shown = _run_on_tty(["add", "data"], repo.root)
    assert "Adding data" in shown
    assert "Added data (1500 files" in shown


@pytest.mark.slow
def test_no_progress_when_quiet_or_not_a_terminal(repo):
    repo.root.gen({"data": {f"f{i:04d}.txt": f"file {i}\n" * 40 for i in range(1500)}})
    env = {k: v for k, v in os.environ.items() if k != "MLVC_NO_PROGRESS"}
    r = subprocess.run([sys.executable, "-m", "mlvc", "add", "data"], cwd=repo.root, capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0
    assert "Adding data" not in r.stdout + r.stderr and "\x1b[" not in r.stdout + r.stderr
    (repo.root / "data" / "f0000.txt").write_text("changed")
    shown = _run_on_tty(["-q", "commit"], repo.root)
    assert "Adding data" not in shown and shown.strip() == ""


def test_a_transfer_line_fits_a_terminal_of_100_columns():
    """The count of a transfer beside the bar stays on the bar's line (a bar of fixed width
    pushed it onto a second line at 100 columns)."""
    import io

    from rich.console import Console

    from mlvc.cli.render import make_bar

    out = io.StringIO()
    bar = make_bar(Console(file=out, width=100, force_terminal=True, color_system=None))
    task = bar.add_task("Fetching from store", total=614_400, files=1088, files_total=1501, moved=403_251,
                        nbytes=614_400)
    bar.update(task, completed=403_251)
    bar.console.print(bar.get_renderable())
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "Fetching from store" in lines[0] and "1088/1501 files, 393.8 KiB/600.0 KiB" in lines[0], \
        out.getvalue()
