"""A command is not done until `mlvc CMD --help` and docs/reference/CMD.md describe it with an example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mlvc.cli import app

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"
COMMANDS = sorted(typer.main.get_command(app).commands)


def test_every_command_is_found():
    assert {"init", "add", "status", "commit", "checkout"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_help_has_an_example(name):
    result = CliRunner().invoke(app, [name, "--help"], prog_name="mlvc")
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`mlvc {name} --help` has no example"


@pytest.mark.parametrize("name", COMMANDS)
def test_reference_page_has_an_example(name):
    page = REFERENCE / f"{name}.md"
    assert page.is_file(), f"docs/reference/{name}.md is missing"
    text = page.read_text(encoding="utf-8")
    examples = re.search(r"^## Examples?\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert examples and re.search(r"^```", examples.group(1), re.M), (
        f"docs/reference/{name}.md has no fenced block under '## Examples'")
    assert f"({name}.md)" in (REFERENCE / "README.md").read_text(encoding="utf-8"), (
        f"docs/reference/README.md does not link {name}.md")
