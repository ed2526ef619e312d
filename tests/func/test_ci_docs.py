"""docs/ci.md: every YAML block parses, and every mlvc command line in them is a real command
with real flags (`mlvc CMD --help` is run for each)."""

from __future__ import annotations

import re
import shlex
import textwrap
import tomllib
from pathlib import Path

import typer
import yaml
from typer.testing import CliRunner

from mlvc.cli import GLOBAL_FLAGS, app

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "ci.md"
OPERATORS = {"||", "&&", ";", "|", "&", "{", "}"}


def yaml_blocks() -> list:
    text = PAGE.read_text(encoding="utf-8")
    return [yaml.safe_load(textwrap.dedent(b)) for b in re.findall(r"^```yaml\n(.*?)^```", text, re.M | re.S)]


def shell_lines(node) -> list[str]:
    """Every shell line of a GitHub step's `run` or a GitLab job's `script`."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "run" and isinstance(value, str):
                found.extend(value.splitlines())
            elif key == "script":
                found.extend(value if isinstance(value, list) else [value])
            else:
                found.extend(shell_lines(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(shell_lines(item))
    return found


def mlvc_commands(line: str) -> list[list[str]]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words, groups = list(lexer), [[]]
    for word in words:
        if word in OPERATORS:
            groups.append([])
        else:
            groups[-1].append(word)
    return [g[1:] for g in groups if g and g[0] == "mlvc"]


def test_every_yaml_block_parses_and_the_two_ci_files_are_there():
    blocks = yaml_blocks()
    assert len(blocks) >= 3
    github, gitlab = blocks[0], blocks[1]
    steps = github["jobs"]["verify"]["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    assert set(github[True]) == {"push", "pull_request"}  # `on:` is YAML 1.1's true
    job = gitlab["mlvc-verify"]
    assert job["stage"] in gitlab["stages"]
    for block in (github, gitlab):
        lines = shell_lines(block)
        assert "pip install 'mlvc[s3]'" in lines
        commands = [c for line in lines for c in mlvc_commands(line)]
        assert ["pull"] in commands and ["verify"] in commands and ["status", "--check"] in commands
        assert commands[0][:2] == ["remote", "add"]  # the remote is configured before it is used


def test_the_s3_extra_exists():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "s3fs" in project["optional-dependencies"]["s3"]


def test_every_mlvc_command_line_is_a_real_command_with_real_flags():
    root = typer.main.get_command(app)
    seen = 0
    for block in yaml_blocks():
        for line in shell_lines(block):
            for words in mlvc_commands(line):
                cmd, path = root, []
                rest = [w for w in words if w not in GLOBAL_FLAGS]
                while rest and hasattr(cmd, "commands") and rest[0] in cmd.commands:
                    cmd = cmd.commands[rest[0]]
                    path.append(rest.pop(0))
                assert path and not hasattr(cmd, "commands"), f"not a command: mlvc {' '.join(words)}"
                result = CliRunner().invoke(app, [*path, "--help"], prog_name="mlvc")
                assert result.exit_code == 0, result.output
                known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
                for word in rest:
                    if word.startswith("-"):
                        flag = word.split("=", 1)[0]
                        assert flag in known and flag in result.output, f"mlvc {' '.join(path)} has no {flag}"
                seen += 1
    assert seen >= 8
