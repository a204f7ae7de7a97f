"""The digest's MIME bytes written without EmailMessage (notifications.render.build_mail):
the same headers and parts as the EmailMessage of build_message once parsed, 7-bit clean,
valid line lengths, no header injection, and the email package's folding wherever the
direct path writes a header itself."""

from __future__ import annotations

import email
import email.policy
import random
import re
from email.message import EmailMessage

import pytest

from notifications.example import EXAMPLE_NOW as NOW
from notifications.example import example_config
from notifications.render import _folded, build_mail, build_message, header_line
from notifications.sender import Mail, write_outbox

POLICY = email.policy.default
SETTINGS = example_config().settings

HTML = (
    '<!DOCTYPE html><html lang="sv"><head><meta charset="utf-8"></head><body>\n'
    '<p style="color: #333333; font-size: 15px; margin: 2px 0;">Sista ansökningsdag: '
    "20 januari 2027 kl. 17.00 <span>(58 dagar kvar)</span> "
    + "lång rad "
    * 40
    + "</p>\n<p>4\u00a0000\u00a0000\u00a0€ &amp; =?utf-8?q?x?= =3D</p>\n"
    "  \n.\n-- \nFrom here\n</body></html>\n"
)
TEXT = (
    "BEVAKA · LIDKÖPINGS KOMMUN\nHej Åsa! Här är veckans utlysningar.\n"
    '* Kreativa Europa: "Kultur & samarbete" <små projekt>\n'
    "  https://ec.europa.eu/info/funding-tenders/opportunities/portal/screen/opportunities/topic-details/X\n"
    "trailing space \n\ttab\n.\n-- \n"
)

CASES = [
    # (to_name, to_email, subject, text, html, list_unsubscribe, one_click)
    (
        "Anna Berg",
        "anna.berg@lidkoping.se",
        "Bevaka v. 48: 2 nya utlysningar för Utbildningsförvaltningen",
        TEXT,
        HTML,
        "https://bevaka.lidkoping.se/avregistrera/" + "eyJzIjoxfQ.abc_-" * 8,
        True,
    ),
    ("Åsa Öberg", "asa@lidkoping.se", "Kort", TEXT, HTML, None, False),
    (
        "Berg, Anna (kultur)",
        "anna@lidkoping.se",
        "x" * 300,
        TEXT,
        None,
        "mailto:international@lidkoping.se?subject=Avregistrera%20anna%40lidkoping.se",
        False,
    ),
    (
        None,
        "person0001@lidkoping.se",
        "Utlysning\r\nBcc: evil@example.com\r\n\r\nbody",
        "kort text\n",
        "<p>kort</p>\n",
        "https://x.se/a b\r\nBcc: evil@example.com",
        True,
    ),
    (
        "Person 0001",
        "person0001@lidkoping.se",
        "=?utf-8?q?f=C3=B6r?= Bevaka  v.\t48 \u200b",
        "only ascii and short lines\n",
        "<p>ascii</p>\n",
        "https://x.se/" + "y" * 300,
        True,
    ),
    (
        "\u202eevil\u202c <x@y.se>",
        "p@lidkoping.se",
        "Ändrade: Sista ansökningsdag " * 8,
        "",
        "",
        None,
        False,
    ),
]


def _both(case) -> tuple[EmailMessage, EmailMessage, Mail]:
    to_name, to_email, subject, text, html, unsubscribe, one_click = case
    kwargs = dict(
        settings=SETTINGS,
        to_name=to_name,
        to_email=to_email,
        subject=subject,
        text=text,
        html=html,
        message_id="<bevaka.2026-W48.12.5f2c0a@lidkoping.se>",
        date=NOW,
        list_unsubscribe=unsubscribe,
        one_click=one_click,
    )
    old = build_message(**kwargs)
    mail = build_mail(**kwargs)
    assert mail.data is not None
    new = email.message_from_bytes(mail.data, policy=POLICY)
    reparsed_old = email.message_from_bytes(old.as_bytes(policy=email.policy.SMTP), policy=POLICY)
    return reparsed_old, new, mail


def _parts(message: EmailMessage) -> list[tuple[str, str]]:
    return [(p.get_content_type(), p.get_content()) for p in message.walk() if not p.is_multipart()]


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_the_same_message_as_build_message_once_parsed(case):
    old, new, mail = _both(case)
    assert not [p.defects for p in new.walk() if p.defects]
    assert [(k, str(v)) for k, v in new.items() if k != "Content-Type"] == [
        (k, str(v))
        for k, v in old.items()
        if k not in ("Content-Type", "Content-Transfer-Encoding")
    ] + (
        []
        if new.is_multipart()
        else [("Content-Transfer-Encoding", str(new["Content-Transfer-Encoding"]))]
    )
    assert new.get_content_type() == old.get_content_type()
    assert _parts(new) == _parts(old)
    assert mail.recipients == (case[1],) and mail.sender == "bevaka@lidkoping.se"
    assert mail.message_id == "<bevaka.2026-W48.12.5f2c0a@lidkoping.se>" == new["Message-ID"]


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_seven_bit_lines_and_no_injected_header(case):
    _, new, mail = _both(case)
    assert mail.data.isascii()
    assert b"\n" not in mail.data.replace(b"\r\n", b"") and b"\r" not in mail.data.replace(
        b"\r\n", b""
    )
    head, _, body = mail.data.partition(b"\r\n\r\n")
    assert all(len(line) <= 998 for line in mail.data.split(b"\r\n"))
    names = [k.lower() for k in new]
    assert "bcc" not in names and names.count("subject") == 1 and names.count("to") == 1
    assert not [line for line in head.split(b"\r\n") if line.lower().startswith(b"bcc")]
    assert all("\r" not in str(v) and "\n" not in str(v) for v in new.values())
    for part in new.walk():
        if part.get("Content-Transfer-Encoding") == "quoted-printable":
            raw = part.as_bytes(policy=email.policy.SMTP).partition(b"\r\n\r\n")[2]
            assert all(len(line) <= 76 for line in raw.split(b"\r\n"))


def test_list_unsubscribe_is_a_plain_uri_never_encoded_words():
    _, new, mail = _both(CASES[0])
    [line] = [ln for ln in mail.data.split(b"\r\n") if ln.startswith(b"List-Unsubscribe:")]
    assert line == b"List-Unsubscribe: <" + CASES[0][5].encode() + b">"
    assert b"=?" not in line and len(line) > 78
    # the email package itself would have written RFC 2047 words for this long URI
    assert b"=?utf-8?" in _folded("List-Unsubscribe", f"<{CASES[0][5]}>")
    assert new["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def _words(rng: random.Random) -> str:
    alphabet = "abcXYZ019.-_@<>()\",:;=?!#'/ "
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 90)))


@pytest.mark.parametrize(
    "name",
    ["Subject", "To", "From", "Reply-To", "Message-ID", "Auto-Submitted", "List-Unsubscribe-Post"],
)
def test_header_line_writes_what_the_email_package_writes(name):
    rng = random.Random(name)
    values = [
        "Bevaka <bevaka@lidkoping.se>",
        "Person 0001 <person0001@lidkoping.se>",
        "anna.berg@lidkoping.se",
        "<bevaka.2026-W48.12.5f2c@lidkoping.se>",
        "Bevaka v. 48: 2 nya utlysningar",
        "auto-generated",
        "a  b",
        " leading",
        "x =?utf-8?q?a?= y",
        "a.@b.se",
        "Anna B. Berg <a@b.se>",
        *(_words(rng) for _ in range(400)),
    ]
    for value in values:
        try:
            expected = _folded(name, value)
        except Exception:  # a value the email package refuses
            continue
        assert header_line(name, value) == expected, value


def test_header_line_refuses_line_breaks():
    for value in ("a\r\nBcc: x@y.se", "a\nb", "a\rb"):
        with pytest.raises(ValueError):
            header_line("Subject", value)


@pytest.mark.parametrize("to_name", [None, "Åsa Öberg", 'Åsa "kontakt" Öberg'])
def test_an_address_that_needs_smtputf8_falls_back_to_email_message(tmp_path, to_name):
    mail = build_mail(
        settings=SETTINGS,
        to_name=to_name,
        to_email="åsa@lidkoping.se",
        subject="Hej",
        text="hej\n",
        html="<p>hej</p>\n",
        message_id="<a@lidkoping.se>",
        date=NOW,
    )
    assert mail.data is None and isinstance(mail.message, EmailMessage)
    assert mail.recipients == ("åsa@lidkoping.se",)
    eml = write_outbox(tmp_path, mail, stem="utf8")
    parsed = email.message_from_bytes(eml.read_bytes(), policy=POLICY)
    assert parsed["Subject"] == "Hej"
    (to,) = parsed["To"].addresses
    assert (to.display_name, to.addr_spec) == (to_name or "", "åsa@lidkoping.se")


def test_write_outbox_writes_the_bytes_and_the_html(tmp_path):
    _, _, mail = _both(CASES[0])
    eml = write_outbox(tmp_path, mail, stem="a")
    assert eml.read_bytes() == mail.data
    html = (tmp_path / "a.html").read_text(encoding="utf-8")
    assert html == HTML and re.search(r"lång rad", html)


def _body_of(mail: Mail) -> bytes:
    """The message without its (random) boundary."""
    boundary = re.search(rb'boundary="([^"]+)"', mail.data)
    return mail.data.replace(boundary.group(1), b"B") if boundary else mail.data


@pytest.mark.parametrize(
    "parts",
    [
        ("<p>a</p>\n", "", "<p>b ", "\n", ".\n", "trailing \n", "Åsa " * 40 + "\n", "end"),
        ("ascii\n", "short\n"),
        ("ascii\r\n", "then långt " * 20 + "\r\n", "\n", "x =\n"),
        ("", ""),
        ("no line end in the middle", " of a line\n"),
    ],
)
def test_a_body_in_parts_is_encoded_as_the_whole(parts):
    def mail(text, html):
        return build_mail(
            settings=SETTINGS,
            to_name=None,
            to_email="a@lidkoping.se",
            subject="x",
            text=text,
            html=html,
            message_id="<a@lidkoping.se>",
            date=NOW,
        )

    whole = "".join(parts)
    assert _body_of(mail(parts, parts)) == _body_of(mail(whole, whole))
    assert _body_of(mail(parts, None)) == _body_of(mail(whole, None))


@pytest.mark.parametrize("who", ["anna", "coordinator"])
def test_entries_rendered_once_give_the_whole_document(session, world, who):
    from notifications.digest import build_digest
    from notifications.render import _INLINER, _css, _environment, render_digest
    from storage.models import Subscriber

    config = example_config()
    subscriber = session.get(Subscriber, world[who])
    digest = build_digest(session=session, config=config, subscriber=subscriber, now=NOW)
    rendered = render_digest(digest)
    env = _environment(config.settings.timezone)
    whole_html = _INLINER.inline(env.get_template("digest.html").render(digest=digest, css=_css()))
    whole_text = env.get_template("digest.txt").render(digest=digest)
    entries = sum(len(s.entries) for s in digest.sections)
    assert entries >= 3
    slots = sum(1 for s in digest.sections if s.entries)
    # woven: the outer parts (one more than the sections with entries) and three parts per
    # entry: before the subscriber's action links, the links, after them (in the text, also
    # the empty line before it)
    assert digest.call_tokens and set(digest.call_tokens) == set(digest.call_ids)
    assert len(rendered.html_parts) == slots + 1 + 3 * entries
    assert len(rendered.text_parts) == slots + 1 + 4 * entries
    assert rendered.html == "".join(rendered.html_parts) == whole_html
    assert rendered.text == "".join(rendered.text_parts) == whole_text
    again = render_digest(digest)  # from the remembered entries
    assert again == rendered
    # the body is encoded part by part (each entry's encoding is remembered), not as a whole
    from notifications.render import _encode_body, _encoded_part

    _encoded_part.cache_clear()
    _encode_body(rendered.html_parts)
    assert _encoded_part.cache_info().currsize == len({p for p in rendered.html_parts if p}) > 1


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("Anna Berg", "anna.berg@lidkoping.se"),
        ("Person 0001", "person0001@lidkoping.se"),
        ("Åsa Öberg", "asa@lidkoping.se"),
        ("Berg, Anna", "anna@lidkoping.se"),
        ("Anna B. Berg", "a.b@x.se"),
        (None, "anna.berg@lidkoping.se"),
        ("Anna", "first.last+tag@sub.lidkoping.se"),
    ],
)
def test_mailbox_and_recipients_shortcuts_match_the_email_package(name, address):
    from email.headerregistry import Address
    from email.utils import getaddresses

    from notifications.render import _mailbox, _recipients_of

    to = _mailbox(name, address)
    assert to == (str(Address(display_name=name, addr_spec=address)) if name else address)
    assert _recipients_of(to) == tuple(a for _, a in getaddresses([to]) if a) == (address,)
