"""PII redaction before anything is logged or stored: emails, phone numbers, IBANs, payment card numbers.

Card numbers (digits grouped by spaces, dashes or dots) are redacted only when they pass the Luhn check
and IBANs only when they pass the ISO 13616 mod-97 check, so order numbers and amounts stay readable. E-mail
domains may be internationalised (``jürgen@bücher.de``, ``ivan@почта.рф``, punycode ``xn--`` labels).
Phone numbers need 8-15 digits and a phone-like shape (8-15 digits after a leading ``+``/``00``, else 9-15
digits that are not a date).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

EMAIL_TOKEN = "<EMAIL>"
PHONE_TOKEN = "<PHONE>"
IBAN_TOKEN = "<IBAN>"
CARD_TOKEN = "<CARD>"

# domain labels: letters and digits of any script and "-"; the top-level label is letters (any script) or punycode
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.(?:[^\W\d_]{2,}|xn--[A-Za-z0-9-]+)(?![\w-])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,64}(?![A-Za-z0-9])")
# a dot only between digits and not before a decimal part: "4111.1111.1111.1111" is a card, "1234.56" is not
_CARD = re.compile(r"(?<![\d.-])\d(?:[ .-]?\d){12,18}(?![\d-]|\.\d)")
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d\s().-]{6,}\d(?![\w])")
_NON_DIGIT = re.compile(r"\D")
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum (payment card numbers).

    Args:
        digits: only the digits of the candidate number.

    Returns:
        True when the checksum is valid.
    """
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """Whether ``candidate`` (spaces and dashes allowed) is an IBAN with a valid ISO 13616 mod-97 checksum.

    Args:
        candidate: the text that looks like an IBAN.

    Returns:
        True when the length (15-34) and the checksum are valid.
    """
    compact = re.sub(r"[ -]", "", candidate).upper()
    if not 15 <= len(compact) <= 34 or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged)
    return int(number) % 97 == 1


def _redact_iban(match: re.Match[str]) -> str:
    # The pattern may run on into following capitals or digits; keep the longest valid prefix of groups.
    parts = match.group(0).split(" ")
    for end in range(len(parts), 0, -1):
        if iban_valid("".join(parts[:end])):
            rest = " ".join(parts[end:])
            return IBAN_TOKEN + (" " + _IBAN.sub(_redact_iban, rest) if rest else "")
    return match.group(0)


def _redact_card(match: re.Match[str]) -> str:
    digits = _NON_DIGIT.sub("", match.group(0))
    return CARD_TOKEN if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def _redact_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = _NON_DIGIT.sub("", text)
    if not 8 <= len(digits) <= 15:
        return text
    if text.startswith(("+", "00")):
        return PHONE_TOKEN
    if len(digits) < 9 or _DATE.fullmatch(text.strip()):
        return text
    return PHONE_TOKEN


class PiiRedactor:
    """Replaces emails, phone numbers, IBANs and card numbers in texts with ``<EMAIL>``, ``<PHONE>``, ...

    Args:
        emails: redact email addresses.
        phones: redact phone numbers.
        ibans: redact IBANs with a valid checksum.
        cards: redact payment card numbers with a valid Luhn checksum.
    """

    def __init__(self, *, emails: bool = True, phones: bool = True, ibans: bool = True, cards: bool = True) -> None:
        self.emails = emails
        self.phones = phones
        self.ibans = ibans
        self.cards = cards

    def redact(self, text: str) -> str:
        """The text with every enabled kind of PII replaced by its token.

        Args:
            text: one text.

        Returns:
            The redacted text (unchanged when it holds no PII).
        """
        if self.emails and "@" in text:
            text = _EMAIL.sub(EMAIL_TOKEN, text)
        if self.ibans:
            text = _IBAN.sub(_redact_iban, text)
        if self.cards:
            text = _CARD.sub(_redact_card, text)
        if self.phones:
            text = _PHONE.sub(_redact_phone, text)
        return text

    def redact_all(self, texts: Sequence[str]) -> list[str]:
        """:meth:`redact` applied to every text.

        Args:
            texts: the texts.

        Returns:
            The redacted texts, in order.
        """
        return [self.redact(text) for text in texts]

    def __call__(self, text: str) -> str:
        return self.redact(text)


__all__ = ["CARD_TOKEN", "EMAIL_TOKEN", "IBAN_TOKEN", "PHONE_TOKEN", "PiiRedactor", "iban_valid", "luhn_valid"]
