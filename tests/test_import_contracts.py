"""The import-linter contracts of pyproject.toml stop the removed import circles from coming back.

A copy of the package gets the imports the contracts forbid (the old ``cli/core`` <-> ``cli/serve`` and
``batch/job`` <-> ``batch/ray_engine`` circles, a front end importing another, the core importing a front end);
``lint-imports`` must name every one of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = [
    ("nlpops.cli.serve", "nlpops.cli.core"),
    ("nlpops.cli.core", "nlpops.cli.serve"),
    ("nlpops.cli.options", "nlpops.cli.core"),
    ("nlpops.batch.ray_engine", "nlpops.batch.job"),
    ("nlpops.batch.local_engine", "nlpops.batch.ray_engine"),
    ("nlpops.batch.options", "nlpops.batch.local_engine"),
    ("nlpops.serve.ray", "nlpops.serve.app"),
    ("nlpops.serve.core", "nlpops.serve.ray"),
]


def _lint_imports(src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [
        str(Path(sys.executable).parent / "lint-imports"),
        "--config",
        str(ROOT / "pyproject.toml"),
        "--no-cache",
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=src, timeout=300)


def test_import_contracts_forbid_the_removed_circles(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "nlpops", src / "nlpops", ignore=shutil.ignore_patterns("__pycache__", "datasets"))
    for importer, imported in FORBIDDEN:
        module = src / Path(*importer.split(".")).with_suffix(".py")
        with module.open("a", encoding="utf-8") as out:
            out.write(f"\nimport {imported}  # noqa: E402\n")
    result = _lint_imports(src)
    assert result.returncode != 0, result.stdout[-3000:]
    for importer, imported in FORBIDDEN:
        assert f"{importer} -> {imported}" in result.stdout, (importer, imported, result.stdout[-3000:])
