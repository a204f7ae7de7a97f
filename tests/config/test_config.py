"""bevaka config check: exit 0 on the shipped config, 2 with file:line and key path otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from config.loader import ConfigError, load_config

#: a key that passes the strength check (tests only)
STRONG_KEY = "Zq3vT9-kLm2Xw8pR4sYb7NcE1hJu6GdA"

runner = CliRunner()


def check(config_dir: Path):
    return runner.invoke(app, ["--config", str(config_dir), "config", "check"])


def test_shipped_config_is_valid():
    result = runner.invoke(app, ["config", "check"], env={"BEVAKA_CONFIG": ""})
    assert result.exit_code == 0, result.output
    assert "config OK" in result.output


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_unknown_key_is_refused_with_file_line_and_path(config_dir):
    settings = config_dir / "settings.yaml"
    _replace(
        settings,
        "  deadline_window_days: 30",
        "  deadline_window_days: 30\n  deadline_windw_days: 14",
    )
    result = check(config_dir)
    assert result.exit_code == 2
    line = _line_of(settings, "deadline_windw_days")
    assert f"settings.yaml:{line}: digest.deadline_windw_days: unknown key" in result.output
    assert "Traceback" not in result.output


def test_wrong_type_is_refused(config_dir):
    settings = config_dir / "settings.yaml"
    _replace(settings, "  port: 587", "  port: many")
    result = check(config_dir)
    assert result.exit_code == 2
    assert f"settings.yaml:{_line_of(settings, 'port: many')}: smtp.port:" in result.output


def test_list_expected_in_needs(config_dir):
    needs = config_dir / "needs.yaml"
    text = needs.read_text(encoding="utf-8")
    # Turn the first any-list into a plain string.
    start = text.index("any:")
    end = text.index("\n", start)
    needs.write_text(text[:start] + "any: 42" + text[end:], encoding="utf-8")
    result = check(config_dir)
    assert result.exit_code == 2
    line = _line_of(needs, "any: 42")
    assert f"needs.yaml:{line}: departments[0].needs[0].any" in result.output


def test_missing_file(config_dir):
    (config_dir / "sources.yaml").unlink()
    result = check(config_dir)
    assert result.exit_code == 2
    assert "sources.yaml: file not found" in result.output


def test_invalid_yaml_names_the_line(config_dir):
    sources = config_dir / "sources.yaml"
    sources.write_text(
        sources.read_text(encoding="utf-8") + "\n  - key: [unclosed\n", encoding="utf-8"
    )
    result = check(config_dir)
    assert result.exit_code == 2
    assert "sources.yaml:" in result.output and "invalid YAML" in result.output


def test_duplicate_key_is_refused(config_dir):
    settings = config_dir / "settings.yaml"
    _replace(settings, "timezone: Europe/Stockholm", "timezone: Europe/Stockholm\ntimezone: UTC")
    result = check(config_dir)
    assert result.exit_code == 2
    assert "timezone: duplicate key" in result.output


def test_secret_in_yaml_is_refused(config_dir):
    settings = config_dir / "settings.yaml"
    _replace(settings, "  username: null", "  username: null\n  password: hunter2")
    result = check(config_dir)
    assert result.exit_code == 2
    assert "BEVAKA_SMTP_PASSWORD" in result.output
    assert "hunter2" not in result.output


def test_all_problems_reported_together(config_dir):
    _replace(config_dir / "settings.yaml", "timezone: Europe/Stockholm", "timezone: Mars/Olympus")
    _replace(config_dir / "settings.yaml", "  port: 587", "  port: -1")
    with pytest.raises(ConfigError) as info:
        load_config(config_dir)
    paths = {p.path for p in info.value.problems}
    assert {"timezone", "smtp.port"} <= paths


def test_environment_overrides_and_secrets(config_dir, monkeypatch):
    monkeypatch.setenv("BEVAKA_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("BEVAKA_SMTP_PORT", "2525")
    monkeypatch.setenv("BEVAKA_SMTP_SECURITY", "tls")
    monkeypatch.setenv("BEVAKA_SMTP_PASSWORD", "s3cret-pw")
    monkeypatch.setenv("BEVAKA_SECRET_KEY", STRONG_KEY)
    monkeypatch.setenv("DATABASE_URL", "postgresql://bevaka@db/bevaka")
    monkeypatch.setenv("BEVAKA_PUBLIC_URL", "https://bevaka.lidkoping.se/")
    settings = load_config(config_dir).settings
    assert settings.smtp.host == "smtp.example.org"
    assert settings.smtp.port == 2525
    assert settings.smtp.security == "tls"
    assert settings.smtp.password == "s3cret-pw"
    assert settings.secret_key == STRONG_KEY
    assert settings.database_url == "postgresql://bevaka@db/bevaka"
    assert settings.public_url == "https://bevaka.lidkoping.se"
    assert "s3cret-pw" not in repr(settings)
    assert "s3cret-pw" not in settings.model_dump_json()


def test_bad_environment_value_is_a_config_error(config_dir, monkeypatch):
    monkeypatch.setenv("BEVAKA_SMTP_SECURITY", "ssl3")
    with pytest.raises(ConfigError) as info:
        load_config(config_dir)
    assert info.value.problems[0].file == "environment"
    assert info.value.problems[0].path == "smtp.security"


def test_bad_source_option_is_refused_with_its_line(config_dir):
    sources = config_dir / "sources.yaml"
    text = sources.read_text(encoding="utf-8")
    # The first listing entry gets a misspelt option key.
    marker = "kind: listing"
    index = text.index(marker)
    options_at = text.index("options:", index)
    line_end = text.index("\n", options_at)
    indent = " " * (len(text[:options_at].split("\n")[-1]) + 2)
    text = text[: line_end + 1] + f"{indent}itme: li.call\n" + text[line_end + 1 :]
    sources.write_text(text, encoding="utf-8")
    result = check(config_dir)
    assert result.exit_code == 2
    line = _line_of(sources, "itme: li.call")
    assert f"sources.yaml:{line}: sources[" in result.output
    assert "].options.itme: unknown option" in result.output


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a: &a [*a]\n", "an alias refers to itself"),
        (
            "a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
            "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
            "aliases expand beyond the limit",
        ),
        ("{[1, 2]: x}\n", "keys must be plain strings"),
    ],
)
def test_hostile_yaml_shapes_are_config_errors(config_dir, text, expected):
    (config_dir / "sources.yaml").write_text(text, encoding="utf-8")
    result = check(config_dir)
    assert result.exit_code == 2
    assert "sources.yaml:" in result.output and expected in result.output


def test_impossible_date_is_reported_with_its_key(config_dir):
    sources = config_dir / "sources.yaml"
    sources.write_text(
        sources.read_text(encoding="utf-8").replace("sources:", "sources:", 1)
        + "\nnote: 2027-02-31\n",
        encoding="utf-8",
    )
    result = check(config_dir)
    assert result.exit_code == 2
    assert (
        f"sources.yaml:{_line_of(sources, 'note: 2027-02-31')}: note: unknown key" in result.output
    )


@pytest.mark.parametrize(
    "key,why",
    [
        ("x", "too short (1 characters, at least 32 needed)"),
        ("k" * 40, "too predictable (about 0 bits of entropy, at least 128 needed)"),
        ("abababababababababababababababab", "too predictable (about 32 bits"),
    ],
)
def test_a_weak_secret_key_is_refused_with_a_clear_error(config_dir, monkeypatch, key, why):
    monkeypatch.setenv("BEVAKA_SECRET_KEY", key)
    with pytest.raises(ConfigError) as refused:
        load_config(config_dir)
    text = "\n".join(str(p) for p in refused.value.problems)
    assert f"BEVAKA_SECRET_KEY is {why}" in text
    assert "bevaka secret generate" in text
    assert key not in text.replace("BEVAKA_SECRET_KEY", "")  # the key itself is never shown


def test_secret_generate_makes_a_key_the_config_accepts(config_dir, monkeypatch):
    result = CliRunner().invoke(app, ["secret", "generate"])
    assert result.exit_code == 0, result.output
    key = result.output.strip()
    assert len(key) == 64 and key != CliRunner().invoke(app, ["secret", "generate"]).output.strip()
    monkeypatch.setenv("BEVAKA_SECRET_KEY", key)
    assert load_config(config_dir).settings.secret_key == key
