"""Generated Swedish and English texts with a fixed seed: titles, summaries, descriptions
and keywords shaped like real funding calls (EU topics in English, Swedish calls from
Tillväxtverket, Vinnova, ESF-rådet). Terms of the shipped needs.yaml are sprinkled in,
inflected and inside compounds, so the matcher has real work to do."""

from __future__ import annotations

import random


def _words(text: str) -> list[str]:
    return text.split()


EN_WORDS = _words(
    """
action actions activities adaptation administration approach areas authorities based
between budget building capacity cities citizens civil climate co-creation cohesion
collaboration communities community cooperation coordination cross-border cultural culture
data demonstration deployment design development digital dissemination diversity education
effective efficiency energy environment environmental equality europe european evidence
expected exchange framework funding governance green health heritage impact implementation
inclusion inclusive industry infrastructure innovation innovative integration international
knowledge labour learning level local long-term management market measures methods mobility
municipalities network networks objectives open outcomes participation partners partnership
pilot platform policy policies practices programme project projects public quality regional
regions research resilience resources rural scale schools sector services skills social
society solutions stakeholders strategies support sustainable systems technologies
territorial training transformation transition transport urban value water work youth
proposals should contribute address demonstrate develop improve increase reduce strengthen
ensure promote enable foster build scale apply deliver monitor assess engage share
"""
)

SV_WORDS = _words(
    """
aktörer analys ansökan arbete arbetsmarknad behov bidrag civilsamhället därför effekter
finansiering flera förutsättningar företag genomförande hållbar hållbarhet insatser
internationellt kompetens kunskap landsbygd lokala medel metoder miljö möjlighet näringsliv
offentliga organisationer projekt projektet region regionala resultat samarbete samhälle
satsning sociala stöd stödet strategi syfte utveckling utvecklingen verksamhet verksamheter
ökad ökat ungdomar unga vuxna individer invånare kommuner kommunen myndigheter förvaltning
innovation innovationer digital digitala tjänster forskning utbildning skolan skolor
kulturarv kultur idrott föreningar energi klimat vatten avfall transporter byggande
bostäder hälsa vård omsorg äldre integration nyanlända jämställdhet mångfald delaktighet
utlysningen ansökningar beviljas sökande målgrupp insats område områden långsiktig
"""
)

SV_FILLER = _words("och att det som en på är av för med till den har inte om ett kan ska samt inom")
EN_FILLER = _words("the and of to in is for on with by that are be as this from will an or")

SV_ENDINGS = ["", "", "en", "er", "erna", "ar", "arna", "s", "et", "ens"]
SV_HEADS = ["stads", "lands", "regional", "skol", "läns", "kommun", "närings", "samhälls"]


def need_terms(needs) -> list[str]:
    """The plain words of every term in a NeedsFile (stars and quotes removed)."""
    from matching.terms import parse_term

    raws: list[str] = []
    for audience in [*needs.departments, *needs.topics]:
        raws.extend(audience.none)
        for need in audience.needs:
            raws.extend(need.any)
            raws.extend(need.none)
            for group in need.all:
                raws.extend(group)
    words: list[str] = []
    for raw in dict.fromkeys(raws):
        parsed = parse_term(raw)
        words.append(" ".join(w.text for w in parsed.words))
    return words


class TextGen:
    """Deterministic texts: ``TextGen(seed, terms)`` then title()/paragraph()/keywords()."""

    def __init__(self, seed: int, terms: list[str] | None = None, term_rate: float = 0.02):
        self.rng = random.Random(seed)
        self.terms = [t for t in (terms or []) if t]
        self.term_rate = term_rate

    def _term(self, swedish: bool) -> str:
        term = self.rng.choice(self.terms)
        if swedish and " " not in term:
            roll = self.rng.random()
            if roll < 0.3:
                return term + self.rng.choice(SV_ENDINGS)
            if roll < 0.45:
                return self.rng.choice(SV_HEADS) + term
        return term

    def words(self, n: int, swedish: bool) -> list[str]:
        vocab = SV_WORDS if swedish else EN_WORDS
        filler = SV_FILLER if swedish else EN_FILLER
        rng = self.rng
        out = []
        for _ in range(n):
            roll = rng.random()
            if self.terms and roll < self.term_rate:
                out.append(self._term(swedish))
            elif roll < 0.4:
                out.append(rng.choice(filler))
            else:
                out.append(rng.choice(vocab))
        return out

    def sentence(self, swedish: bool, low: int = 8, high: int = 22) -> str:
        words = self.words(self.rng.randint(low, high), swedish)
        text = " ".join(words)
        return text[:1].upper() + text[1:] + "."

    def title(self, swedish: bool) -> str:
        words = self.words(self.rng.randint(5, 12), swedish)
        text = " ".join(words)
        return text[:1].upper() + text[1:]

    def paragraph(self, swedish: bool, sentences: int) -> str:
        return " ".join(self.sentence(swedish) for _ in range(sentences))

    def keywords(self, swedish: bool, n: int | None = None) -> list[str]:
        count = n if n is not None else self.rng.randint(2, 8)
        vocab = SV_WORDS if swedish else EN_WORDS
        out = []
        for _ in range(count):
            if self.terms and self.rng.random() < 0.15:
                out.append(self._term(swedish))
            else:
                out.append(self.rng.choice(vocab).capitalize())
        return out

    def html_description(self, swedish: bool, paragraphs: int) -> str:
        parts = []
        for heading in ("Expected Outcome:", "Scope:")[: max(1, min(2, paragraphs))]:
            parts.append(f'<p class="topicdescriptionkind">{heading}</p>')
        for _ in range(paragraphs):
            if self.rng.random() < 0.25:
                items = "".join(f"<li>{self.sentence(swedish)}</li>" for _ in range(3))
                parts.append(f"<ul>{items}</ul>")
            else:
                parts.append(f"<p>{self.paragraph(swedish, self.rng.randint(2, 5))}</p>")
        return "".join(parts)
