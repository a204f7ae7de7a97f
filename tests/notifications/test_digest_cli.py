"""The real ``bevaka subscribers`` and ``bevaka digest`` commands: the subscribers commands
in-process (Typer's runner, to keep the suite fast), the digest in a subprocess."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from digest_support import write_example_config
from typer.testing import CliRunner

from cli.app import app


@pytest.fixture
def cli(cli_env, config_dir):
    """Run ``bevaka`` in this process with the test database and config."""
    write_example_config(config_dir)
    runner = CliRunner()

    def run(*args: str, check: bool = False):
        result = runner.invoke(app, list(args), env=cli_env)
        out = SimpleNamespace(
            returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr
        )
        if check and result.exit_code != 0:
            raise AssertionError(f"bevaka {args} exited {result.exit_code}: {result.output}")
        return out

    return run


def test_subscribers_commands(cli):
    bevaka = cli
    ok = bevaka(
        "subscribers", "add", "anna.berg@lidkoping.se", "--name", "Anna Berg",
        "--department", "utbildning", "--topic", "klimat-och-miljo", check=True,
    )  # fmt: skip
    assert "added anna.berg@lidkoping.se" in ok.stdout
    bevaka(
        "subscribers",
        "add",
        "intl@lidkoping.se",
        "--name",
        "Gruppen",
        "--role",
        "coordinator",
        check=True,
    )

    bad = bevaka("subscribers", "add", "anna@@lidkoping", "--name", "X")
    assert bad.returncode == 2 and "invalid email address" in bad.stderr
    bad = bevaka("subscribers", "add", "x@lidkoping.se", "--name", "X", "--department", "skolan")
    assert bad.returncode == 2 and "unknown förvaltning 'skolan'" in bad.stderr
    assert "utbildning" in bad.stderr  # the known keys are listed
    bad = bevaka("subscribers", "set", "anna.berg@lidkoping.se", "--topic", "sport")
    assert bad.returncode == 2 and "unknown topic 'sport'" in bad.stderr

    bevaka(
        "subscribers",
        "set",
        "anna.berg@lidkoping.se",
        "--topic",
        "digitalisering",
        "--topic",
        "klimat-och-miljo",
        check=True,
    )
    listed = json.loads(bevaka("subscribers", "list", "--format", "json", check=True).stdout)
    assert listed == [
        {
            "active": True,
            "department": "utbildning",
            "email": "anna.berg@lidkoping.se",
            "name": "Anna Berg",
            "role": "representative",
            "topics": ["digitalisering", "klimat-och-miljo"],
        },
        {
            "active": True,
            "department": None,
            "email": "intl@lidkoping.se",
            "name": "Gruppen",
            "role": "coordinator",
            "topics": [],
        },
    ]
    bevaka("subscribers", "remove", "intl@lidkoping.se", check=True)
    gone = bevaka("subscribers", "remove", "intl@lidkoping.se")
    assert gone.returncode == 2 and "no subscriber" in gone.stderr


def test_digest_send_twice_delivers_each_subscriber_once(bevaka, config_dir, world, smtp, tmp_path):
    write_example_config(config_dir)
    env = {
        "BEVAKA_SMTP_HOST": "127.0.0.1",
        "BEVAKA_SMTP_PORT": str(smtp.port),
        "BEVAKA_SMTP_SECURITY": "none",
    }
    as_of = ("--as-of", "2026-11-23")
    preview = bevaka("digest", "--preview", str(tmp_path / "preview"), *as_of, env=env, check=True)
    assert "previewed 2" in preview.stdout and smtp.recorder.received == []

    first = bevaka("digest", "--send", *as_of, "--format", "json", env=env, check=True)
    assert sorted(json.loads(first.stdout)["sent"]) == [
        "anna.berg@lidkoping.se",
        "international@lidkoping.se",
    ]
    second = bevaka("digest", "--send", *as_of, env=env, check=True)
    assert "already done 2" in second.stdout
    assert sorted(r.rcpt_tos[0] for r in smtp.recorder.received) == [
        "anna.berg@lidkoping.se",
        "international@lidkoping.se",
    ]
    subject = smtp.recorder.to("anna.berg@lidkoping.se")[0].message["Subject"]
    assert subject == "Bevaka v. 48: 2 nya utlysningar för Utbildningsförvaltningen"

    test = bevaka("digest", "--test", "check@lidkoping.se", env=env, check=True)
    assert "test digest sent to check@lidkoping.se" in test.stdout
    [sample] = smtp.recorder.to("check@lidkoping.se")
    assert sample.message["Subject"].startswith("[Test] Bevaka v. ")


def test_digest_without_smtp_host_writes_the_outbox(bevaka, config_dir, world, tmp_path):
    write_example_config(config_dir)
    settings = config_dir / "settings.yaml"
    outbox = tmp_path / "outbox"
    settings.write_text(
        settings.read_text(encoding="utf-8").replace(
            "outbox_dir: var/outbox", f"outbox_dir: {outbox}"
        ),
        encoding="utf-8",
    )
    result = bevaka("digest", "--send", "--as-of", "2026-11-23", check=True)
    assert "written 2" in result.stdout
    assert len(list(outbox.glob("*.eml"))) == 2 and len(list(outbox.glob("*.html"))) == 2


def test_digest_retry_failed_resends_a_weeks_refused_digests(
    cli_env, config_dir, engine, world, smtp
):
    """`bevaka digest --retry-failed WEEK`: the week's failed rows go back to pending and are
    sent (with their Message-IDs); the others are not sent again."""
    from sqlmodel import Session, delete, select

    from storage.models import Announcement, Delivery

    env = ["--as-of", "2026-11-23"]
    smtp_env = {
        "BEVAKA_SMTP_HOST": "127.0.0.1",
        "BEVAKA_SMTP_PORT": str(smtp.port),
        "BEVAKA_SMTP_SECURITY": "none",
    }
    write_example_config(config_dir)
    runner = CliRunner()

    def bevaka(*args: str):
        return runner.invoke(app, list(args), env={**cli_env, **smtp_env})

    first = bevaka("digest", "--send", *env)
    assert first.exit_code == 0, first.output
    with Session(engine) as session:
        row = session.exec(select(Delivery).where(Delivery.subscriber_id == world["anna"])).one()
        # as a 550 leaves it: failed, and nothing recorded as told
        row.status, row.error = "failed", "550 5.1.1 mailbox unavailable"
        message_id = row.message_id
        session.add(row)
        session.execute(delete(Announcement).where(Announcement.subscriber_id == world["anna"]))
        session.commit()
    bad = bevaka("digest", "--retry-failed", "2026-W99")
    assert bad.exit_code == 2 and "no such ISO week" in bad.output
    again = bevaka("digest", "--retry-failed", "2026-W48")
    assert again.exit_code == 0, again.output
    assert "1 failed digest(s) of 2026-W48 put back to pending" in again.stdout
    assert "sent 1" in again.stdout
    to_anna = smtp.recorder.to("anna.berg@lidkoping.se")
    assert len(to_anna) == 2 and str(to_anna[1].message["Message-ID"]) == message_id
    assert len(smtp.recorder.to("international@lidkoping.se")) == 1
