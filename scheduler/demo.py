"""``bevaka demo``: the whole pipeline offline. Recorded responses of every shipped source are
served from a local HTTP server; a fresh database under ``var/demo`` is crawled, matched and
digested; digests land in ``var/demo/outbox``. No network, no mail server."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import Session, func, select

from config.loader import Config
from scheduler.pipeline import StageResult, run_once
from storage.db import make_engine
from storage.migrate import upgrade
from storage.models import Call, CallLink, Subscriber, Subscription, Tag, utcnow

# The recordings describe calls around the turn of 2026/27; the demo runs "as of" this Monday
# morning so that it shows the same open calls whatever today's date is.
DEMO_AS_OF = datetime(2026, 11, 30, 7, 0, tzinfo=ZoneInfo("Europe/Stockholm"))

DEMO_SUBSCRIBERS = [
    (
        "internationell.samordnare@lidkoping.se",
        "Internationell samordnare",
        None,
        "coordinator",
        [],
    ),
    (
        "utbildning@lidkoping.se",
        "Representant Utbildningsförvaltningen",
        "utbildning",
        "representative",
        ["skola-och-utbildning"],
    ),
    (
        "barn-och-skola@lidkoping.se",
        "Representant Barn- och skolförvaltningen",
        "barn-och-skola",
        "representative",
        [],
    ),
    (
        "samhallsbyggnad@lidkoping.se",
        "Representant Samhällsbyggnadsförvaltningen",
        "samhallsbyggnad",
        "representative",
        ["klimat-och-miljo", "transport"],
    ),
    (
        "vard-och-omsorg@lidkoping.se",
        "Representant Vård- och omsorgsförvaltningen",
        "vard-och-omsorg",
        "representative",
        ["halsa-och-omsorg"],
    ),
    (
        "kultur-och-fritid@lidkoping.se",
        "Representant Kultur- och fritidsförvaltningen",
        "kultur-och-fritid",
        "representative",
        ["ungdom", "kultur"],
    ),
]


#: the demo's record of what it made in its directory: the next demo removes those files,
#: and nothing else
MANIFEST = ".bevaka-demo.json"
DATABASE = "bevaka.sqlite3"
#: what the demo writes at the top of its directory (the database and SQLite's side files,
#: the outbox folder)
DEMO_PATHS = (DATABASE, f"{DATABASE}-journal", f"{DATABASE}-wal", f"{DATABASE}-shm", "outbox")


class DemoDirectoryError(Exception):
    """The directory holds, where the demo would write, files that the demo did not make."""


def clear_previous_demo(directory: Path) -> None:
    """Make ``directory`` ready for a demo: create it, or remove the files an earlier demo
    listed in its manifest (and its folders once they are empty). Never removes anything
    else: a path the demo writes that holds something not its own is refused."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = directory / MANIFEST
    made: list[str] = []
    if manifest.is_file():
        try:
            made = list(json.loads(manifest.read_text(encoding="utf-8"))["files"])
        except (ValueError, KeyError, TypeError):
            raise DemoDirectoryError(
                f"{manifest} is not a demo manifest; remove it or choose another --dir"
            ) from None
    root = directory.resolve()
    for name in sorted(made, key=lambda n: n.count("/"), reverse=True):  # files before folders
        path = (directory / name).resolve()
        if not path.is_relative_to(root) or path == root:
            continue  # never outside the directory, whatever the manifest says
        if path.is_dir() and not path.is_symlink():
            with contextlib.suppress(OSError):
                path.rmdir()  # only when empty: what someone else put there stays
        else:
            path.unlink(missing_ok=True)
    manifest.unlink(missing_ok=True)
    taken = [
        name
        for name in DEMO_PATHS
        if (directory / name).exists()
        and not ((directory / name).is_dir() and not any((directory / name).iterdir()))
    ]
    if taken:
        raise DemoDirectoryError(
            f"{directory} already holds {', '.join(taken)}, not made by an earlier demo: "
            "the demo never overwrites files it did not create; choose another --dir"
        )


def record_demo_files(directory: Path) -> None:
    """Write the manifest: every file and folder the demo made under ``directory``."""
    made: list[str] = []
    for name in DEMO_PATHS:
        path = directory / name
        if path.is_dir():
            made.append(name)
            made.extend(p.relative_to(directory).as_posix() for p in sorted(path.rglob("*")))
        elif path.exists():
            made.append(name)
    (directory / MANIFEST).write_text(
        json.dumps({"files": made}, ensure_ascii=False, indent=1), encoding="utf-8"
    )


@dataclass
class DemoResult:
    directory: Path
    database_url: str
    outbox: Path
    stages: list[StageResult]
    calls: int
    tagged: int
    links: int
    outbox_files: list[Path]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.stages)


def demo_config(base: Config, directory: Path, sources) -> Config:
    settings = base.settings
    settings = settings.model_copy(
        update={
            "database_url": f"sqlite:///{directory / DATABASE}",
            "smtp": settings.smtp.model_copy(update={"host": None}),
            "digest": settings.digest.model_copy(update={"outbox_dir": str(directory / "outbox")}),
        }
    )
    return Config(base.directory, settings, sources, base.needs)


def seed_subscribers(session: Session, config: Config) -> None:
    known = set(config.needs.department_keys) | set(config.needs.topic_keys)
    for email, name, department, role, topics in DEMO_SUBSCRIBERS:
        if department and department not in known:
            continue
        subscriber = Subscriber(
            email=email, name=name, department=department, role=role, created_at=utcnow()
        )
        session.add(subscriber)
        session.flush()
        for topic in topics:
            if topic in known:
                session.add(Subscription(subscriber_id=subscriber.id, topic=topic))
    session.commit()


def run_demo(
    base: Config, directory: Path, *, now: datetime = DEMO_AS_OF, progress=None
) -> DemoResult:
    from crawler.mirror import Mirror
    from crawler.settings import (
        BENCH_SETTINGS,  # politeness is for real sites, not the local mirror
    )

    directory = directory.resolve()
    clear_previous_demo(directory)
    record_demo_files(directory)  # from the start: a demo that crashes is cleared next time
    with Mirror() as mirror:
        config = demo_config(base, directory, mirror.sources(base.sources))
        url = config.settings.database_url
        upgrade(url)
        engine = make_engine(url)
        try:
            with Session(engine) as session:
                seed_subscribers(session, config)
            stages = run_once(
                config, engine, now, settings_overrides=BENCH_SETTINGS, progress=progress
            )
            with Session(engine) as session:
                calls = session.exec(select(func.count()).select_from(Call)).one()
                tagged = session.exec(select(func.count(func.distinct(Tag.call_id)))).one()
                links = session.exec(select(func.count()).select_from(CallLink)).one()
        finally:
            engine.dispose()
            record_demo_files(directory)
    outbox = Path(config.settings.digest.outbox_dir)
    files = sorted(outbox.glob("**/*")) if outbox.exists() else []
    return DemoResult(
        directory, url, outbox, stages, calls, tagged, links, [f for f in files if f.is_file()]
    )
