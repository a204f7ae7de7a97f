"""Every CLI command has help with an example and is documented in the README."""

from pathlib import Path

import pytest
import typer.main

from cli.app import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(group, prefix: str = "") -> list:
    out = []
    for name, command in group.commands.items():
        full = f"{prefix} {name}".strip()
        if hasattr(command, "commands"):
            out.extend(_commands(command, full))
        else:
            out.append((full, command))
    return out


COMMANDS = _commands(typer.main.get_command(app))


def test_there_are_commands():
    names = {name for name, _ in COMMANDS}
    assert {"config check", "db upgrade", "calls list", "calls show", "calls import"} <= names


@pytest.mark.parametrize("name,command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_has_help_with_example(name, command):
    assert command.help and "Example:" in command.help, (
        f"`bevaka {name}` needs help with an example"
    )


@pytest.mark.parametrize("name,command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_is_in_readme(name, command):
    assert f"bevaka {name}" in README, f"`bevaka {name}` is not documented in README.md"
