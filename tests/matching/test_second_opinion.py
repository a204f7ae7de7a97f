"""The learned second opinion (matching/second_opinion.py): deterministic training, the
model file and its errors, each mode in the one judgement (tags = explain), the words in
explain and eval, config check, bevaka eval --second-opinion and bevaka model train/cv.

Real files in tmp paths; a small needs file (tests/files/matching_eval/needs.yaml) and
small labelled items made here: "solceller" is a word no rule knows that the miljo
förvaltning wanted; "konferensresa" makes the rules' skola tags unwanted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from freezegun import freeze_time
from typer.testing import CliRunner

from cli.app import app
from config.loader import ConfigError, load_config, validate_file, with_second_opinion
from config.schema import NeedsFile
from matching.engine import compile_needs, evaluate, rules_hash
from matching.evaluation import evaluate_items, read_items
from matching.explain import explain_json, explain_lines
from matching.second_opinion import (
    ADDED_REASON,
    ModelError,
    call_features,
    examples_from_items,
    load_model,
    save_model,
    train,
)
from notifications.digest import match_places

ROOT = Path(__file__).resolve().parents[2]
SMALL_NEEDS = ROOT / "tests" / "files" / "matching_eval" / "needs.yaml"
runner = CliRunner()

SOLAR = {
    "title": "Bidrag till solceller på taken",
    "description": "Kommunen kan söka stöd för solceller på taken.",
}
TRIP = {"title": "Skola: konferensresa", "description": "Resebidrag för konferensresa till mässan."}


def _labelled() -> list[dict]:
    items = []
    for i in range(6):
        items.append(
            {
                "title": f"Bidrag till solceller på taken {i}",
                "description": "Kommunen kan söka stöd för solceller på taken.",
                "expected": ["miljo"],
            }
        )
        items.append(
            {
                "title": f"Skola: elevhälsa {i}",
                "description": "Stöd för elevhälsa i skolan.",
                "expected": ["skola"],
            }
        )
        items.append(
            {
                "title": f"Skola: konferensresa {i}",
                "description": "Resebidrag för konferensresa till mässan.",
                "expected": [],
            }
        )
    for i in range(4):
        items.append({"title": f"Vänort utbyte {i}", "description": "Vänorter.", "expected": []})
    for n, item in enumerate(items):
        item.update({"url": f"https://example.org/call/{n}", "language": "sv", "kind": "call"})
    return items


def _write_items(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), "utf-8")
    return path


def _block(mode: str, model: str = "model.json", veto: float = 0.4, add: float = 0.6) -> str:
    return (
        f"\nsecond_opinion:\n  mode: {mode}\n  model: {model}\n"
        f"  veto_below: {veto}\n  add_above: {add}\n"
    )


@pytest.fixture
def trained(tmp_path: Path) -> Path:
    """A directory with the small needs file (mode off), labelled items and a model."""
    shutil.copyfile(SMALL_NEEDS, tmp_path / "needs.yaml")
    labelled = _write_items(tmp_path / "labelled.jsonl", _labelled())
    needs = validate_file(NeedsFile, tmp_path / "needs.yaml")
    items = read_items(labelled, needs)
    model = train(examples_from_items(items), needs.department_keys, trained_at="2026-12-01")
    save_model(model, tmp_path / "model.json")
    return tmp_path


def _needs(directory: Path, mode: str, **kw) -> NeedsFile:
    path = directory / f"needs-{mode}.yaml"
    path.write_text(SMALL_NEEDS.read_text("utf-8") + _block(mode, **kw), "utf-8")
    return validate_file(NeedsFile, path)


def _call(fields: dict) -> dict:
    return {"url": "https://example.org/x", "language": "sv", "kind": "call", **fields}


# --- features and training ---------------------------------------------------------------


def test_features_are_stems_with_prefixes():
    features = call_features(
        {
            "title": "Skolorna",
            "description": "Eleverna och skolorna",
            "programme": "ERASMUS",
            "kind": "call",
            "url": "https://www.esf.se/a",
            "identifier": "ERASMUS-EDU-2027",
            "language": "sv",
        }
    )
    assert features["t:skol"] == "skolorna"
    assert "w:elev" in features and "w:och" not in features  # stop-words are left out
    assert {"p:ERASMUS", "k:call", "h:esf.se", "i:ERASMUS"} <= set(features)


def test_training_is_deterministic(trained: Path):
    needs = validate_file(NeedsFile, trained / "needs.yaml")
    items = read_items(trained / "labelled.jsonl", needs)
    first = train(examples_from_items(items), needs.department_keys, trained_at="2026-12-01")
    second = train(examples_from_items(items), needs.department_keys, trained_at="2026-12-01")
    assert first.dumps() == second.dumps()
    assert (trained / "model.json").read_text("utf-8") == first.dumps()
    data = json.loads(first.dumps())
    assert data["trained_at"] == "2026-12-01" and data["items"] == len(items)
    assert len(data["training_hash"]) == 64
    # other items, another training hash
    other = train(examples_from_items(items[:-1]), needs.department_keys, trained_at="x")
    assert other.training_hash != first.training_hash
    # what it learned: solceller for miljo, konferensresa against skola
    assert first.keys["miljo"].weights["t:solcell"] > 0
    assert first.keys["skola"].weights["t:konferensres"] < 0
    assert "kultur" not in first.keys  # never wanted: no model, no opinion


# --- the model file ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"format": "other"}', "not a second-opinion model"),
        (
            '{"format": "bevaka-second-opinion", "version": 1, "trained_at": "d", '
            '"training_hash": "h", "items": 3, "keys": {"skola": {"bias": "x", "weights": {}}}}',
            "keys.skola.bias: expected a finite number",
        ),
        (
            '{"format": "bevaka-second-opinion", "version": 1, "trained_at": "d", '
            '"training_hash": "h", "items": 3, "keys": {"skola": {"bias": 0, "weights": []}}}',
            "keys.skola.weights: expected an object",
        ),
    ],
)
def test_malformed_model_is_refused_naming_the_path(tmp_path: Path, text: str, message: str):
    path = tmp_path / "broken.json"
    path.write_text(text, "utf-8")
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_model_for_other_keys_and_missing_model_are_refused(trained: Path):
    with pytest.raises(ModelError, match="does not have: miljo"):
        load_model(trained / "model.json", ["skola", "kommunledning"])
    with pytest.raises(ModelError, match="model file not found"):
        load_model(trained / "absent.json")
    with pytest.raises(ConfigError) as info:
        _needs(trained, "veto", model="absent.json")
    (problem,) = info.value.problems
    assert problem.path == "second_opinion.model" and problem.line is not None
    assert str(trained / "absent.json") in problem.message


def test_mode_off_ignores_a_missing_or_broken_model(trained: Path):
    (trained / "broken.json").write_text("{", "utf-8")
    for model in ("absent.json", "broken.json"):
        needs = _needs(trained, "off", model=model)
        assert needs.second_opinion_model is None
        assert [t.key for t in compile_needs(needs).tags(_call(TRIP))] == ["skola"]
    # and off changes nothing in the rules hash (stored tags stay current)
    plain = validate_file(NeedsFile, SMALL_NEEDS)
    assert rules_hash(_needs(trained, "off", model="absent.json")) == rules_hash(plain)
    assert rules_hash(_needs(trained, "advise")) != rules_hash(plain)


# --- the modes, in the one judgement --------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "solar", "trip"),
    [
        ("off", [], ["skola"]),
        ("advise", [], ["skola"]),
        ("veto", [], []),
        ("add", ["miljo"], ["skola"]),
        ("both", ["miljo"], []),
    ],
)
def test_each_mode_tags_as_the_model_learned(trained: Path, mode, solar, trip):
    compiled = compile_needs(_needs(trained, mode))
    for fields, expected in ((SOLAR, solar), (TRIP, trip)):
        call = _call(fields)
        tags = compiled.tags(call)
        assert [t.key for t in tags] == expected
        # one judgement: the tags are the full evaluation's (what explain shows)
        full = compiled.evaluate(call, full=True)
        assert [(t.key, t.score, t.reasons) for t in full.tags] == [
            (t.key, t.score, t.reasons) for t in tags
        ]
        skola = full.audience("skola")
        assert (skola.opinion is None) == (mode == "off")


def test_added_tag_says_so_in_swedish_and_the_digest_shows_it(trained: Path):
    compiled = compile_needs(_needs(trained, "add"))
    (tag,) = compiled.tags(_call(SOLAR))
    first = tag.reasons[0]
    assert first["need"].startswith(f"{ADDED_REASON} (ord: ")
    assert "solceller" in first["need"] and first["term"] is None
    assert match_places(tag.reasons, "Miljö- och byggförvaltningen")[0] == first["need"]


def test_add_never_overrides_an_outright_exclusion(trained: Path):
    compiled = compile_needs(_needs(trained, "add"))
    # another region: the rules say no tag at all, the model may not add one
    call = _call({**SOLAR, "regions": ["Skåne"]})
    assert compiled.tags(call) == []
    assert compiled.evaluate(call).audience("miljo").opinion.adds


def test_explain_shows_probability_and_words(trained: Path):
    for mode in ("advise", "veto", "add"):
        evaluation = evaluate(compile_needs(_needs(trained, mode)), _call(TRIP))
        text = "\n".join(explain_lines(evaluation))
        assert f"second opinion ({mode}): p " in text
        assert "against: " in text and "title 'konferensresa' -" in text
    vetoed = evaluate(compile_needs(_needs(trained, "veto")), _call(TRIP))
    text = "\n".join(explain_lines(vetoed))
    assert (
        "skola (department, Barn- och skolförvaltningen): not tagged, vetoed by the second opinion"
        in text
    )
    assert "need 'Skola': term 'skola' in title" in text  # the rules' reasons stay visible
    added = evaluate(compile_needs(_needs(trained, "add")), _call(SOLAR))
    text = "\n".join(explain_lines(added))
    assert "miljo (department, Miljö- och byggförvaltningen): added by the second opinion" in text
    assert "for: " in text and "title 'solceller' +" in text
    data = explain_json(added)
    miljo = next(a for a in data["audiences"] if a["key"] == "miljo")
    assert miljo["tagged"] and not miljo["rules_tagged"] and miljo["second_opinion"]["added"]
    assert "solceller" in {w["word"] for w in miljo["second_opinion"]["for"]}


# --- eval, config check and the commands -----------------------------------------------------


def test_eval_with_the_switch_counts_differently(trained: Path):
    labelled = _write_items(
        trained / "test.jsonl",
        [{**_call(SOLAR), "expected": ["miljo"]}, {**_call(TRIP), "expected": []}],
    )
    results = {}
    for mode in ("off", "veto", "add"):
        needs = _needs(trained, mode)
        result = evaluate_items(read_items(labelled, needs), needs, scope="departments")
        results[mode] = (result.micro.tp, result.micro.fp, result.micro.fn, result.noisy_items)
    assert results == {"off": (0, 1, 1, 1), "veto": (0, 0, 1, 0), "add": (1, 1, 0, 1)}
    # the CLI: the switch and the side by side comparison, FP/FN in explain's words
    args = [
        "eval",
        str(labelled),
        "--needs",
        str(trained / "needs.yaml"),
        "--model",
        str(trained / "model.json"),
        "--only",
        "departments",
    ]
    out = runner.invoke(app, [*args, "--second-opinion", "veto"])
    assert out.exit_code == 0, out.output
    assert "needs.yaml + second opinion veto" in out.output
    assert "second opinion (veto): p " in out.output
    out = runner.invoke(app, [*args, "--compare-second-opinion", "both", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["result"]["micro"]["fp"] == 1 and data["compare"]["micro"]["tp"] == 1
    out = runner.invoke(
        app, [*args[:4], "--second-opinion", "add", "--model", str(trained / "x.json")]
    )
    assert out.exit_code == 2 and "model file not found" in out.output


def test_config_check_refuses_a_bad_block(config_dir: Path, trained: Path):
    needs = config_dir / "needs.yaml"
    shipped = needs.read_text("utf-8")
    assert shipped.rstrip().endswith("add_above: 0.7")  # the shipped block, mode off
    body = shipped[: shipped.index("\nsecond_opinion:")]
    needs.write_text(body + _block("add", model="missing.json"), "utf-8")
    out = runner.invoke(app, ["-c", str(config_dir), "config", "check"])
    assert out.exit_code == 2
    assert "second_opinion.model: mode add:" in out.output
    assert str(config_dir / "missing.json") in out.output
    needs.write_text(body + _block("sometimes"), "utf-8")
    out = runner.invoke(app, ["-c", str(config_dir), "config", "check"])
    assert out.exit_code == 2 and "second_opinion.mode: Input should be" in out.output
    needs.write_text(body + _block("veto", veto=0.8, add=0.5), "utf-8")
    out = runner.invoke(app, ["-c", str(config_dir), "config", "check"])
    assert out.exit_code == 2 and "veto_below must be below add_above" in out.output
    # the shipped needs' förvaltningar are not the small file's: a model for other keys
    shutil.copyfile(trained / "model.json", config_dir / "small.json")
    needs.write_text(body + _block("advise", model="small.json"), "utf-8")
    out = runner.invoke(app, ["-c", str(config_dir), "config", "check"])
    assert (
        out.exit_code == 2
        and "trained for förvaltningar that needs.yaml does not have" in out.output
    )
    needs.write_text(body + _block("off", model="small.json"), "utf-8")
    out = runner.invoke(app, ["-c", str(config_dir), "config", "check"])
    assert out.exit_code == 0, out.output
    assert load_config(config_dir).needs.second_opinion.mode == "off"


def test_model_train_and_cv_commands(config_dir: Path, trained: Path):
    needs = config_dir / "needs.yaml"
    shipped = needs.read_text("utf-8")
    needs.write_text(
        SMALL_NEEDS.read_text("utf-8") + shipped[shipped.index("\n# The learned") :], "utf-8"
    )
    with freeze_time("2026-12-01 08:00:00"):
        out = runner.invoke(
            app, ["-c", str(config_dir), "model", "train", str(trained / "labelled.jsonl")]
        )
    assert out.exit_code == 0, out.output
    assert f"trained on 22 item(s) from {trained / 'labelled.jsonl'}" in out.output
    assert "miljo: 22 item(s), 6 wanted" in out.output
    written = config_dir / "second-opinion.json"  # needs.yaml's second_opinion.model
    model = load_model(written)
    assert model.trained_at == "2026-12-01"
    # the same weights as the library trains from the same items
    fixture = json.loads((trained / "model.json").read_text("utf-8"))
    assert json.loads(written.read_text("utf-8"))["keys"] == fixture["keys"]
    # with mode on the model is used; config check says so
    needs.write_text(needs.read_text("utf-8").replace("mode: off", "mode: advise"), "utf-8")
    out = runner.invoke(app, ["-c", str(config_dir), "config", "check"])
    assert (
        out.exit_code == 0
        and "second opinion: advise (model second-opinion.json, trained 2026-12-01 on 22 item(s)"
        in out.output
    )
    out = runner.invoke(
        app,
        [
            "-c",
            str(config_dir),
            "model",
            "cv",
            str(trained / "labelled.jsonl"),
            "--folds",
            "2",
            "--format",
            "json",
        ],
    )
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)["rows"]
    assert rows[0]["mode"] == "off" and {r["mode"] for r in rows} == {"off", "veto", "add", "both"}
    # a broken model with the mode on stops every command but the one that makes it
    written.write_text("{", "utf-8")
    out = runner.invoke(app, ["-c", str(config_dir), "config", "check"])
    assert out.exit_code == 2 and "not valid JSON" in out.output
    out = runner.invoke(
        app, ["-c", str(config_dir), "model", "train", str(trained / "labelled.jsonl")]
    )
    assert out.exit_code == 0, out.output
    assert load_model(written).items == 22
    out = runner.invoke(app, ["-c", str(config_dir), "model", "train"])
    assert out.exit_code == 1 and "give labelled FILE(s)" in out.output


def test_with_second_opinion_switches_mode_and_model(trained: Path):
    needs = validate_file(NeedsFile, trained / "needs.yaml")
    assert needs.second_opinion.mode == "off" and needs.second_opinion_model is None
    on = with_second_opinion(needs, trained, mode="add", model="model.json")
    assert on.second_opinion.mode == "add" and on.second_opinion_model is not None
    assert needs.second_opinion_model is None  # the original is untouched
    compiled = compile_needs(needs)
    variant = compiled.with_second_opinion(on)
    assert [t.key for t in variant.tags(_call(SOLAR))] == ["miljo"]
    assert compiled.tags(_call(SOLAR)) == []


def test_match_stores_an_added_tag_and_explain_shows_why(bevaka, config_dir: Path, trained: Path):
    """The real command: match stores the tag the model added, with its Swedish reason,
    explain says it was added and why; back to off, the next match removes it."""
    shutil.copyfile(trained / "model.json", config_dir / "model.json")
    needs = config_dir / "needs.yaml"
    needs.write_text(SMALL_NEEDS.read_text("utf-8") + _block("add"), "utf-8")
    lines = _write_items(config_dir.parent / "calls.jsonl", [_call(SOLAR)])
    bevaka("db", "upgrade", check=True)
    bevaka("calls", "import", str(lines), check=True)
    report = json.loads(bevaka("match", "--format", "json", check=True).stdout)
    assert report["changes"][0]["added"] == ["miljo"]
    shown = json.loads(bevaka("calls", "show", "1", "--format", "json", check=True).stdout)
    assert shown["tag_reasons"]["miljo"][0]["need"].startswith("Liknar tidigare utlysningar")
    explained = " ".join(bevaka("explain", "1", check=True).stdout.split())
    assert (
        "miljo (department, Miljö- och byggförvaltningen): added by the second opinion" in explained
    )
    assert "title 'solceller' +" in explained
    needs.write_text(SMALL_NEEDS.read_text("utf-8") + _block("off"), "utf-8")
    report = json.loads(bevaka("match", "--format", "json", check=True).stdout)
    assert report["changes"][0]["removed"] == ["miljo"]


def test_the_scheduler_reloads_a_retrained_model(config_dir: Path, trained: Path):
    from scheduler.reload import fingerprint

    needs = config_dir / "needs.yaml"
    body = SMALL_NEEDS.read_text("utf-8")
    shutil.copyfile(trained / "model.json", config_dir / "model.json")
    needs.write_text(body + _block("off"), "utf-8")
    before = fingerprint(config_dir)
    (config_dir / "model.json").write_text("{}", "utf-8")
    assert fingerprint(config_dir) == before  # off: the model file does not matter
    needs.write_text(body + _block("veto"), "utf-8")
    on = fingerprint(config_dir)
    shutil.copyfile(trained / "model.json", config_dir / "model.json")
    assert fingerprint(config_dir) != on
