"""docs/tasks.md, section "Embedding models", runs as written: each ```bash block in a fresh folder, in order."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"```bash\n(.*?)```", re.S)


def _section_blocks() -> list[str]:
    page = (ROOT / "docs" / "tasks.md").read_text(encoding="utf-8")
    section = page.split("\n## Embedding models\n", 1)[1].split("\n## ", 1)[0]
    return _BLOCK.findall(section)


def test_docs_embedding_section_is_linked_from_the_readme() -> None:
    assert len(_section_blocks()) == 2
    assert "(docs/tasks.md#embedding-models)" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_docs_embedding_section_runs_as_written(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    (tmp_path / "src").symlink_to(ROOT / "src")  # the page names the bundled datasets by their repo paths
    env = {k: v for k, v in os.environ.items() if not k.startswith("NLPOPS_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    outputs = []
    for code in _section_blocks():
        done = subprocess.run(
            ["bash", "-e", "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800
        )
        assert done.returncode == 0, f"{code}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        assert "Traceback" not in done.stderr
        outputs.append(done.stdout)
    assert "nearest-neighbour accuracy" in outputs[0]
    predicted = [json.loads(line) for line in outputs[0].splitlines() if line.startswith("{")]
    assert [p["text"] for p in predicted] == ["my card has not arrived"] and len(predicted[0]["vector"]) == 384
    vectors = np.asarray(pq.read_table(tmp_path / "vectors.parquet").column("vector").to_pylist())
    assert vectors.shape == (513, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    for name in ("minilm", "minilm-int8", "e5", "st"):
        assert (tmp_path / "models" / name / "nlpops-bundle.json").is_file(), name
