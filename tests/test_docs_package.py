"""docs/package.md runs as written: each section's files are written and its commands run in a fresh folder.

A ```python block whose first line is ``# NAME.py`` is that file; each ```bash block runs with ``bash -e``
(the virtualenv's ``python`` and ``nlpops`` first on PATH); ```text blocks are not run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "package.md"
_BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)
SLOW_SECTIONS = {"A Hugging Face classifier", "Entity models"}


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


@pytest.mark.parametrize(
    "title", [pytest.param(t, marks=pytest.mark.slow) if t in SLOW_SECTIONS else t for t in sorted(sections())]
)
def test_docs_package_section_runs_as_written(title: str, tmp_path: Path) -> None:
    (tmp_path / "src").symlink_to(ROOT / "src")  # the page names the bundled datasets by their repo paths
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for lang, code in sections()[title]:
        if lang == "python":
            name = code.splitlines()[0].removeprefix("# ").split(":")[0].strip()
            assert name.endswith(".py"), f"a python block must start with '# NAME.py': {code[:60]}"
            (tmp_path / name).write_text(code, encoding="utf-8")
            continue
        done = subprocess.run(
            ["bash", "-e", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200
        )
        assert done.returncode == 0, f"{title}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr
