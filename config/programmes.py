"""EU programme codes: the short code used in identifiers and needs.yaml, its name, and the
SEDIA ``frameworkProgramme`` id where the programme is on the Funding & Tenders portal."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Programme:
    code: str
    name: str
    sedia_id: str | None = None


_TABLE = [
    Programme("HORIZON", "Horisont Europa", "43108390"),
    Programme("ERASMUS", "Erasmus+", "43353764"),
    Programme("LIFE", "LIFE", "43252405"),
    Programme("CERV", "Medborgare, jämlikhet, rättigheter och värden (CERV)", "43251589"),
    Programme("CREA", "Kreativa Europa", "43251814"),
    Programme("AMIF", "Asyl-, migrations- och integrationsfonden (AMIF)", "43251447"),
    Programme("DIGITAL", "Programmet för ett digitalt Europa", "43152860"),
    Programme("ESF", "Europeiska socialfonden+ (ESF+)", "43254019"),
    Programme("EU4H", "EU4Health", "43332642"),
    Programme("SMP", "Programmet för den inre marknaden (SMP)", "43252476"),
    Programme("CEF", "Fonden för ett sammanlänkat Europa (CEF)", "43251567"),
    Programme("ISF", "Fonden för inre säkerhet (ISF)", "43252368"),
    Programme("JUST", "Programmet för rättsliga frågor (JUST)", "43252386"),
    Programme("ESC", "Europeiska solidaritetskåren", "43254037"),
    Programme("EMFAF", "Europeiska havs-, fiskeri- och vattenbruksfonden (EMFAF)", "43392145"),
    Programme("INNOVFUND", "Innovationsfonden", "43089234"),
    Programme("I3", "Interregionala innovationsinvesteringar (I3)", "44416173"),
    Programme("UCPM", "EU:s civilskyddsmekanism (UCPM)", "43298203"),
    Programme("JTM", "Mekanismen för en rättvis omställning (JTM)", "44773066"),
    Programme("PPPA", "Pilotprojekt och förberedande åtgärder", "43637601"),
    Programme("EURATOM", "Euratom", "43298916"),
    Programme("EDF", "Europeiska försvarsfonden", "44181033"),
    # Programmes run in Sweden, not on the EU portal.
    Programme("ERUF", "Regionalfonden (ERUF)"),
    Programme("ESF-SE", "ESF+ i Sverige (Svenska ESF-rådet)"),
    Programme("INTERREG", "Interreg"),
    Programme("VINNOVA", "Vinnova"),
    Programme("RVG", "Västra Götalandsregionen"),
    Programme("LST", "Länsstyrelsen"),
    Programme("LEADER", "Leader (lokalt ledd utveckling)"),
    Programme("CAP", "Landsbygdsprogrammet / CAP-planen (Jordbruksverket)"),
    Programme("LONA", "Lokala naturvårdssatsningen (LONA)"),
    Programme("KLIMATKLIVET", "Klimatklivet (Naturvårdsverket)"),
    Programme("EUI", "European Urban Initiative"),
    Programme("OTHER", "Övrigt"),
]

PROGRAMMES: dict[str, Programme] = {p.code: p for p in _TABLE}
BY_SEDIA_ID: dict[str, Programme] = {p.sedia_id: p for p in _TABLE if p.sedia_id}

# The names sources and imported records give instead of the code ("Erasmus+",
# "EU4Health", "Creative Europe" ...), compared as _name_key makes them.
_ALIASES = {
    "HORIZON": ["Horizon Europe", "Horisont Europa", "Horizon 2020"],
    "ERASMUS": ["Erasmus+", "Erasmus plus", "Erasmus"],
    "LIFE": ["LIFE programme", "LIFE-programmet"],
    "CERV": [
        "Citizens, Equality, Rights and Values",
        "Medborgare, jämlikhet, rättigheter och värden",
    ],
    "CREA": ["Creative Europe", "Kreativa Europa"],
    "AMIF": ["Asylum, Migration and Integration Fund", "Asyl-, migrations- och integrationsfonden"],
    "DIGITAL": ["Digital Europe", "Digital Europe Programme", "Programmet för ett digitalt Europa"],
    "ESF": [
        "ESF+",
        "European Social Fund Plus",
        "European Social Fund",
        "Europeiska socialfonden",
        "Europeiska socialfonden+",
    ],
    "EU4H": ["EU4Health", "EU4Health Programme"],
    "SMP": ["Single Market Programme"],
    "CEF": ["Connecting Europe Facility"],
    "ESC": ["European Solidarity Corps", "Europeiska solidaritetskåren", "Solidaritetskåren"],
    "EMFAF": ["European Maritime, Fisheries and Aquaculture Fund"],
    "INNOVFUND": ["Innovation Fund", "Innovationsfonden"],
    "UCPM": [
        "Union Civil Protection Mechanism",
        "EU Civil Protection Mechanism",
        "EU:s civilskyddsmekanism",
    ],
    "JTM": ["Just Transition Fund", "Fonden för en rättvis omställning"],
    "ERUF": [
        "ERDF",
        "European Regional Development Fund",
        "Regionalfonden",
        "Europeiska regionala utvecklingsfonden",
    ],
    "LEADER": ["Leader", "CLLD", "Lokalt ledd utveckling"],
    "LONA": ["Lokala naturvårdssatsningen"],
    "EUI": ["European Urban Initiative"],
}


def _name_key(value: str) -> str:
    return " ".join(value.replace("’", "'").casefold().split())


_BY_NAME: dict[str, str] = {
    _name_key(name): code
    for code, names in _ALIASES.items()
    for name in (code, PROGRAMMES[code].name, *names)
}


def _words(text: str) -> str:
    """`` erasmus plus `` for ``Erasmus+ (plus)``: letters and digits, single spaces, padded."""
    cleaned = "".join(c if c.isalnum() else " " for c in text.casefold())
    return " " + " ".join(cleaned.split()) + " "


# Names distinctive enough to name a call's programme in its title: the common names, and
# the codes that are no ordinary word (not LIFE, DIGITAL, HORIZON, Leader ...).
_TITLE_CODES = ("AMIF", "CERV", "EU4H", "UCPM", "EMFAF", "ERASMUS")
_TITLE_NAMES = sorted(
    {
        (_words(name), code)
        for code, names in _ALIASES.items()
        for name in ((code,) if code in _TITLE_CODES else ()) + tuple(names)
        if name not in {"Leader", "CLLD", "LIFE programme", "LIFE-programmet", "Innovation Fund"}
    },
    key=lambda pair: (-len(pair[0]), pair[0]),
)


def programme_in_title(title: str | None) -> str | None:
    """The programme a title names (``Erasmus+ – Small-scale partnerships`` → ERASMUS,
    ``Interreg Europe third call`` → INTERREG), for a call that gives no programme or
    identifier; None when it names none."""
    if not title:
        return None
    words = _words(title)
    if " interreg " in words:
        return "INTERREG"
    for name, code in _TITLE_NAMES:
        if name in words:
            return code
    return None


def programme_code(value: str | None) -> str | None:
    """The code for a programme given as its code or a common name: ``erasmus`` and
    ``Erasmus+`` → ERASMUS, ``EU4Health`` → EU4H, ``Interreg Europe`` → INTERREG; None for
    a name that is not known (it is then matched as written)."""
    if not value or not value.strip():
        return None
    if value.strip().upper() in PROGRAMMES:
        return value.strip().upper()
    key = _name_key(value)
    if key in _BY_NAME:
        return _BY_NAME[key]
    if key.startswith("interreg"):
        return "INTERREG"
    return None


def programme_from_identifier(identifier: str | None) -> Programme | None:
    """``HORIZON-CL5-2027-...`` → Horizon Europe; None when the prefix is not known."""
    if not identifier:
        return None
    prefix = identifier.split("-", 1)[0].upper()
    return PROGRAMMES.get(prefix)


def programme_name(code: str | None) -> str | None:
    if code is None:
        return None
    programme = PROGRAMMES.get(code)
    return programme.name if programme else code
