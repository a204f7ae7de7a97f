"""Pydantic models for config/settings.yaml, config/sources.yaml and config/needs.yaml.

Unknown keys are errors everywhere (``extra="forbid"``) so that a typo is never silently
ignored. Secrets are not fields here: they come only from the environment.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from config.programmes import PROGRAMMES

KEY_PATTERN = r"^[a-z][a-z0-9_-]*$"
CRON_FIELDS = 5


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: standard cron's day-of-week numbers (0 and 7 are Sunday) as APScheduler's names
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_day(token: str, value: str) -> int:
    token = token.strip().lower()
    if token[:3] in _CRON_DAYS and len(token) >= 3:
        return _CRON_DAYS.index(token[:3])
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    raise ValueError(
        f"invalid cron expression {value!r}: day of week {token!r} is not 0-7 or a name"
    )


def _standard_weekdays(field: str, value: str) -> str:
    """Standard cron's day-of-week field (0 or 7 = Sunday, 1 = Monday; ranges, lists,
    steps, names) as an explicit APScheduler list of names: APScheduler's own numbers count
    from Monday = 0, so ``1`` would otherwise mean Tuesday."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        if step_text and not step_text.isdigit() or step_text == "0":
            raise ValueError(f"invalid cron expression {value!r}: bad step in {part!r}")
        step = int(step_text or 1)
        if span == "*":
            low, high = 0, 6
        elif "-" in span:
            low, high = (_cron_day(t, value) for t in span.split("-", 1))
        else:
            low = _cron_day(span, value)
            high = 7 if step_text else low
        if low > high:
            raise ValueError(f"invalid cron expression {value!r}: range {span!r} runs backwards")
        days.update(d % 7 for d in range(low, high + 1, step))
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def cron_trigger(value: str, timezone=None):
    """An APScheduler trigger for a five-field cron expression (minute hour day month
    day_of_week) with standard cron meaning: ``0 7 * * 1`` fires on Mondays at 07:00."""
    from apscheduler.triggers.cron import CronTrigger

    parts = value.split()
    if len(parts) != CRON_FIELDS:
        raise ValueError(f"expected a cron expression with 5 fields, got {value!r}")
    minute, hour, day, month, weekday = parts
    weekdays = _standard_weekdays(weekday, value)
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=weekdays,
            timezone=timezone,
        )
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {value!r}: {exc}") from None


def check_cron(value: str) -> str:
    """Validate a five-field cron expression (minute hour day month day_of_week)."""
    cron_trigger(value)
    return value


Cron = Annotated[str, Field(min_length=1)]


# --- settings.yaml --------------------------------------------------------------------


class CrawlSettings(Strict):
    contact_email: str = "international@lidkoping.se"
    user_agent: str = "Bevaka/0.1 (Lidkopings kommun; +mailto:{contact_email})"
    obey_robots: bool = True
    download_delay: float = Field(1.0, ge=0)
    concurrent_requests_per_domain: int = Field(2, ge=1, le=32)
    autothrottle: bool = True
    timeout_seconds: float = Field(30.0, gt=0)
    #: one attempt, this long, for a host's robots.txt (part of the ≤ 120 s per start URL)
    robots_timeout_seconds: float = Field(15.0, gt=0)
    retries: int = Field(2, ge=0, le=10)
    max_response_bytes: int = Field(20_000_000, gt=0)
    source_timeout_seconds: int = Field(900, gt=0)
    #: sources one crawl process runs before the next process starts (1: each its own)
    sources_per_process: int = Field(100, ge=1, le=1000)
    #: sources a crawl process crawls at once (never two of one host at once)
    parallel_sources: int = Field(4, ge=1, le=32)

    @property
    def resolved_user_agent(self) -> str:
        return self.user_agent.replace("{contact_email}", self.contact_email)


class ScheduleSettings(Strict):
    crawl: Cron = "0 6 * * mon-fri"
    digest: Cron = "0 7 * * mon"
    health: Cron = "30 6 * * mon-fri"
    misfire_grace_seconds: int = Field(6 * 3600, ge=1)
    lock_lease_seconds: int = Field(120, ge=2)

    @field_validator("crawl", "digest", "health")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)


class SmtpSettings(Strict):
    host: str | None = None
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = Field(None, exclude=True, repr=False)
    sender: str = "Bevaka <bevaka@lidkoping.se>"
    reply_to: str | None = None
    timeout_seconds: float = Field(30.0, gt=0)
    concurrency: int = Field(1, ge=1, le=64)
    max_attempts: int = Field(4, ge=1, le=20)
    retry_backoff_seconds: float = Field(2.0, ge=0)
    messages_per_connection: int = Field(100, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _no_password_in_yaml(cls, data: Any, info: Any) -> Any:
        if isinstance(data, Mapping) and "password" in data and not (info.context or {}).get("env"):
            raise ValueError(
                "password must not be written in YAML; set BEVAKA_SMTP_PASSWORD in the environment"
            )
        return data


class DigestSettings(Strict):
    subject: str = "Bevaka v. {week}: {count} nya utlysningar för {audience}"
    deadline_window_days: int = Field(30, ge=1, le=365)
    deadline_thresholds_days: list[int] = Field(default_factory=lambda: [30, 14, 3])
    send_empty: bool = False
    outbox_dir: str = "var/outbox"
    coordinator_email: str = "international@lidkoping.se"
    reminder_days: list[int] = Field(default_factory=lambda: [14, 3])
    #: a sending run stops after this long; what is left stays pending for the next run
    #: (and the run's claim on those rows is released)
    run_deadline_seconds: int = Field(1800, ge=10)


class HealthSettings(Strict):
    failure_threshold: int = Field(2, ge=1, le=100)


class WebSettings(Strict):
    # Who may sign up (and receive a shared call): until each V6 municipality has its own
    # needs in needs.yaml, the municipality's own domain; the coordinator adds others.
    allowed_domains: list[str] = Field(default_factory=lambda: ["lidkoping.se"])
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    basic_auth_user: str | None = None
    token_max_age_days: int = Field(365, ge=1)
    signup_link_max_age_hours: int = Field(48, ge=1)
    signup_rate_limit_per_hour: int = Field(5, ge=1)
    #: addresses of reverse proxies whose X-Forwarded-For is believed (the sign-up rate
    #: limit counts per client address); empty: the header is ignored from everyone
    trusted_proxies: list[str] = Field(default_factory=list)


#: the least a BEVAKA_SECRET_KEY must have: characters, and estimated bits of entropy
SECRET_KEY_MIN_CHARS = 32
SECRET_KEY_MIN_BITS = 128
_KEY_ADVICE = "make one with `bevaka secret generate`"


def secret_key_bits(key: str) -> float:
    """A conservative estimate of a key's entropy: its length times the Shannon entropy of
    its characters (a repeated or few-letter key scores low, a random one ~5.9 bits a char)."""
    if not key:
        return 0.0
    counts = Counter(key)
    per_char = max(0.0, -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values()))
    return per_char * len(key)


def check_secret_key(key: str) -> str:
    """The key, or ValueError saying why it is too weak (never the key itself)."""
    if len(key) < SECRET_KEY_MIN_CHARS:
        raise ValueError(
            f"BEVAKA_SECRET_KEY is too short ({len(key)} characters, at least "
            f"{SECRET_KEY_MIN_CHARS} needed): {_KEY_ADVICE}"
        )
    bits = secret_key_bits(key)
    if bits < SECRET_KEY_MIN_BITS:
        raise ValueError(
            f"BEVAKA_SECRET_KEY is too predictable (about {bits:.0f} bits of entropy, at least "
            f"{SECRET_KEY_MIN_BITS} needed): {_KEY_ADVICE}"
        )
    return key


class Settings(Strict):
    """config/settings.yaml."""

    database_url: str = "sqlite:///var/bevaka.sqlite3"
    timezone: str = "Europe/Stockholm"
    public_url: str | None = None
    secret_key: str | None = Field(None, exclude=True, repr=False)
    crawl: CrawlSettings = CrawlSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    smtp: SmtpSettings = SmtpSettings()
    digest: DigestSettings = DigestSettings()
    health: HealthSettings = HealthSettings()
    web: WebSettings = WebSettings()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: str | None) -> str | None:
        return None if value is None else check_secret_key(value)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected an http(s) URL such as https://bevaka.lidkoping.se")
        return value.rstrip("/")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def with_environment(self, env: Mapping[str, str]) -> Settings:
        """Apply the documented environment overrides (secrets only ever come from here)."""
        smtp: dict[str, Any] = {}
        mapping = {
            "BEVAKA_SMTP_HOST": "host",
            "BEVAKA_SMTP_PORT": "port",
            "BEVAKA_SMTP_SECURITY": "security",
            "BEVAKA_SMTP_USERNAME": "username",
            "BEVAKA_SMTP_PASSWORD": "password",
        }
        for var, key in mapping.items():
            if env.get(var):
                smtp[key] = env[var]
        top: dict[str, Any] = {}
        if env.get("DATABASE_URL"):
            top["database_url"] = env["DATABASE_URL"]
        if env.get("BEVAKA_SECRET_KEY"):
            top["secret_key"] = env["BEVAKA_SECRET_KEY"]
        if env.get("BEVAKA_PUBLIC_URL"):
            top["public_url"] = env["BEVAKA_PUBLIC_URL"]
        data = self.model_dump()
        data["smtp"].update(smtp)
        data.update(top)
        if self.secret_key and "secret_key" not in top:
            data["secret_key"] = self.secret_key
        if self.smtp.password and "password" not in smtp:
            data["smtp"]["password"] = self.smtp.password
        return Settings.model_validate(data, context={"env": True})


# --- sources.yaml ---------------------------------------------------------------------

SourceKind = Literal[
    "eu_portal", "vinnova", "tillvaxtverket", "feed", "listing", "wordpress", "sitemap"
]


# Options of the code spiders (feed and listing check their own): name → accepted types.
_NUMBER = (int, float)
CODE_SPIDER_OPTIONS: dict[str, dict[str, tuple[type, ...]]] = {
    "eu_portal": {
        "programmes": (list,),
        "statuses": (list,),
        "types": (list,),
        "page_size": (int,),
        "max_pages": (int,),
        "text": (str,),
        "fetch_details": (bool,),
        "detail_url": (str,),
        "topic_url": (str,),
        "prospect_url": (str,),
        "cascade_url": (str,),
        "programme_period": (str,),
        "download_delay": _NUMBER,
    },
    "vinnova": {
        "window_days": (int,),
        "full_since": (str,),
        "full_timeout": _NUMBER,
        "page_url": (str,),
        "download_delay": _NUMBER,
    },
    "tillvaxtverket": {
        "programme": (str,),
        "max_items": (int,),
        "fetch_details": (bool,),
        "download_delay": _NUMBER,
    },
}
EU_STATUSES = ("open", "forthcoming", "closed")


def check_code_spider_options(kind: str, options: Mapping[str, Any]) -> None:
    """Refuse unknown or ill-typed options of the eu_portal, vinnova and tillvaxtverket kinds."""
    spec = CODE_SPIDER_OPTIONS.get(kind)
    if spec is None:
        return
    for name, value in options.items():
        if name not in spec:
            raise ValueError(
                f"unknown option {name!r} for kind {kind}; known: {', '.join(sorted(spec))}"
            )
        types = spec[name]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            expected = " or ".join(t.__name__ for t in types)
            raise ValueError(f"option {name!r} must be a {expected}, got {value!r}")
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"option {name!r} must not be negative")
        if name in ("page_size", "max_pages", "window_days", "max_items") and value < 1:
            raise ValueError(f"option {name!r} must be at least 1")
    if kind == "vinnova" and "full_since" in options:
        try:
            date.fromisoformat(options["full_since"])
        except ValueError:
            raise ValueError(
                f"option 'full_since' must be a date (YYYY-MM-DD), got {options['full_since']!r}"
            ) from None
    if kind == "eu_portal":
        for code in options.get("programmes", []):
            programme = PROGRAMMES.get(code) if isinstance(code, str) else None
            if programme is None or not programme.sedia_id:
                known = ", ".join(sorted(c for c, p in PROGRAMMES.items() if p.sedia_id))
                raise ValueError(f"unknown EU portal programme {code!r}; known: {known}")
        for status in options.get("statuses", []):
            if status not in EU_STATUSES:
                raise ValueError(f"unknown status {status!r}; use {', '.join(EU_STATUSES)}")
        for name in ("detail_url", "topic_url", "prospect_url", "cascade_url"):
            if name in options and "{identifier}" not in options[name]:
                raise ValueError(f"option {name!r} must contain {{identifier}}")


class SourceEntry(Strict):
    key: str = Field(pattern=KEY_PATTERN)
    name: str = Field(min_length=1)
    kind: SourceKind
    url: str | None = None
    urls: list[str] = Field(default_factory=list)
    enabled: bool = True
    schedule: Cron | None = None
    call_kind: Literal["call", "news"] = "call"
    options: dict[str, Any] = Field(default_factory=dict)
    note: str | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.match(r"^https?://[^\s/]+", item):
                raise ValueError(f"expected http(s) URLs, got {item!r}")
        return value

    @model_validator(mode="after")
    def _kind_options(self) -> SourceEntry:
        check_code_spider_options(self.kind, self.options)
        return self

    @model_validator(mode="after")
    def _enabled_needs_url(self) -> SourceEntry:
        if self.enabled and not (self.url or self.urls):
            raise ValueError("an enabled source needs a url (or set enabled: false)")
        return self

    @property
    def all_urls(self) -> list[str]:
        return ([self.url] if self.url else []) + list(self.urls)

    @property
    def state(self) -> str:
        if not self.enabled:
            return "disabled: url not set" if not self.all_urls else "disabled"
        return "enabled"


class SourcesFile(Strict):
    sources: list[SourceEntry]

    @model_validator(mode="after")
    def _unique_keys(self) -> SourcesFile:
        seen: set[str] = set()
        for entry in self.sources:
            if entry.key in seen:
                raise ValueError(f"duplicate source key {entry.key!r}")
            seen.add(entry.key)
        return self


# --- needs.yaml -----------------------------------------------------------------------


def _terms(value: list[str]) -> list[str]:
    """Check every term's syntax (see docs/matching.md); an empty list is a mistake."""
    from matching.terms import TermSyntaxError, parse_term

    cleaned = []
    for term in value:
        try:
            cleaned.append(parse_term(term).raw)
        except TermSyntaxError as exc:
            raise ValueError(str(exc)) from None
    return cleaned


def _programme_codes(value: list[str]) -> list[str]:
    for code in value:
        if code not in PROGRAMMES:
            known = ", ".join(sorted(PROGRAMMES))
            raise ValueError(f"unknown programme {code!r}; known: {known}")
    return value


#: a list of terms, each checked (docs/matching.md); programme codes of config/programmes.py
Terms = Annotated[list[str], AfterValidator(_terms)]
ProgrammeCodes = Annotated[list[str], AfterValidator(_programme_codes)]


class Need(Strict):
    """One need of a förvaltning or topic. ``any``: at least one of these terms;
    ``all``: at least one term of every group; ``none``: any of these terms excludes the
    need; ``programmes``: only calls of these programme codes; ``weight`` multiplies the
    need's score."""

    name: str = Field(min_length=1)
    any: Terms = Field(default_factory=list)
    all: list[list[str]] = Field(default_factory=list)
    none: Terms = Field(default_factory=list)
    programmes: ProgrammeCodes = Field(default_factory=list)
    weight: float = Field(1.0, gt=0, le=10)
    #: the applicant restrictions (applicants.only[].name) this need still applies under
    applicants: list[str] = Field(default_factory=list)

    @field_validator("all")
    @classmethod
    def _check_groups(cls, value: list[list[str]]) -> list[list[str]]:
        for group in value:
            if not group:
                raise ValueError("an all-of group must list at least one term")
        return [_terms(group) for group in value]

    @model_validator(mode="after")
    def _has_terms(self) -> Need:
        if not self.any and not self.all:
            raise ValueError("the need has no terms: list at least one under 'any' or 'all'")
        return self


class Audience(Strict):
    """A förvaltning or a topic: something calls are tagged with."""

    key: str = Field(pattern=KEY_PATTERN)
    name: str = Field(min_length=1)
    threshold: float | None = Field(None, gt=0)
    none: Terms = Field(default_factory=list)
    needs: list[Need] = Field(min_length=1)


#: a call identifier pattern: letters, digits, - and * (any text), e.g. HORIZON-MISS-*-CLIMA-*
IdentifierPattern = Annotated[str, Field(pattern=r"^[A-Za-z0-9*][A-Za-z0-9*-]*$", max_length=80)]

HOST_PATTERN = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$"


class ProgrammeDefault(Strict):
    """A programme or funder that implies förvaltningar/topics by itself: a call of one of
    ``programmes`` (codes), from one of ``funders`` (hosts of the call's URL, subdomains
    included), with an identifier that fits one of ``identifiers``, or naming it with an ``any`` term anywhere in its text adds
    ``score`` to each of ``tags`` (unless a ``none`` term appears, or the call is closed
    to municipalities or to this region)."""

    name: str = Field(min_length=1)
    programmes: ProgrammeCodes = Field(default_factory=list)
    funders: list[Annotated[str, Field(pattern=HOST_PATTERN)]] = Field(default_factory=list)
    #: call identifier patterns (HORIZON-MISS-*-CLIMA-*): the portal's topics by their code
    identifiers: list[IdentifierPattern] = Field(default_factory=list)
    any: Terms = Field(default_factory=list)
    none: Terms = Field(default_factory=list)
    tags: list[str] = Field(min_length=1)
    score: float = Field(3.0, gt=0, le=100)
    applicants: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_trigger(self) -> ProgrammeDefault:
        if not (self.programmes or self.funders or self.identifiers or self.any):
            raise ValueError(
                "a programme default needs programmes, funders, identifiers or any terms"
            )
        return self


class ApplicantRestriction(Strict):
    """Calls open only to one kind of applicant that is not a municipality (companies,
    non-profit organisations, universities ...): any of ``any`` anywhere in the call."""

    name: str = Field(pattern=KEY_PATTERN)
    label: str = Field(min_length=1)
    any: Terms = Field(default_factory=list)
    #: identifier patterns (HORIZON-CL*, HORIZON-EIC* ...; * is any text): a call whose
    #: identifier fits one is restricted even when none of ``any`` appears (a research topic that
    #: the portal lists with its title only)
    identifiers: list[IdentifierPattern] = Field(default_factory=list)
    #: hosts of the call's address (subdomains included) that hold it without any term:
    #: the municipality's own site, whose grants it gives rather than receives
    hosts: list[Annotated[str, Field(pattern=HOST_PATTERN)]] = Field(default_factory=list)
    #: terms that lift it: a news item on grants decided that also announces the next
    #: round ("nästa ansökningsomgång", "ansök senast") is an opportunity after all
    unless: Terms = Field(default_factory=list)
    #: the kinds of item it applies to (call, news); empty: every kind
    kinds: list[Literal["call", "news"]] = Field(default_factory=list)
    #: False: it holds even when the call names municipalities (news about grants decided)
    unless_municipal: bool = True
    #: True: it holds when NONE of ``any`` appears (a news item that announces nothing)
    when_missing: bool = False

    @model_validator(mode="after")
    def _has_trigger(self) -> ApplicantRestriction:
        if not self.any and not self.identifiers and not self.hosts:
            raise ValueError("an applicant restriction needs 'any' terms, 'identifiers' or 'hosts'")
        if self.when_missing and (self.identifiers or self.hosts):
            raise ValueError("'identifiers' and 'hosts' cannot be used with 'when_missing'")
        return self


class Applicants(Strict):
    """Who may apply. ``municipal``: terms that name municipalities or local authorities
    as applicants or partners; when one appears every score is multiplied by
    ``municipal_weight`` and no restriction applies. ``only``: restrictions; a call that
    has one (and no municipal term) gets no tag, except from needs that list its name
    under ``applicants``."""

    municipal: Terms = Field(default_factory=list)
    municipal_weight: float = Field(1.5, ge=1, le=10)
    only: list[ApplicantRestriction] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Applicants:
        names = [r.name for r in self.only]
        if len(names) != len(set(names)):
            raise ValueError("applicant restriction names must be unique")
        return self


class Geography(Strict):
    """Where a call may be used. ``home``: places that keep a call (Västra Götaland,
    Skaraborg ...); ``national``: words for the whole country; ``other``: other Swedish
    regions. A call whose regions, title, keywords or summary name only ``other`` places
    (none of ``home`` or ``national`` anywhere) gets no tag."""

    home: Terms = Field(default_factory=list)
    national: Terms = Field(default_factory=list)
    other: Terms = Field(default_factory=list)
    #: the other Swedish municipalities as their own pages name themselves ("Huddinge
    #: kommun"): counted as ``other`` places
    other_municipalities: Terms = Field(default_factory=list)


class FieldWeights(Strict):
    title: float = Field(3.0, ge=0)
    summary: float = Field(1.5, ge=0)
    description: float = Field(1.0, ge=0)
    keywords: float = Field(2.0, ge=0)


class MatchDefaults(Strict):
    threshold: float = Field(3.0, gt=0)
    field_weights: FieldWeights = FieldWeights()


class SecondOpinionSettings(Strict):
    """The learned second opinion (matching/second_opinion.py, docs/matching.md).
    ``mode``: off (not used, the model file is not read), advise (shown in explain and
    eval only), veto (drops a rules tag below ``veto_below``), add (tags an untagged
    förvaltning at ``add_above`` or more), both. ``model``: the model file, relative to
    the directory of needs.yaml."""

    mode: Literal["off", "advise", "veto", "add", "both"] = "off"
    model: str = Field("second-opinion.json", min_length=1)
    veto_below: float = Field(0.05, gt=0, lt=1)
    add_above: float = Field(0.7, gt=0, lt=1)
    words: int = Field(5, ge=1, le=20)  # words for and against shown per förvaltning

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        # YAML reads a bare off (and no) as false: that is what the coordinator means
        if value is False:
            return "off"
        if value is True:
            raise ValueError("write one of off, advise, veto, add, both (not on/yes/true)")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SecondOpinionSettings:
        if self.veto_below >= self.add_above:
            raise ValueError("veto_below must be below add_above")
        return self


class NeedsFile(Strict):
    defaults: MatchDefaults = MatchDefaults()
    departments: list[Audience] = Field(default_factory=list)
    topics: list[Audience] = Field(default_factory=list)
    programme_defaults: list[ProgrammeDefault] = Field(default_factory=list)
    applicants: Applicants = Applicants()
    geography: Geography = Geography()
    second_opinion: SecondOpinionSettings = SecondOpinionSettings()
    #: the loaded model (matching.second_opinion.Model) when the mode is not off; set by
    #: config.loader.attach_second_opinion, never read from YAML
    _model: Any = PrivateAttr(default=None)

    @property
    def second_opinion_model(self) -> Any:
        return self._model

    @model_validator(mode="after")
    def _unique_keys(self) -> NeedsFile:
        seen: set[str] = set()
        for audience in [*self.departments, *self.topics]:
            if audience.key in seen:
                raise ValueError(
                    f"duplicate key {audience.key!r} (department and topic keys share one namespace)"
                )
            seen.add(audience.key)
        return self

    @model_validator(mode="after")
    def _known_references(self) -> NeedsFile:
        keys = [*self.department_keys, *self.topic_keys]
        restrictions = {r.name for r in self.applicants.only}
        for default in self.programme_defaults:
            for key in default.tags:
                if key not in keys:
                    raise ValueError(
                        f"programme default {default.name!r}: unknown förvaltning or topic "
                        f"{key!r}; known: {', '.join(keys)}"
                    )
        users = [(d.name, d.applicants) for d in self.programme_defaults] + [
            (n.name, n.applicants) for a in [*self.departments, *self.topics] for n in a.needs
        ]
        for name, allowed in users:
            for restriction in allowed:
                if restriction not in restrictions:
                    raise ValueError(
                        f"{name!r}: unknown applicant restriction {restriction!r}; known: "
                        f"{', '.join(sorted(restrictions)) or 'none (see applicants.only)'}"
                    )
        return self

    def audience(self, key: str) -> Audience | None:
        for audience in [*self.departments, *self.topics]:
            if audience.key == key:
                return audience
        return None

    @property
    def department_keys(self) -> list[str]:
        return [d.key for d in self.departments]

    @property
    def topic_keys(self) -> list[str]:
        return [t.key for t in self.topics]
