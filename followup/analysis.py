"""The policy's benefit and risk analysis ("nytto- och riskanalys") for a call a förvaltning
pursues. Stored append-only in ``Analysis.answers``: each save adds a row with the whole set
of answers (earlier answers carried over), so the history shows who wrote what and when.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, col, select

from followup.decisions import (
    ANALYSIS_STATUSES,
    STATUSES,
    DecisionError,
    current_decision,
    validate_actor,
)
from storage.models import Analysis, Call

UD_REPORTS_HINT = (
    "Läs Utrikesdepartementets (UD:s) rapporter om mänskliga rättigheter, demokrati och "
    "rättsstatens principer för varje partnerland innan samarbetet inleds. Rapporterna "
    "finns på regeringen.se."
)


@dataclass(frozen=True)
class AnalysisField:
    key: str
    label: str
    help: str


FIELDS: tuple[AnalysisField, ...] = (
    AnalysisField(
        "purpose",
        "Syfte och mål",
        "Vad ska samarbetet uppnå? Formulera ett tydligt syfte och mätbara mål.",
    ),
    AnalysisField(
        "own_need",
        "Förvaltningens eget behov",
        "Vilket behov i den egna verksamheten möter projektet?",
    ),
    AnalysisField(
        "partners",
        "Partner och varför just de",
        "Vilka partner ingår, vilken roll har de och varför har de valts?",
    ),
    AnalysisField(
        "partner_countries",
        "Partnerländer",
        "Vilka länder kommer partnerna från?",
    ),
    AnalysisField(
        "environment",
        "Miljöpåverkan",
        "Resor, transporter och annan påverkan på miljö och klimat, och hur den begränsas.",
    ),
    AnalysisField(
        "security",
        "Säkerhet",
        "Informationssäkerhet, personsäkerhet och säkerhetsskydd.",
    ),
    AnalysisField(
        "democracy_human_rights",
        "Demokrati och mänskliga rättigheter",
        UD_REPORTS_HINT,
    ),
    AnalysisField(
        "financing",
        "Finansiering och medfinansiering",
        "Budget, stödnivå, egen medfinansiering (pengar och arbetstid) och vem som betalar.",
    ),
    AnalysisField(
        "risks",
        "Risker",
        "Vad kan gå fel, hur sannolikt är det och vad görs för att minska riskerna?",
    ),
)
FIELD_KEYS = tuple(f.key for f in FIELDS)
MAX_ANSWER = 10_000


class AnalysisError(DecisionError):
    """An analysis that cannot be saved; the message says why."""


def clean_answers(answers: Mapping[str, Any]) -> dict[str, str]:
    """Only known keys, as stripped strings; unknown keys are an error naming them."""
    unknown = sorted(set(answers) - set(FIELD_KEYS))
    if unknown:
        raise AnalysisError(
            f"unknown analysis field(s) {', '.join(unknown)}; use {', '.join(FIELD_KEYS)}",
            "Okänt fält i analysen.",
        )
    out: dict[str, str] = {}
    for key, value in answers.items():
        if value is None:
            continue
        if not isinstance(value, str | int | float):
            raise AnalysisError(f"analysis field {key!r} must be text", "Svaren måste vara text.")
        text = str(value).strip()
        if len(text) > MAX_ANSWER:
            raise AnalysisError(
                f"analysis field {key!r} is longer than {MAX_ANSWER} characters",
                f"Ett svar får vara högst {MAX_ANSWER} tecken.",
            )
        out[key] = text
    return out


def load_answers_file(path: Path) -> dict[str, str]:
    """Read answers from a YAML or JSON file (a mapping of field key → text)."""
    try:
        raw = path.read_text(encoding="utf-8")
        data = json.loads(raw) if path.suffix.lower() == ".json" else yaml.safe_load(raw)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise AnalysisError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise AnalysisError(f"{path}: expected a mapping of field → text")
    return clean_answers(data)


def latest_analysis(*, session: Session, call_id: int, department: str) -> Analysis | None:
    return session.exec(
        select(Analysis)
        .where(Analysis.call_id == call_id, Analysis.department == department)
        .order_by(col(Analysis.created_at).desc(), col(Analysis.id).desc())
        .limit(1)
    ).first()


def analysis_history(*, session: Session, call_id: int, department: str) -> list[Analysis]:
    return list(
        session.exec(
            select(Analysis)
            .where(Analysis.call_id == call_id, Analysis.department == department)
            .order_by(col(Analysis.created_at), col(Analysis.id))
        ).all()
    )


def save_analysis(
    *,
    session: Session,
    call_id: int,
    department: str,
    answers: Mapping[str, Any],
    actor: str,
    now: datetime,
) -> Analysis:
    """Add an analysis row: the previous answers with ``answers`` laid over them (an empty
    string clears a field). The förvaltning's current decision must be pursuing (or later:
    applied, granted, rejected)."""
    changes = clean_answers(answers)
    actor = validate_actor(actor)
    if session.get(Call, call_id) is None:
        raise AnalysisError(f"no call with id {call_id}", "Utlysningen finns inte.")
    decision = current_decision(session=session, call_id=call_id, department=department)
    if decision is None or decision.status not in ANALYSIS_STATUSES:
        now_status = decision.status if decision else "no decision"
        raise AnalysisError(
            f"the analysis is for calls the förvaltning pursues; {department!r} has "
            f"{now_status!r} on call {call_id} (record `bevaka decide {call_id} "
            f"--department {department} --status pursuing` first)",
            "Analysen fylls i när förvaltningen har beslutat att gå vidare med utlysningen.",
        )
    previous = latest_analysis(session=session, call_id=call_id, department=department)
    merged = dict(previous.answers) if previous else {}
    for key, value in changes.items():
        if value:
            merged[key] = value
        else:
            merged.pop(key, None)
    row = Analysis(
        call_id=call_id, department=department, answers=merged, actor=actor, created_at=now
    )
    session.add(row)
    session.flush()
    return row


def status_label(status: str | None) -> str:
    return STATUSES.get(status or "", "Inget beslut")


def render_analysis_html(
    *,
    call: Call,
    department_label: str,
    analysis: Analysis | None,
    decision_status: str | None,
    tz: Any,
    now: datetime,
    css_href: str | None = None,
) -> str:
    """The analysis as a printable Swedish HTML page (every answer and title escaped).
    ``css_href``: link the stylesheet (the web app, whose CSP forbids inline style)."""
    from notifications.formatting import make_environment

    templates = Path(__file__).resolve().parent / "templates"
    env = make_environment(templates, tz=tz)
    return env.get_template("analysis_print.html").render(
        call=call,
        department_label=department_label,
        analysis=analysis,
        answers=(analysis.answers if analysis else {}),
        fields=FIELDS,
        status_label=status_label(decision_status),
        ud_hint=UD_REPORTS_HINT,
        now=now,
        css_href=css_href,
    )
