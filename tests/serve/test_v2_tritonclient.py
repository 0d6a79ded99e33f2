"""The Open Inference Protocol with the official client: tritonclient's HTTP client talks to ``nlpops serve``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from serve_support import clean_env, cli_server

from nlpops.bundle import Bundle
from nlpops.data import bundled_dataset, read_dataset

KEY = "triton-key"


@pytest.mark.slow
def test_tritonclient_reads_metadata_and_infers_like_v1_classify(tiny_bundle: Bundle, tmp_path: Path) -> None:
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    texts = read_dataset(bundled_dataset("banking77", "test")).texts[:40]
    env = clean_env(NLPOPS_SERVING__API_KEYS=f'["{KEY}"]')
    name, version = tiny_bundle.manifest.name, tiny_bundle.manifest.version
    with cli_server([str(tiny_bundle.path)], env, tmp_path / "serve.log") as url:
        headers = {"Authorization": f"Bearer {KEY}"}
        client = triton.InferenceServerClient(url.removeprefix("http://"))
        try:
            assert client.is_server_live() and client.is_server_ready()
            assert client.is_model_ready(name, headers=headers)
            assert client.is_model_ready(name, version, headers=headers)
            assert not client.is_model_ready("no-such-model", headers=headers)
            assert not client.is_model_ready(name, headers={"Authorization": "Bearer wrong"})
            metadata = client.get_model_metadata(name, headers=headers)
            assert (metadata["name"], metadata["versions"]) == (name, [version])
            assert metadata["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
            assert client.get_server_metadata()["name"] == "nlpops"

            text = triton.InferInput("text", [len(texts)], "BYTES")
            text.set_data_from_numpy(np.array(texts, dtype=np.object_), binary_data=False)
            outputs = [triton.InferRequestedOutput(n, binary_data=False) for n in ("label", "score", "probabilities")]
            result = client.infer(name, [text], outputs=outputs, headers=headers, request_id="r1")
            default = client.infer(name, [text], model_version=version, headers=headers)  # label and score
            with pytest.raises(InferenceServerException, match="Unknown model"):
                client.infer("no-such-model", [text], headers=headers)
        finally:
            client.close()
        classified = httpx.post(
            f"{url}/v1/classify", json={"texts": texts, "return_scores": True}, headers=headers, timeout=30
        ).json()
    predictions = classified["predictions"]
    labels = [str(label) for label in result.as_numpy("label")]  # JSON BYTES come back as str
    assert labels == [p["label"] for p in predictions]
    assert [str(label) for label in default.as_numpy("label")] == labels
    np.testing.assert_allclose(result.as_numpy("score"), [p["score"] for p in predictions], rtol=1e-6)
    order = json.loads(result.get_output("probabilities")["parameters"]["labels"])
    assert order == json.loads(metadata["properties"]["labels"])  # the columns, as the metadata gives them
    expected = [[p["scores"][label] for label in order] for p in predictions]
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, rtol=1e-6)
    assert result.get_response()["id"] == "r1" and result.get_response()["model_version"] == version
