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
