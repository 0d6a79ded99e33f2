"""PII redaction holds for the forms the review found (dot-separated cards, non-ASCII e-mail domains) and, as
properties, for any valid card number and any e-mail address in any surrounding text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpops.monitor.redact import CARD_TOKEN, EMAIL_TOKEN, PiiRedactor, luhn_valid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("card 4111.1111.1111.1111 was charged", "card <CARD> was charged"),
        ("Amex 3782.822463.10005 please", "Amex <CARD> please"),
        ("write to jürgen@bücher.de today", "write to <EMAIL> today"),
        ("пишите ivan@почта.рф", "пишите <EMAIL>"),
        ("mail 太郎@例え.テスト now", "mail <EMAIL> now"),
        ("punycode a@xn--bcher-kva.xn--p1ai.", "punycode <EMAIL>."),
    ],
)
def test_redactor_catches_what_the_review_found(text: str, expected: str) -> None:
    assert PiiRedactor().redact(text) == expected


@pytest.mark.parametrize("text", ["top up 1234.5678 euros", "version 1.2.3.4", "ip 192.168.100.200", "pi 3.14159"])
def test_dots_alone_do_not_make_numbers_cards(text: str) -> None:
    assert CARD_TOKEN not in PiiRedactor().redact(text)


def _luhn_complete(digits: str) -> str:
    for check in "0123456789":
        if luhn_valid(digits + check):
            return digits + check
    raise AssertionError("unreachable")


_CARD = st.builds(_luhn_complete, st.text("0123456789", min_size=12, max_size=18).filter(lambda d: d[0] != "0"))
_SEPARATOR = st.sampled_from(["", " ", "-", "."])
_FILLER = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Nd")).filter(str.isalpha), max_size=20)


def _grouped(number: str, separator: str) -> str:
    return separator.join(number[i : i + 4] for i in range(0, len(number), 4))


@settings(max_examples=300, deadline=None)
@given(number=_CARD, separator=_SEPARATOR, before=_FILLER, after=_FILLER)
def test_any_valid_card_number_is_redacted(number: str, separator: str, before: str, after: str) -> None:
    text = f"{before} {_grouped(number, separator)} {after}"
    redacted = PiiRedactor().redact(text)
    assert CARD_TOKEN in redacted and number not in redacted.replace(separator or " ", "")


_LOCAL = st.text("abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=12).filter(
    lambda s: s[0].isalnum() and s[-1].isalnum()
)
_LABEL = st.text(
    st.characters(codec="utf-8", categories=("Ll", "Lu", "Lo")) | st.sampled_from(list("abcxyz0123456789")),
    min_size=1,
    max_size=10,
)
_TLD = st.text(st.characters(codec="utf-8", categories=("Ll", "Lo")), min_size=2, max_size=6)


@settings(max_examples=300, deadline=None)
@given(local=_LOCAL, labels=st.lists(_LABEL, min_size=1, max_size=3), tld=_TLD, before=_FILLER)
def test_any_email_address_is_redacted(local: str, labels: list[str], tld: str, before: str) -> None:
    address = f"{local}@{'.'.join(labels)}.{tld}"
    redacted = PiiRedactor().redact(f"{before} {address} thanks")
    assert redacted == f"{before} {EMAIL_TOKEN} thanks"


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80))
def test_redaction_is_idempotent_and_total(text: str) -> None:
    redactor = PiiRedactor()
    once = redactor.redact(text)
    assert redactor.redact(once) == once
    if "@" not in text and not any(c.isdigit() for c in text):
        assert once == text
