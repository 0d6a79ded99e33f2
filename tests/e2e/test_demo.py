"""``nlpops demo -c FILE``: trains, registers into FILE's registry, and serves from that same registry."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_support import clean_env, cli_server


@pytest.mark.slow
def test_demo_serves_from_the_registry_of_its_config(tmp_path: Path) -> None:
    team = tmp_path / "team"
    team.mkdir()
    config = team / "nlpops.yaml"
    # word n-grams only: the demo's banking77 model trains in a few seconds
    config.write_text(
        f"registry:\n  home: {team / 'registry'}\nmodel:\n  tfidf:\n    char_ngrams: false\n", encoding="utf-8"
    )
    work = tmp_path / "work"  # no nlpops.yaml here: the default registry would be work/.nlpops
    work.mkdir()
    log = tmp_path / "demo.log"
    with cli_server(["-c", str(config)], clean_env(), log, cwd=work, command="demo", ready_s=600) as url:
        models = httpx.get(f"{url}/v1/models", timeout=30).json()["models"]
        answer = httpx.post(f"{url}/v1/classify", json={"text": "my card has not arrived"}, timeout=30)
    assert [(m["name"], m["version"]) for m in models] == [("banking77", "1")]
    assert answer.status_code == 200 and answer.json()["version"] == "1"
    assert (team / "registry").is_dir() and not (work / ".nlpops").exists()
    assert f"-c {config}" in log.read_text(encoding="utf-8")  # the next steps it prints use the same config
