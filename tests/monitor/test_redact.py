"""PII redaction: emails, phones, IBANs and card numbers go; ordinary numbers stay."""

from __future__ import annotations

import pytest

from nlpops.monitor.redact import PiiRedactor, iban_valid, luhn_valid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+bank@example.co.uk today", "write to <EMAIL> today"),
        ("call +44 20 7946 0958 now", "call <PHONE> now"),
        ("call (555) 123-4567 now", "call <PHONE> now"),
        ("my IBAN is GB82 WEST 1234 5698 7654 32.", "my IBAN is <IBAN>."),
        ("IBAN DE89370400440532013000 please", "IBAN <IBAN> please"),
        ("card 4111 1111 1111 1111 was charged", "card <CARD> was charged"),
        ("card 5500-0000-0000-0004 was charged", "card <CARD> was charged"),
    ],
)
def test_redactor_removes_pii(text: str, expected: str) -> None:
    assert PiiRedactor().redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I paid 100 euros on 2024-01-15 for order 12345",
        "card 4111 1111 1111 1112 fails the Luhn check",
        "top up 250.00 please",
    ],
)
def test_redactor_keeps_non_pii(text: str) -> None:
    redacted = PiiRedactor().redact(text)
    assert "<CARD>" not in redacted and "<IBAN>" not in redacted and "<PHONE>" not in redacted


def test_redactor_keeps_invalid_iban_as_iban() -> None:
    assert "<IBAN>" not in PiiRedactor().redact("GB82 WEST 1234 5698 7654 33 has a wrong checksum")


def test_checksums() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and not iban_valid("GB82 WEST 1234 5698 7654 33")


def test_redactor_kinds_can_be_switched_off() -> None:
    assert PiiRedactor(emails=False).redact("a@b.com") == "a@b.com"
