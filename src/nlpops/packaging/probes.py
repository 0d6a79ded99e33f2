"""Built-in probe texts: what packaging checks parity on when no reference data is given.

Short and long, several scripts, accents, emoji, odd whitespace, an empty string and a text longer than
any common tokenizer limit (so truncation is checked too).
"""

from __future__ import annotations

PROBE_TEXTS: tuple[str, ...] = (
    "my card has not arrived yet",
    "What is the exchange rate for euros today?",
    "I was charged twice for the same payment!!",
    "refund",
    "",
    "   leading and trailing spaces   ",
    "tabs\tand\nnew lines",
    "Héllo Wörld, naïve café façade",
    "Der Zug hat zehn Minuten Verspätung.",
    "Le colis est arrivé en retard et abîmé.",
    "El pedido llegó tarde y sin factura.",
    "日本語のテキストも分類できますか",
    "Это сообщение написано по-русски.",
    "great service 😀👍 thanks",
    "URGENT: call +44 20 7946 0958 or email help@example.com NOW",
    "don't re-use e-mail addresses, it's a no-no",
    "1234567890 0.5 42% $19.99",
    "a",
    "The quick brown fox jumps over the lazy dog. " * 3,
    "word " * 700,
)

__all__ = ["PROBE_TEXTS"]
