"""The packaged fine-tuned MiniLM classifier, end to end: parity, HTTP, batch, int8 ONNX without PyTorch, retrain."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from package_support import library_proba

import nlpops
from nlpops.batch import BatchOptions, run_batch
from nlpops.checklist import NlpopsConfig, RegistrySettings
from nlpops.data import Dataset
from nlpops.export import export_bundle
from nlpops.packaging import PARITY_ATOL
from nlpops.registry import open_registry
from nlpops.retrain import retrain
from nlpops.runtimes import load_predictor
from nlpops.testing import check_predictor

SERVE_TESTS = Path(__file__).resolve().parents[1] / "serve"
sys.path.insert(0, str(SERVE_TESTS))
from serve_support import live_server, make_app  # noqa: E402

pytestmark = pytest.mark.slow
HEAVY = ("torch", "transformers", "sklearn", "spacy", "thinc", "skops")


@pytest.fixture(scope="module")
def minilm_bundle(minilm_folder: Path, intents_train: Dataset, intents_test: Dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("minilm-bundle") / "bundle"
    return nlpops.package(minilm_folder, name="intents", out=out, data=intents_train, test=intents_test).bundle


def test_packaged_minilm_answers_like_transformers_over_http_and_in_batch(
    minilm_bundle, minilm_folder: Path, intents_test: Dataset, tmp_path: Path
) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    labels = minilm_bundle.manifest.labels
    texts = intents_test.texts
    expected = library_proba("minilm_folder", minilm_folder, texts, labels)
    proba = check_predictor(load_predictor(minilm_bundle), texts)
    np.testing.assert_allclose(proba, expected, atol=PARITY_ATOL, rtol=0)
    assert minilm_bundle.manifest.metrics["accuracy"] > 0.5  # 20 steps of fine-tuning learnt something
    with live_server(make_app(minilm_bundle.path)) as url:
        answer = httpx.post(f"{url}/v1/classify", json={"texts": texts, "return_scores": True}, timeout=120).json()
    served = np.array([[p["scores"][label] for label in labels] for p in answer["predictions"]])
    np.testing.assert_allclose(served, expected, atol=PARITY_ATOL, rtol=0)
    source = tmp_path / "in.csv"
    with source.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["text"], *([t] for t in texts)])
    run_batch(minilm_bundle.path, BatchOptions(source, tmp_path / "out.parquet", all_scores=True, workers=1))
    table = pq.read_table(tmp_path / "out.parquet").to_pydict()
    batch = np.array([table[f"score_{label}"] for label in labels]).T
    np.testing.assert_allclose(batch, expected, atol=PARITY_ATOL, rtol=0)


def test_packaged_minilm_int8_onnx_serves_without_torch_transformers_sklearn_spacy(
    minilm_bundle, intents_test: Dataset, tmp_path: Path
) -> None:
    fp32 = export_bundle(minilm_bundle, tmp_path / "fp32")
    int8 = export_bundle(minilm_bundle, tmp_path / "int8", quantize="int8")
    assert fp32.parity.max_abs_proba_diff < 1e-4 and fp32.parity.agreement == 1.0
    assert int8.parity.agreement >= 0.995  # the export's own gate, on the packaged reference texts
    assert int8.bundle.manifest.runtime_options["kind"] == "classifier"
    assert {r.split("==")[0] for r in int8.bundle.manifest.requirements} == {"onnxruntime", "numpy", "tokenizers"}
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(SERVE_TESTS)!r})\n"
        "import httpx\n"
        "from serve_support import live_server, make_app\n"
        f"with live_server(make_app({str(int8.bundle.path)!r})) as url:\n"
        f"    answer = httpx.post(url + '/v1/classify', json={{'texts': {intents_test.texts[:8]!r}}}).json()\n"
        "print(json.dumps({'answer': answer, 'modules': sorted({m.split('.')[0] for m in sys.modules})}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert [m for m in HEAVY if m in result["modules"]] == []
    assert "onnxruntime" in result["modules"]
    served = [p["label"] for p in result["answer"]["predictions"]]
    in_process = [label for label, _ in load_predictor(minilm_bundle).predict(intents_test.texts[:8])]
    assert np.mean([a == b for a, b in zip(served, in_process, strict=True)]) >= 0.875


def test_retrain_packaged_minilm_fine_tunes_from_its_weights_through_the_gates(
    minilm_bundle, intents_train: Dataset, intents_test: Dataset, tmp_path: Path
) -> None:
    registry = open_registry(RegistrySettings(home=tmp_path / "home"))
    champion = registry.register(minilm_bundle.path, "intents")
    registry.promote("intents", champion.version, "production")
    config = NlpopsConfig.model_validate(
        {
            "name": "intents",
            "model": {"family": "tfidf", "transformer": {"epochs": 1, "batch_size": 16, "learning_rate": 2e-5}},
            "retraining": {"min_macro_f1": 0.3, "max_regression": 0.2, "max_latency_regression": 10.0},
        }
    )
    report = retrain(config, intents_train, registry, test=intents_test, out_dir=tmp_path / "models")
    challenger = registry.get("intents", report.challenger.version)
    manifest = load_predictor(challenger.bundle_path).manifest
    assert manifest.runtime == "torch" and manifest.package["source"]["kind"] == "huggingface"  # not the tfidf family
    assert manifest.package["retrained_from"] == {"name": "intents", "version": minilm_bundle.manifest.version}
    assert [g.name for g in report.gates] == ["min_macro_f1", "max_regression", "max_latency_regression"]
    assert report.promoted == all(g.passed for g in report.gates)
    assert registry.alias_target("intents", "production") == (
        report.challenger.version if report.promoted else champion.version
    )
    before = load_predictor(minilm_bundle).predict_proba(intents_test.texts)
    after = load_predictor(challenger.bundle_path).predict_proba(intents_test.texts)
    assert not np.allclose(before, after, atol=1e-4)  # the weights moved
    assert np.mean(before.argmax(1) == after.argmax(1)) >= 0.8  # ... from the packaged ones, not from scratch
