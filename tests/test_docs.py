"""The docs stay true to the code: generated reference pages match, README commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from portrait.cli import app
from portrait.docs import data_reference

ROOT = Path(__file__).resolve().parents[1]


def test_data_reference_is_generated_from_the_schema():
    assert (ROOT / "docs" / "data.md").read_text(encoding="utf-8") == data_reference(), (
        "docs/data.md is stale: run `python -m portrait.docs`"
    )


def test_every_command_in_the_readme_exists():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = set(re.findall(r"`portrait ([a-z-]+(?: [a-z-]+)?)", readme))
    assert commands, "the README lists no commands"
    runner = CliRunner()
    for command in sorted(commands):
        words = [w for w in command.split() if not w.isupper() and not w.startswith("-")]
        result = runner.invoke(app, [*words, "--help"])
        assert result.exit_code == 0, f"`portrait {command}` from the README does not exist: {result.output}"


def test_readme_names_the_two_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "scripts/demo" in readme and "scripts/test" in readme
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
