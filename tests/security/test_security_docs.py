"""docs/security.md is linked from the README and names every setting that bounds what others can do."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = [
    "serving.host",
    "serving.api_keys",
    "serving.protect_metrics",
    "serving.max_body_bytes",
    "serving.max_texts_per_request",
    "serving.max_chars_per_text",
    "serving.max_queue",
    "serving.max_connections",
    "serving.header_timeout_s",
    "serving.keep_alive_timeout_s",
    "monitoring.log_payloads",
    "monitoring.pii_redaction",
    "monitoring.store_texts",
]


def test_security_page_is_linked_and_names_every_bounding_setting() -> None:
    assert "(docs/security.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    page = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    assert "## Threat model" in page and "nlpops registry rebuild" in page
    assert [s for s in SETTINGS if f"`{s}`" not in page] == []
