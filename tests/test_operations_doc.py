"""docs/operations.md: every `bevaka` command in its shell blocks is a real command whose
arguments parse, and each is exercised by a named test; every make target it names exists;
the lock files it documents pin every dependency with hashes, the production one without
the dev extras."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import typer.main
from click import Context

from cli.app import app

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```sh\n(.*?)```", DOC, flags=re.S)

#: each documented command and the test that runs it for real
TESTED_BY = {
    "config check": "tests/config/test_config.py",
    "db upgrade": "tests/storage/test_import_cli.py",
    "db backup": "tests/storage/test_backup.py",
    "db restore": "tests/storage/test_backup.py",
    "secret generate": "tests/config/test_config.py",
    "subscribers export": "tests/notifications/test_personal_data.py",
    "subscribers forget": "tests/notifications/test_personal_data.py",
    "calls list": "tests/storage/test_backup.py",
}


def _bevaka_commands() -> list[list[str]]:
    """Each `bevaka ...` invocation in the shell blocks, as its argument list."""
    found = []
    for block in BLOCKS:
        for line in block.splitlines():
            code = line.split(" #", 1)[0].replace("$(date +%F)", "2026-12-01")
            for part in re.split(r"&&|\|\||;|\$\(", code):
                text = part.split(">", 1)[0].strip()
                if text.count('"') % 2:  # the end of a "...$(bevaka ...)" string
                    text = text.replace('"', "")
                text = text.rstrip(")")
                words = shlex.split(text)
                while words and re.match(r"^[A-Z_]+=", words[0]):
                    words.pop(0)  # VAR=value before the command
                if (
                    words
                    and words[0].endswith("bevaka")
                    and "/" not in words[0].replace(".venv/bin/", "")
                ):
                    found.append(words[1:])
    return found


COMMANDS = _bevaka_commands()


def _parse(args: list[str]) -> str:
    """Parse ``args`` as click would (options and arguments checked); the command's path."""
    group = typer.main.get_command(app)
    ctx = Context(group, info_name="bevaka")
    path = []
    command = group
    rest = list(args)
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        path.append(rest.pop(0))
        command = command.commands[path[-1]]
    assert not hasattr(command, "commands"), f"`bevaka {' '.join(args)}` names no command"
    command.make_context(" ".join(path), rest, parent=ctx)
    return " ".join(path)


def test_the_doc_has_commands():
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_each_documented_command_parses_and_is_tested(args):
    path = _parse(args)
    assert path in TESTED_BY, f"`bevaka {path}` in docs/operations.md has no test named here"
    test_file = ROOT / TESTED_BY[path]
    assert f'"{path.split()[-1]}"' in test_file.read_text(encoding="utf-8")


def test_every_make_target_in_the_doc_exists():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    named = {t for block in BLOCKS for t in re.findall(r"\bmake ([a-z][a-z-]*)", block)}
    named |= set(re.findall(r"`make ([a-z][a-z-]*)", DOC))
    assert named and named <= targets, named - targets


def _locked(path: Path) -> dict[str, str]:
    """name → the requirement block (version and hashes) of a pip-compile lock."""
    text = path.read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    out = {}
    for block in blocks:
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", block)
        if match:
            out[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = block
    return out


def _names(requirements: list[str]) -> set[str]:
    return {re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~; ]", r, 1)[0]).lower() for r in requirements}


def test_the_locks_pin_every_dependency_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = _names(project["dependencies"])
    dev = _names(project["optional-dependencies"]["dev"])
    production = _locked(ROOT / "requirements.lock")
    development = _locked(ROOT / "requirements-dev.lock")
    assert runtime <= set(production), runtime - set(production)
    assert (runtime | dev) <= set(development), (runtime | dev) - set(development)
    for tool in ("pytest", "ruff", "playwright", "hypothesis", "pip-tools"):
        assert tool not in production, f"{tool} would be installed on a server"
    for lock in (production, development):
        for name, block in lock.items():
            assert "--hash=sha256:" in block, f"{name} has no hash in the lock"
        for name in runtime:  # the tested versions are the same in both
            assert production[name].split()[0] == development[name].split()[0]
