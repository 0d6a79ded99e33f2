"""An embedding service in the plan: the profile records the vector size, and the capacity arithmetic states the
payload each answered text costs (float32, base64, JSON numbers at most) and the egress at peak."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from nlpops.advisor import RuleBook, make_plan
from nlpops.checklist import NlpopsConfig
from nlpops.profile import profile_bundle
from nlpops.testing import tiny_embedding_bundle


@pytest.fixture(scope="module")
def embedding_profile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    bundle = tiny_embedding_bundle(tmp_path_factory.mktemp("emb") / "bundle")
    quick = {
        "budget_s": 0.3,
        "batch_sizes": (1, 8),
        "repeats": 2,
        "threads": 1,
        "runtimes": ("native-cpu", "onnx-int8-cpu"),
    }
    return profile_bundle(bundle.path, **quick)  # type: ignore[arg-type]


def test_profile_of_an_embedding_bundle_records_its_vector_size(embedding_profile: dict[str, Any]) -> None:
    assert embedding_profile["bundle"]["task"] == "embedding" and embedding_profile["bundle"]["dim"] == 32
    for runtime in ("native-cpu", "onnx-int8-cpu"):  # the int8 graph is exported (with its parity) and measured
        measured = embedding_profile["runtimes"][runtime]
        assert measured["status"] == "measured", measured
        assert measured["threads"]["1"]["throughput"][0]["texts_per_s"] > 0


def test_plan_of_an_embedding_service_counts_the_vector_payload(
    embedding_profile: dict[str, Any], rules: RuleBook
) -> None:
    config = NlpopsConfig.model_validate(
        {"model": {"family": "transformer", "task": "embedding"}, "traffic": {"peak_rps": 50, "average_rps": 10}}
    )
    capacity = make_plan(config, embedding_profile, rules)["capacity"]
    assert capacity["sized"], capacity
    payload = capacity["payload"]
    peak = capacity["peak_texts_per_s"]
    assert (payload["dim"], payload["float32_bytes"], payload["base64_bytes"]) == (32, 128, 4 * math.ceil(128 / 3))
    assert payload["json_bytes_max"] == 32 * 16
    assert payload["peak_base64_mb_per_s"] == pytest.approx(peak * payload["base64_bytes"] / 1e6, abs=1e-4)
    line = next(x for x in capacity["arithmetic"] if x.startswith("payload:"))
    assert "a 32-d vector per text = 128 bytes of float32, 172 in base64" in line


def test_plan_of_a_classifier_has_no_payload_line(tmp_path: Path, rules: RuleBook) -> None:
    from advisor_fixtures import read_profile

    config = NlpopsConfig.model_validate({"traffic": {"peak_rps": 50, "average_rps": 10}})
    capacity = make_plan(config, read_profile("tfidf_small.json"), rules)["capacity"]
    assert "payload" not in capacity and not any(x.startswith("payload:") for x in capacity["arithmetic"])
