"""The Swedish date language of real funders' pages (issue 14, SOURCES.md §13), and the
"never invent a call" rules for dates, on crawler.textparse.find_dates / status_hint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crawler.textparse import find_dates, status_hint

NOW = datetime(2027, 1, 15, 10, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_fram_till_den_is_a_deadline() -> None:
    found = find_dates("Ansökan kan skickas in fram till den 1 september 2020.")
    assert found["deadlines"] == [utc(2020, 9, 1, 21, 59, 59)]


def test_senast_den_is_a_deadline() -> None:
    found = find_dates("Ansökan ska vara Länsstyrelsen tillhanda senast den 15 mars 2027.")
    assert found["deadlines"] == [utc(2027, 3, 15, 22, 59, 59)]


def test_time_before_the_date() -> None:
    found = find_dates("Ansökan ska vara inne kl. 16.00 den 20 mars 2024.")
    assert found["deadlines"] == [utc(2024, 3, 20, 15, 0)]  # 16.00 CET


def test_ansokningstiden_ar_x_till_y() -> None:
    found = find_dates("Ansökningstiden är 27 juni till 14 september 2023.")
    assert found["opens_at"] == utc(2023, 6, 26, 22, 0)
    assert found["deadlines"] == [utc(2023, 9, 14, 21, 59, 59)]


def test_lopande_is_rolling_without_a_deadline() -> None:
    found = find_dates("Ansökan om projektstöd kan göras löpande under året.")
    assert (found["rolling"], found["deadlines"]) == (True, [])
    assert status_hint(found, NOW) == "open"


def test_lopande_about_something_else_is_not_rolling() -> None:
    assert find_dates("Vi informerar löpande om arbetet på webbplatsen.")["rolling"] is False


def test_month_only_opening_date() -> None:
    found = find_dates("Öppnar: Maj 2023")
    assert found["opens_at"] == utc(2023, 4, 30, 22, 0)  # 1 May 00:00 CEST
    assert found["deadlines"] == []


def test_month_only_deadline_is_the_last_day_of_the_month() -> None:
    assert find_dates("Stänger: mars 2027")["deadlines"] == [utc(2027, 3, 31, 21, 59, 59)]


def test_sok_1_range() -> None:
    found = find_dates("Sök 1: 15 januari–15 februari 2023")
    assert found["opens_at"] == utc(2023, 1, 14, 23, 0)
    assert found["deadlines"] == [utc(2023, 2, 15, 22, 59, 59)]


def test_iso_date_with_time() -> None:
    found = find_dates("Sista dag för ansökan 2021-04-08 12:00")
    assert found["deadlines"] == [utc(2021, 4, 8, 10, 0)]


def test_opens_and_closes_on_one_line() -> None:
    found = find_dates("Öppnar: 2 december 2022 / Stänger: 6 mars 2023")
    assert found["opens_at"] == utc(2022, 12, 1, 23, 0)
    assert found["deadlines"] == [utc(2023, 3, 6, 22, 59, 59)]


def test_utlysningstid_range() -> None:
    found = find_dates("Utlysningstid: 27 februari – 7 juni 2018. Beslut: 30 december 2018.")
    assert found["opens_at"] == utc(2018, 2, 26, 23, 0)
    assert found["deadlines"] == [utc(2018, 6, 7, 21, 59, 59)]  # the decision is not one


# --- never invent -----------------------------------------------------------------------


def test_ej_bestamt_is_an_unknown_deadline() -> None:
    found = find_dates(
        "Öppnar: Maj 2023\nStänger: Ej bestämt\nPrioriteras i strukturfondspartnerskapet "
        "11 december 2023"
    )
    assert found["deadline_unknown"] is True
    assert found["deadlines"] == []  # the partnership's decision date is not a deadline


def test_decision_date_is_not_a_deadline() -> None:
    found = find_dates(
        "Prioriteras i strukturfondspartnerskapet 11 december 2023", default="deadline"
    )
    assert found["deadlines"] == []


def test_registration_for_a_meeting_is_not_a_deadline() -> None:
    text = "Välkommen till ett informationsmöte den 28 februari. Anmäl dig senast den 21 februari."
    found = find_dates(text, anchor=utc(2024, 2, 1))
    assert found["deadlines"] == []
    assert found["opens_at"] is None


def test_yearless_date_is_never_dated_by_today() -> None:
    found = find_dates("Fram till 12 april kan din förening söka bidrag.")
    assert found["deadlines"] == []  # no year on the page: dropped, not 2027


def test_yearless_date_anchored_to_the_publication_date() -> None:
    found = find_dates("Fram till 12 april kan din förening söka bidrag.", anchor=utc(2021, 2, 1))
    assert found["deadlines"] == [utc(2021, 4, 12, 21, 59, 59)]


def test_yearless_date_after_the_publication_date_goes_to_the_next_year() -> None:
    found = find_dates("Sista ansökningsdag 15 februari.", anchor=utc(2023, 11, 20))
    assert found["deadlines"] == [utc(2024, 2, 15, 22, 59, 59)]


def test_publicerad_line_anchors_yearless_dates() -> None:
    found = find_dates(
        "Publicerad 5 mars 2024\nAnsökningsomgången pågick mellan den 12 januari och 8 februari."
    )
    assert found["opens_at"] == utc(2024, 1, 11, 23, 0)
    assert found["deadlines"] == [utc(2024, 2, 8, 22, 59, 59)]
    assert found["closed_words"] is True


def test_heading_year_anchors_yearless_dates() -> None:
    found = find_dates(
        "Under 2021\nSista ansökningsdag 12 april och 1 december", anchor=utc(2026, 1, 1)
    )
    assert found["deadlines"] == [utc(2021, 4, 12, 21, 59, 59), utc(2021, 12, 1, 22, 59, 59)]


def test_past_round_is_closed_not_open() -> None:
    found = find_dates("Utlysningen är stängd.")
    assert status_hint(found, NOW) == "closed"


def test_old_opening_date_without_deadline_is_not_open() -> None:
    found = find_dates("Öppnar: 12 augusti 2024")
    assert status_hint(found, NOW) == "closed"


def test_recent_opening_with_unknown_deadline_stays_open() -> None:
    found = find_dates("Öppnar: 2 december 2026\nStänger: Ej bestämt")
    assert status_hint(found, NOW) is None  # derive_status: opened, no deadline -> open


@pytest.mark.parametrize(
    "text",
    [
        "Beslut om stöd fattas den 12 juni 2027.",
        "Projektstart: 1 september 2027",
        "Anmälan till webbinariet senast 3 mars 2027",
    ],
)
def test_dates_about_something_else(text: str) -> None:
    found = find_dates(text, default="deadline")
    assert (found["deadlines"], found["opens_at"]) == ([], None)


def test_kl_24_is_the_end_of_the_day_and_publicerad_anchors() -> None:
    found = find_dates(
        "Publicerad 13 januari 2015\nFram till den 10 februari kl 24.00 är det möjligt att söka."
    )
    assert found["deadlines"] == [utc(2015, 2, 10, 22, 59, 59)]


def test_date_under_a_plural_heading_cue_with_klockan() -> None:
    found = find_dates("Ansökningstider\n4 oktober 2023 klockan 12.00")
    assert found["deadlines"] == [utc(2023, 10, 4, 10, 0)]


def test_year_phrase_in_a_sentence_anchors_a_past_round() -> None:
    text = (
        "Stödet går att ansöka om på nytt under 2018. Stödet har två ansökningsomgångar. "
        "Ansökningsomgång 1 pågick till och med den 16 april."
    )
    found = find_dates(text, anchor=utc(2026, 11, 1))
    assert found["deadlines"] == [utc(2018, 4, 16, 21, 59, 59)]
    assert status_hint(found, NOW) is None  # the deadline has passed: closed by the date


@pytest.mark.parametrize(
    ("text", "opens", "deadline"),
    [
        ("URBACT call for Networks is open, 17 March - 17 June 2026", utc(2026, 3, 16, 23, 0),
         utc(2026, 6, 17, 21, 59, 59)),
        ("Call 3 will be open between Monday17 April and 30 June 2023.", utc(2023, 4, 16, 22, 0),
         utc(2023, 6, 30, 21, 59, 59)),
        ("Starting on 8 February 2022 the call is open", utc(2022, 2, 7, 23, 0), None),
        ("the deadline for submitting the Project Idea Form is 9 March 2022", None,
         utc(2022, 3, 9, 22, 59, 59)),
        ("Applications must arrive not later than 30 March 2027.", None,
         utc(2027, 3, 30, 21, 59, 59)),
    ],
)  # fmt: skip
def test_english_cues(text: str, opens: datetime | None, deadline: datetime | None) -> None:
    found = find_dates(text)
    assert found["opens_at"] == opens
    assert found["deadlines"] == ([deadline] if deadline else [])


def test_review_date_is_not_a_deadline() -> None:
    assert find_dates("Senast granskad: 2022-10-28", default="deadline")["deadlines"] == []


def test_day_range_sharing_a_month() -> None:
    found = find_dates("Klimatklivet är öppet för ansökningar 18–29 september 2023.")
    assert found["opens_at"] == utc(2023, 9, 17, 22, 0)
    assert found["deadlines"] == [utc(2023, 9, 29, 21, 59, 59)]


def test_two_deadlines_in_one_sentence() -> None:
    text = (
        "For small projects, the deadline for submitting the Project Idea Form is 9 March "
        "2022, whereas for the core projects – 15 March 2022."
    )
    assert find_dates(text)["deadlines"] == [
        utc(2022, 3, 9, 22, 59, 59),
        utc(2022, 3, 15, 22, 59, 59),
    ]


def test_meetings_and_grants_are_not_deadlines() -> None:
    text = (
        "I år har LAG-gruppen haft två sammanträden, senast fredagen den 1 mars då tre "
        "projekt beviljades och innan dess 22 januari då två projekt beviljades."
    )
    assert find_dates(text, anchor=utc(2019, 3, 5), default="deadline")["deadlines"] == []


def test_the_projects_end_is_not_a_deadline() -> None:
    assert find_dates("Fram till och med september 2029 kan projekt pågå.")["deadlines"] == []


def test_round_year_anchors_a_yearless_deadline_with_its_time() -> None:
    found = find_dates("Ansökningsomgången 2021 stänger den 19 oktober klockan 12:00.")
    assert found["deadlines"] == [utc(2021, 10, 19, 10, 0)]


def test_a_cue_about_something_else_in_the_sentence_before_does_not_carry_over() -> None:
    text = (
        "Hittills har programmet beviljat 30 projekt samt två förprojekt. "
        "Nästa ansökningsomgång är öppen 23 januari till 17 februari."
    )
    found = find_dates(text, anchor=utc(2016, 10, 3))
    assert found["opens_at"] == utc(2017, 1, 22, 23, 0)
    assert found["deadlines"] == [utc(2017, 2, 17, 22, 59, 59)]


def test_a_bare_between_a_and_b_is_no_application_period() -> None:
    text = (
        "URBACT Action Networks will help you act on these existing plans between "
        "1 November 2026 and 30 April 2029."
    )
    found = find_dates(text)
    assert (found["opens_at"], found["deadlines"]) == (None, [])
    # under a period cue it is one
    found = find_dates("Utlysningen pågick mellan den 12 januari och 8 februari 2024.")
    assert found["deadlines"] == [utc(2024, 2, 8, 22, 59, 59)]
