"""Bad config, generated with hypothesis: whatever is written into settings.yaml,
sources.yaml or needs.yaml (any text, any bytes, any YAML document, the shipped file with a
random value put at a random key path), ``config.loader.load_config`` either loads it or
raises ``ConfigError`` whose problems name the file (and a line, whenever the file could
be parsed); never any other exception, never a traceback."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from config.loader import ConfigError, load_config, read_yaml, validate_file
from config.schema import NeedsFile, Settings, SourcesFile

ROOT = Path(__file__).resolve().parents[2]
FILES = ("settings.yaml", "sources.yaml", "needs.yaml")
SHIPPED = {name: yaml.safe_load((ROOT / "config" / name).read_text("utf-8")) for name in FILES}
# the shipped needs.yaml is big (validating it compiles every term); fuzz a small one
SHIPPED["needs.yaml"] = {
    "defaults": SHIPPED["needs.yaml"].get("defaults", {}),
    "departments": SHIPPED["needs.yaml"]["departments"][:1],
    "topics": SHIPPED["needs.yaml"]["topics"][:1],
}
MODELS = {"settings.yaml": Settings, "sources.yaml": SourcesFile, "needs.yaml": NeedsFile}
FUZZ = settings(
    max_examples=50,
    database=None,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "~", "yes", "0 6 * * mon", "http://x", "*", "\x00", "{", "[", "&a"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.integers(), inner, max_size=4)
    ),
    max_leaves=12,
)
yaml_lines = st.lists(
    st.sampled_from(
        [
            "sources:",
            "  - key: x",
            "    kind: feed",
            "    url: http://example.org",
            "a: &a [1, 2]",
            "b: *a",
            "c: *missing",
            "<<: *a",
            "? [complex, key]",
            ": value",
            "!!python/object:os.system {}",
            "tag: !!binary aGVq",
            "when: 2026-02-28",
            "  bad indent: 1",
            "\t tab: 1",
            "key: 'unterminated",
            '"',
            "- item",
            "departments:",
            "  - {key: k, name: n, needs: [{name: n, any: ['\"']}]}",
            "smtp: {password: hunter2}",
            "dup: 1",
            "dup: 2",
            "%YAML 1.2",
            "---",
            "...",
            "x: " + "[" * 60 + "]" * 60,
        ]
    ),
    max_size=8,
).map("\n".join)


def _config_dir() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="bevaka-fuzz-"))
    for name in FILES:
        shutil.copyfile(ROOT / "config" / name, directory / name)
    return directory


def _check(directory: Path, name: str, parsed_ok: bool, whole: bool = False) -> None:
    """Validate ``name`` as load_config does (``whole``: run load_config itself)."""
    try:
        if whole:
            load_config(directory)
        else:
            validate_file(MODELS[name], directory / name, name)
    except ConfigError as exc:
        assert exc.problems, "a ConfigError without problems"
        for problem in exc.problems:
            assert problem.file.endswith(name) or problem.file == "environment", str(problem)
            assert problem.message
            if parsed_ok:
                assert problem.line is not None and problem.line >= 1, str(problem)
        text = str(exc)
        assert name in text and "Traceback" not in text
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _parses(data: bytes) -> bool:
    """Could the file be read and parsed as YAML into a non-empty mapping?"""
    try:
        loaded = yaml.safe_load(data.decode("utf-8"))
    except Exception:
        return False
    return isinstance(loaded, dict) and bool(loaded)


@FUZZ
@given(name=st.sampled_from(FILES), data=st.binary(max_size=300))
@example(name="settings.yaml", data=b"\xff\xfe\x00b\x00a\x00d")
@example(name="needs.yaml", data=b"departments: [\x80\x81]")
def test_any_bytes(name: str, data: bytes) -> None:
    directory = _config_dir()
    (directory / name).write_bytes(data)
    _check(directory, name, parsed_ok=_parses(data))


@FUZZ
@given(name=st.sampled_from(FILES), text=st.text(max_size=300) | yaml_lines)
@example(name="settings.yaml", text="x: " + "[" * 5000 + "]" * 5000)
@example(name="settings.yaml", text="? [a, b]\n: 1")
@example(name="needs.yaml", text="!!python/object/apply:os.system ['true']")
def test_any_text(name: str, text: str) -> None:
    directory = _config_dir()
    data = text.encode("utf-8", errors="surrogatepass")
    (directory / name).write_bytes(data)
    _check(directory, name, parsed_ok=_parses(data))


def _put(data: Any, path: list[Any], value: Any) -> Any:
    """``data`` with ``value`` at ``path`` (indices wrap; a missing container is made)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        keys = list(data)
        key = keys[head % len(keys)] if isinstance(head, int) and keys else head
        out = dict(data)
        out[key] = _put(data.get(key), rest, value)
        return out
    if isinstance(data, list) and data and isinstance(head, int):
        out = list(data)
        out[head % len(out)] = _put(out[head % len(out)], rest, value)
        return out
    return {str(head): _put(None, rest, value)}


@FUZZ
@given(
    name=st.sampled_from(FILES),
    path=st.lists(st.integers(0, 50) | st.text(max_size=8), min_size=1, max_size=5),
    value=values,
)
@example(name="settings.yaml", path=["smtp", "password"], value="hunter2")
@example(name="sources.yaml", path=[0, 0, "options"], value={"item": "[["})
@example(name="needs.yaml", path=[1, 0, "needs", 0, "any"], value=["(unbalanced"])
@example(name="settings.yaml", path=["crawl", "timeout_seconds"], value=float("nan"))
def test_shipped_file_with_a_random_value_anywhere(name: str, path: list, value: Any) -> None:
    mutated = _put(SHIPPED[name], path, value)
    try:
        text = yaml.safe_dump(mutated, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        return
    directory = _config_dir()
    (directory / name).write_text(text, encoding="utf-8")
    _check(directory, name, parsed_ok=_parses(text.encode("utf-8")))


def test_self_referencing_alias_is_a_config_error(tmp_path) -> None:
    directory = _config_dir()
    (directory / "sources.yaml").write_text("a: &a [*a]\n", encoding="utf-8")
    _check(directory, "sources.yaml", parsed_ok=False, whole=True)


@pytest.mark.parametrize("text", ["deadline: 2027-02-31\n", "x: 2026-13-01\n"])
def test_impossible_date_is_a_config_error(text: str) -> None:
    directory = _config_dir()
    (directory / "settings.yaml").write_text(text, encoding="utf-8")
    _check(directory, "settings.yaml", parsed_ok=False)


@pytest.mark.parametrize(
    "name, text",
    [
        ("settings.yaml", "smtp: {password: hunter2}\n"),
        ("sources.yaml", "sources: [{key: Bad Key, kind: nope}]\n"),
        ("needs.yaml", "departments: [{key: k, name: n, needs: [{name: n, any: []}]}]\n"),
        ("settings.yaml", b"\xff\xfe garbage".decode("latin-1")),
    ],
)
def test_load_config_reports_the_file(name: str, text: str) -> None:
    directory = _config_dir()
    (directory / name).write_text(text, encoding="latin-1")
    with pytest.raises(ConfigError):
        load_config(directory)
    _check(_config_dir(), name, parsed_ok=True, whole=True)  # the shipped files load
    directory = _config_dir()
    (directory / name).write_text(text, encoding="latin-1")
    _check(directory, name, parsed_ok=_parses(text.encode("latin-1")), whole=True)


@pytest.mark.parametrize(
    "text, line",
    [
        ("a: 1\nb: [\n", 3),
        ("a: 1\n  b: 2\n", 2),
        ("a: 1\na: 2\n", 2),
        ("x: !!python/name:os.system ''\n", 1),
    ],
)
def test_read_yaml_names_file_and_line(tmp_path, text: str, line: int) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        read_yaml(path, "config/settings.yaml")
    (problem,) = info.value.problems
    assert problem.file == "config/settings.yaml"
    assert problem.line == line, str(problem)
