"""docs/package.md has one section per source, linked from the README.

Its blocks run as written in tests/test_docs_examples.py (a ```python block whose first line is ``# NAME.py``
is written to that file first), like every other page's.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "package.md"
_BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def sections() -> dict[str, list[tuple[str, str]]]:
    """Section title -> its (language, code) blocks, for sections with something to run."""
    out: dict[str, list[tuple[str, str]]] = {}
    for part in PAGE.read_text(encoding="utf-8").split("\n## ")[1:]:
        title, body = part.split("\n", 1)
        blocks = [(lang, code) for lang, code in _BLOCK.findall(body) if lang in ("python", "bash")]
        if blocks:
            out[title.strip()] = blocks
    return out


def test_docs_package_page_has_one_section_per_source() -> None:
    assert sorted(sections()) == sorted(
        [
            "A Hugging Face classifier",
            "A spaCy pipeline",
            "A scikit-learn pipeline saved with skops",
            "A pickled or joblib scikit-learn pipeline",
            "An ONNX classifier",
            "Multi-label models",
            "Entity models",
        ]
    )
    assert "[Bring your own model](docs/package.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
