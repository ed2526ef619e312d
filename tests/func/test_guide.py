"""docs/getting-started.md, followed literally: every ```console block, in order, in an empty folder.

A console block holds commands (``$ `` lines, continued by ``> `` lines as bash
shows them) and the output each one prints (stdout and stderr together). A
command must exit 0 unless its output ends with ``[exit N]``; the output must be
the one shown, where ``[...]`` stands for any text (a folder, a time).

When a command's output changes on purpose, write the real outputs into the
guide and review the diff:

    MLVC_GUIDE_UPDATE=1 .venv/bin/python -m pytest -q tests/func/test_guide.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
ANY = "[...]"
EXIT = re.compile(r"^\[exit (\d+)\]$")


@dataclass
class Command:
    text: str  # what bash runs (continuation lines joined with newlines)
    line: int  # where the command starts in the guide (1-based)
    output: list[str]  # the output shown, without the [exit N] line
    exit_code: int
    span: tuple[int, int]  # the lines of the guide (0-based, end excluded) that hold the output


def parse(lines: list[str]) -> list[Command]:
    commands: list[Command] = []
    c: Command | None = None  # the command being read, in the current console block
    in_console = continuing = False
    for i, line in enumerate(lines):
        if not in_console:
            in_console, c = line.strip() == "```console", None
        elif line.strip() == "```":
            in_console = False
        elif line.startswith("$ "):
            c = Command(line[2:], i + 1, [], 0, (i + 1, i + 1))
            commands.append(c)
            continuing = True
        elif continuing and line.startswith("> "):
            c.text += "\n" + line[2:]
            c.span = (i + 1, i + 1)
        elif c is None:
            raise AssertionError(f"{GUIDE.name}:{i + 1}: output before the first command of a console block")
        else:
            continuing = False
            c.output.append(line)
            c.span = (c.span[0], i + 1)
    for c in commands:
        if c.output and (m := EXIT.match(c.output[-1])):
            c.exit_code = int(m.group(1))
            c.output.pop()
    return commands


def _script(commands: list[Command], out: Path, stop: bool = True) -> str:
    """One bash session (so `cd` and variables carry over); each command's output and exit
    code into files; stop at the first exit code the guide does not show (unless not ``stop``)."""
    parts = ["set +e"]
    for n, c in enumerate(commands):
        parts.append(f"{{ {c.text}\n}} >'{out}/{n}.out' 2>&1 </dev/null\nrc=$?\necho $rc >'{out}/{n}.rc'")
        if stop:
            parts.append(f"[ $rc = {c.exit_code} ] || exit 99")
    return "\n".join(parts) + "\n"


def _matches(shown: list[str], real: list[str]) -> bool:
    if len(shown) != len(real):
        return False
    for want, got in zip(shown, real):
        pattern = ".*".join(re.escape(part) for part in want.split(ANY))
        if not re.fullmatch(pattern, got):
            return False
    return True


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLVC_", "GIT_DIR", "GIT_WORK_TREE"))}
    env.update(PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""), HOME=str(home),
               LC_ALL="C", MLVC_NO_PROGRESS="1")
    return env


@pytest.mark.slow  # some forty commands
def test_the_guide_runs_as_written(tmp_path):
    lines = GUIDE.read_text().splitlines()
    commands = parse(lines)
    assert len(commands) > 20 and any(c.exit_code for c in commands)
    work, home, out = tmp_path / "work", tmp_path / "home", tmp_path / "out"
    for d in (work, home, out):
        d.mkdir()
    assert os.path.exists(os.path.join(os.path.dirname(sys.executable), "mlvc"))
    update = os.environ.get("MLVC_GUIDE_UPDATE") == "1"
    proc = subprocess.run(["bash", "-c", _script(commands, out, stop=not update)], cwd=work, env=_env(home),
                          capture_output=True, text=True, timeout=300)
    problems, new = [], list(lines)
    for n, c in reversed(list(enumerate(commands))):
        rc_file = out / f"{n}.rc"
        if not rc_file.exists():
            continue  # not reached: an earlier command failed
        rc = int(rc_file.read_text())
        real = _lines((out / f"{n}.out").read_text())
        where = f"{GUIDE.name}:{c.line}: $ {c.text}"
        if rc != c.exit_code:
            problems.append(f"{where}\n  exit {rc}, the guide shows {c.exit_code}; it printed:\n    "
                            + "\n    ".join(real))
        elif not _matches(c.output, real):
            problems.append(f"{where}\n  the guide shows:\n    " + "\n    ".join(c.output)
                            + "\n  it printed:\n    " + "\n    ".join(real))
        else:
            continue
        new[c.span[0]:c.span[1]] = real + ([f"[exit {rc}]"] if rc else [])
    assert proc.returncode != 99 or problems, proc.stderr
    if update and problems:
        GUIDE.write_text("\n".join(new) + "\n")
    problems.reverse()
    hint = "" if update else "\n(MLVC_GUIDE_UPDATE=1 writes the real outputs into the guide; review the diff)"
    assert not problems, "\n\n".join(problems) + hint
    assert len(list(out.glob("*.rc"))) == len(commands), proc.stderr  # every command ran


def test_parse_reads_commands_continuations_outputs_and_exit_codes():
    text = """intro
```console
$ echo a && \\
> echo b
a
b
$ cat <<'EOF'
> x [...] y
> EOF
x [...] y
$ false
[exit 1]
$ true
```
```sh
$ not a console block
```
"""
    commands = parse(text.splitlines())
    assert [c.text for c in commands] == ["echo a && \\\necho b", "cat <<'EOF'\nx [...] y\nEOF", "false", "true"]
    assert [c.output for c in commands] == [["a", "b"], ["x [...] y"], [], []]
    assert [c.exit_code for c in commands] == [0, 0, 1, 0]
    assert [c.span for c in commands] == [(4, 6), (9, 10), (11, 12), (13, 13)]  # [exit N] in the span
    assert _matches(["in [...]/project"], ["in /tmp/x/project"]) and not _matches(["in [...]/x"], ["in /y"])
