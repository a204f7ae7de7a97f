"""Load and validate the coordinator's YAML files.

Every problem is reported as one line naming the file, the line and the key path, e.g.
``config/needs.yaml:41: departments[3].needs[0].any: expected a list of strings``.
A config with any problem is refused whole: :func:`load_config` raises
:class:`ConfigError` carrying every problem found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from config.schema import NeedsFile, Settings, SourcesFile

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent
#: the coordinator's three files (the scheduler's reload watches them)
FILES = ("settings.yaml", "sources.yaml", "needs.yaml")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """One or more problems in the configuration; nothing may run."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    directory: Path
    settings: Settings
    sources: SourcesFile
    needs: NeedsFile

    def source(self, key: str):
        for entry in self.sources.sources:
            if entry.key == key:
                return entry
        raise KeyError(key)


def config_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config directory: an explicit path, ``BEVAKA_CONFIG``, or the shipped one."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("BEVAKA_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG_DIR


# --- YAML with line numbers -------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader whose dates stay strings: pydantic parses them and reports a bad one
    ("2027-02-31") with its key path, instead of PyYAML failing without a line."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _display(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


MAX_NODES = 200_000  # aliases may not expand a file beyond this many values


class _YamlShapeError(Exception):
    def __init__(self, line: int, path: tuple[Any, ...], message: str):
        super().__init__(message)
        self.line, self.path, self.message = line, path, message


def _walk(
    node: yaml.Node,
    path: tuple[Any, ...],
    lines: dict[tuple, int],
    dupes: list,
    ancestors: frozenset[int] = frozenset(),
    budget: list[int] | None = None,
) -> None:
    """Record the line of every key path; find duplicate keys, self-referencing aliases and
    alias bombs (which would expand beyond MAX_NODES values)."""
    budget = budget if budget is not None else [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise _YamlShapeError(
            node.start_mark.line + 1, path, "too large: aliases expand beyond the limit"
        )
    if id(node) in ancestors:
        raise _YamlShapeError(node.start_mark.line + 1, path, "an alias refers to itself")
    lines.setdefault(path, node.start_mark.line + 1)
    inner = ancestors | {id(node)}
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key == "<<":
                continue
            if not isinstance(key, str):
                raise _YamlShapeError(
                    key_node.start_mark.line + 1, path, "keys must be plain strings"
                )
            if key in seen:
                dupes.append((path + (key,), key_node.start_mark.line + 1))
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines, dupes, inner, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            _walk(item, path + (index,), lines, dupes, inner, budget)


def read_yaml(path: Path, shown: str | None = None) -> tuple[Any, dict[tuple, int]]:
    """Parse one YAML file; return its data and a map from key path to line number."""
    shown = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(shown, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(shown, None, "", f"cannot read file: {exc}")]) from None
    lines: dict[tuple, int] = {}
    dupes: list[tuple[tuple, int]] = []
    try:
        node = yaml.compose(text, Loader=_Loader)
        if node is not None:
            _walk(node, (), lines, dupes)
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except _YamlShapeError as exc:
        raise ConfigError(
            [Problem(shown, exc.line, _display(exc.path), f"invalid YAML: {exc.message}")]
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(shown, line, "", f"invalid YAML: {reason}")]) from None
    except RecursionError:
        raise ConfigError([Problem(shown, None, "", "invalid YAML: nested too deeply")]) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a value PyYAML cannot build
        raise ConfigError([Problem(shown, None, "", f"invalid YAML: {exc}")]) from None
    if dupes:
        raise ConfigError([Problem(shown, line, _display(p), "duplicate key") for p, line in dupes])
    return data, lines


def _line_for(loc: tuple[Any, ...], lines: dict[tuple, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    msg = err.get("msg", "invalid value")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, ") :]
    return msg


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic adds the tag of a discriminated union or a function validator name to loc;
    # those are not keys in the file.
    return tuple(
        p
        for p in loc
        if isinstance(p, int) or not str(p).startswith(("function-", "tagged-union["))
    )


def validate_file(
    model: type[BaseModel], path: Path, shown: str | None = None, context: dict | None = None
) -> BaseModel:
    return _validate(model, path, shown, context)[0]


def _validate(
    model: type[BaseModel],
    path: Path,
    shown: str | None = None,
    context: dict | None = None,
    *,
    second_opinion: bool = True,
) -> tuple[BaseModel, dict[tuple, int]]:
    shown = shown or str(path)
    data, lines = read_yaml(path, shown)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(shown, 1, "", "expected a mapping of keys at the top level")])
    try:
        validated = model.model_validate(data, context=context or {})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = _clean_loc(tuple(err["loc"]))
            problems.append(Problem(shown, _line_for(loc, lines), _display(loc), _message(err)))
        raise ConfigError(problems) from None
    on = isinstance(validated, NeedsFile) and validated.second_opinion.mode != "off"
    if on and second_opinion:
        line = _line_for(("second_opinion", "model"), lines)
        validated = with_second_opinion(validated, path.parent, shown=shown, line=line)
    return validated, lines


def with_second_opinion(
    needs: NeedsFile,
    base: Path,
    *,
    mode: str | None = None,
    model: str | os.PathLike[str] | None = None,
    shown: str = "needs.yaml",
    line: int | None = None,
) -> NeedsFile:
    """``needs`` with its second opinion's model loaded (read only), and with another
    ``mode`` or ``model`` file when given (``bevaka eval --second-opinion``). The model
    path is relative to ``base`` (the directory of needs.yaml). Mode off loads nothing and
    never fails. A missing or malformed model, or one trained for other förvaltningar, is
    a ConfigError naming the model file and what is wrong."""
    from matching.second_opinion import ModelError, load_model

    settings = needs.second_opinion
    update: dict[str, Any] = {}
    if mode is not None:
        update["mode"] = mode
    if model is not None:
        update["model"] = str(model)
    if update:
        settings = settings.model_copy(update=update)
        needs = needs.model_copy(update={"second_opinion": settings})
    if settings.mode == "off":
        needs._model = None
        return needs
    try:
        loaded = load_model(model_path(settings.model, base), needs.department_keys)
    except ModelError as exc:
        raise ConfigError(
            [Problem(shown, line, "second_opinion.model", f"mode {settings.mode}: {exc}")]
        ) from None
    needs = needs.model_copy()
    needs._model = loaded
    return needs


def second_opinion_file(directory: Path) -> Path | None:
    """The second opinion's model file when needs.yaml switches it on (a quick read for
    the scheduler's reload, which re-reads the config when this file changes too); None
    when it is off or needs.yaml cannot be read (load_config reports that)."""
    try:
        data = yaml.safe_load((directory / "needs.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return None
    block = data.get("second_opinion") if isinstance(data, dict) else None
    if not isinstance(block, dict) or block.get("mode") in (None, False, "off"):
        return None
    model = block.get("model", "second-opinion.json")
    return model_path(model, directory) if isinstance(model, str) and model else None


def model_path(value: str | os.PathLike[str], base: Path) -> Path:
    """The second opinion's model file: ``value`` relative to ``base``."""
    path = Path(value)
    return path if path.is_absolute() else base / path


def _source_option_problems(
    sources: SourcesFile, lines: dict[tuple, int], shown: str
) -> list[Problem]:
    """The options of config-driven kinds (feed, listing) are checked here too, so a typo in a
    selector key is refused before anything runs, with its line."""
    from crawler.options import option_errors

    problems = []
    for index, entry in enumerate(sources.sources):
        for loc, message in option_errors(entry.kind, entry.options):
            path = ("sources", index, "options", *loc)
            problems.append(Problem(shown, _line_for(path, lines), _display(path), message))
    return problems


def _shown(directory: Path, name: str) -> str:
    path = directory / name
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_config(
    directory: str | os.PathLike[str] | None = None, *, second_opinion: bool = True
) -> Config:
    """Load, validate and cross-check all three files; raise ConfigError listing every problem.
    ``second_opinion=False``: the second opinion's model file is not read (needs carry no
    model whatever the mode): for `bevaka model`, which makes that file."""
    base = config_dir(directory)
    problems: list[Problem] = []
    loaded: dict[str, Any] = {}
    for name, model in (
        ("settings.yaml", Settings),
        ("sources.yaml", SourcesFile),
        ("needs.yaml", NeedsFile),
    ):
        try:
            loaded[name], lines = _validate(
                model, base / name, _shown(base, name), second_opinion=second_opinion
            )
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        if name == "sources.yaml":
            problems.extend(_source_option_problems(loaded[name], lines, _shown(base, name)))
    if problems:
        raise ConfigError(problems)
    try:
        settings = loaded["settings.yaml"].with_environment(os.environ)
    except ValidationError as exc:
        raise ConfigError(
            [
                Problem("environment", None, _display(tuple(e["loc"])), _message(e))
                for e in exc.errors()
            ]
        ) from None
    return Config(base, settings, loaded["sources.yaml"], loaded["needs.yaml"])
