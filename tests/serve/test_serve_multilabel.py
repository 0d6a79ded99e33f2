"""A multi-label model behind the service: /v1/classify answers every label above its threshold (equal to the
in-process predictions), another task's endpoint answers 409, and a hot swap between two multi-label versions
under load fails no request."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from serve_support import live_server

from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.registry import SqliteRegistry
from nlpops.runtimes import load_predictor
from nlpops.serve import build_app, bundle_source, load_model, registry_source
from nlpops.testing import TINY_MULTILABEL_TEXTS, tiny_multilabel_bundle

TEXTS = [t for t, _ in TINY_MULTILABEL_TEXTS] + ["zzz nothing known here", "card", "URGENT!!! money money"]


@pytest.fixture(scope="module")
def multilabel_bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Bundle, Bundle]:
    folder = tmp_path_factory.mktemp("multilabel")
    return (
        tiny_multilabel_bundle(folder / "a", name="tiny-ml"),
        tiny_multilabel_bundle(folder / "b", name="tiny-ml", c=0.5),
    )


def test_multilabel_served_answers_equal_in_process_predictions(multilabel_bundles: tuple[Bundle, Bundle]) -> None:
    bundle = multilabel_bundles[0]
    predictor = load_predictor(bundle.path)
    app = build_app(bundle_source(bundle.path), ServingSettings(), MonitoringSettings(), follow=False)
    with live_server(app) as url:
        answer = httpx.post(f"{url}/v1/classify", json={"texts": TEXTS, "return_scores": True}, timeout=60).json()
        one = httpx.post(f"{url}/v1/classify", json={"text": TEXTS[5]}, timeout=60).json()
        models = httpx.get(f"{url}/v1/models", timeout=60).json()
        wrong = httpx.post(f"{url}/v1/entities", json={"text": "card"}, timeout=60)
        metrics = httpx.get(f"{url}/metrics", timeout=60).text
    expected = predictor.predict_labels(TEXTS)
    proba = predictor.predict_proba(TEXTS)
    served = [[(x["label"], x["score"]) for x in p["labels"]] for p in answer["predictions"]]
    assert served == expected  # the same labels, most probable first, with the same scores
    assert any(len(labels) > 1 for labels in served)
    for row, prediction in enumerate(answer["predictions"]):
        assert prediction["scores"] == dict(zip(predictor.labels, proba[row].tolist(), strict=True))
        assert set(prediction) == {"labels", "scores", "lang"}
    assert [(x["label"], x["score"]) for x in one["predictions"][0]["labels"]] == expected[5]
    assert "scores" not in one["predictions"][0]
    assert models["models"][0]["task"] == "multilabel"
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "wrong_task"
    assert "is a multilabel model. Send it to /v1/classify." in wrong.json()["error"]["message"]
    # every label above its threshold is counted once per text
    counted = {
        label: float(n)
        for label, n in re.findall(r'nlpops_predictions_total\{label="(\w+)",model="tiny-ml"\} (\S+)', metrics)
    }
    per_label = {label: 0.0 for label in predictor.labels}
    for labels in [*expected, expected[5]]:
        for label, _ in labels:
            per_label[label] += 1
    assert counted == {label: n for label, n in per_label.items() if n}


def test_multilabel_hot_swap_under_load_fails_no_request(
    tmp_path: Path, multilabel_bundles: tuple[Bundle, Bundle]
) -> None:
    registry = SqliteRegistry(tmp_path / "registry")
    versions = [registry.register(multilabel_bundles[i % 2].path).version for i in range(6)]
    registry.promote("tiny-ml", versions[0])
    source = registry_source(registry, "tiny-ml", "production")
    app = build_app(
        source, ServingSettings(poll_interval_s=0.05), MonitoringSettings(), follow=True, initial=load_model(source())
    )
    expected = {
        str(version): load_predictor(multilabel_bundles[i % 2].path).predict_labels(TEXTS[:4])
        for i, version in enumerate(versions)
    }

    async def scenario(url: str) -> tuple[list[str], list[list[int]]]:
        stop = asyncio.Event()
        problems: list[str] = []
        seen: list[list[int]] = [[] for _ in range(16)]

        async def client(worker: int, http: httpx.AsyncClient) -> None:
            while not stop.is_set():
                response = await http.post(f"{url}/v1/classify", json={"texts": TEXTS[:4]})
                if response.status_code != 200:
                    problems.append(f"HTTP {response.status_code}: {response.text}")
                    continue
                document = response.json()
                labels = [[(x["label"], x["score"]) for x in p["labels"]] for p in document["predictions"]]
                if labels != expected[document["version"]]:
                    problems.append(f"version {document['version']} answered {labels}")
                seen[worker].append(int(document["version"]))

        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=32)) as http:
            load = [asyncio.create_task(client(w, http)) for w in range(16)]
            while not any(seen) and not problems:
                await asyncio.sleep(0.01)
            for version in versions[1:]:
                await asyncio.to_thread(registry.promote, "tiny-ml", version)
                while not any(per_client and per_client[-1] == version for per_client in seen) and not problems:
                    await asyncio.sleep(0.02)
            stop.set()
            await asyncio.gather(*load)
        return problems, seen

    with live_server(app) as url:
        problems, seen = asyncio.run(scenario(url))
        metrics = httpx.get(f"{url}/metrics").text
    assert problems == []
    for per_client in seen:
        assert per_client == sorted(per_client)
    assert {v for per_client in seen for v in per_client} >= {versions[0], versions[-1]}
    assert 'nlpops_model_swaps_total{model="tiny-ml"} 5.0' in metrics
