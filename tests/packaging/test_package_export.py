"""``nlpops export`` on a packaged Hugging Face classifier: the whole model (head included) in one ONNX graph."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx

from nlpops.data import Dataset
from nlpops.export import export_bundle
from nlpops.runtimes import load_predictor
from nlpops.testing import check_predictor

SERVE_TESTS = Path(__file__).resolve().parents[1] / "serve"
HEAVY = ("torch", "transformers", "sklearn", "spacy", "thinc", "skops")


def test_export_packaged_hf_classifier_is_one_graph_with_its_head(
    packaged, intents_test: Dataset, tmp_path: Path
) -> None:
    source = packaged("hf_tiny_folder").bundle
    result = export_bundle(source, tmp_path / "onnx")
    graph = onnx.load(str(result.bundle.path / "model.onnx")).graph
    assert [o.name for o in graph.output] == ["logits"]
    assert sorted(result.bundle.manifest.files) == ["model.onnx", "tokenizer.json"]  # no head.npz: it is in the graph
    assert result.parity.texts == len(source.manifest.reference["texts"]) and result.parity.agreement == 1.0
    assert result.bundle.manifest.package == source.manifest.package  # where it came from stays recorded
    exported = check_predictor(load_predictor(result.bundle), intents_test.texts)
    torch_proba = load_predictor(source).predict_proba(intents_test.texts)
    np.testing.assert_allclose(exported, torch_proba, atol=1e-4)  # float32 arithmetic of two engines


def test_export_packaged_hf_classifier_int8_serves_without_heavy_frameworks(packaged, tmp_path: Path) -> None:
    # force: int8 flips a few labels of a random model's near ties; the gate is checked on the fine-tuned MiniLM
    int8 = export_bundle(packaged("hf_tiny_folder").bundle, tmp_path / "int8", quantize="int8", force=True).bundle
    assert int8.manifest.runtime_options["quantized"] == "int8"
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(SERVE_TESTS)!r})\n"
        "import httpx\n"
        "from serve_support import live_server, make_app\n"
        f"with live_server(make_app({str(int8.path)!r})) as url:\n"
        "    answer = httpx.post(url + '/v1/classify', json={'texts': ['my card has not arrived', 'rates?']}).json()\n"
        "print(json.dumps({'answer': answer, 'modules': sorted({m.split('.')[0] for m in sys.modules})}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result["answer"]["predictions"]) == 2
    assert [m for m in HEAVY if m in result["modules"]] == [] and "onnxruntime" in result["modules"]
