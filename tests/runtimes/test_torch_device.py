"""The torch runtime's device: CPU everywhere, the GPU where PyTorch sees one (tests marked ``gpu``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlpops.errors import RuntimeLoadError
from nlpops.runtimes import load_predictor

torch = pytest.importorskip("torch", reason='needs pip install "nlpops[transformer]"')
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to PyTorch here")


@pytest.fixture(scope="module")
def transformer_bundle(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from nlpops.testing.conformance import tiny_transformer_bundle

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NLPOPS_TORCH__DEVICE", "cpu")  # train on the CPU: the reference
        return tiny_transformer_bundle(tmp_path_factory.mktemp("tiny") / "bundle")


def test_torch_device_cpu_and_bad_values(transformer_bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NLPOPS_TORCH__DEVICE", "cpu")
    assert load_predictor(transformer_bundle).device == "cpu"  # type: ignore[attr-defined]
    monkeypatch.setenv("NLPOPS_TORCH__DEVICE", "tpu")
    with pytest.raises(RuntimeLoadError, match="is not a device"):
        load_predictor(transformer_bundle)
    if not torch.cuda.is_available():
        monkeypatch.setenv("NLPOPS_TORCH__DEVICE", "cuda")
        with pytest.raises(RuntimeLoadError, match="sees no CUDA GPU"):
            load_predictor(transformer_bundle)


@pytest.mark.gpu
@needs_gpu
def test_torch_runtime_on_gpu_matches_cpu(transformer_bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [*list(transformer_bundle.manifest.reference["texts"]), "a much longer text " * 40]
    monkeypatch.setenv("NLPOPS_TORCH__DEVICE", "cpu")
    on_cpu = load_predictor(transformer_bundle)
    monkeypatch.setenv("NLPOPS_TORCH__DEVICE", "auto")
    on_gpu = load_predictor(transformer_bundle)
    assert on_gpu.device.startswith("cuda")  # type: ignore[attr-defined]
    np.testing.assert_allclose(on_gpu.predict_proba(texts), on_cpu.predict_proba(texts), atol=1e-4)
    assert [label for label, _ in on_gpu.predict(texts)] == [label for label, _ in on_cpu.predict(texts)]


@pytest.mark.gpu
@needs_gpu
def test_transformer_family_trains_and_fine_tunes_on_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nlpops.testing.conformance import tiny_transformer_bundle

    monkeypatch.setenv("NLPOPS_TORCH__DEVICE", "cuda")
    bundle = tiny_transformer_bundle(tmp_path / "ft", fine_tune=True, epochs=2)
    predictor = load_predictor(bundle)
    assert predictor.device.startswith("cuda")  # type: ignore[attr-defined]
    proba = predictor.predict_proba(["my card is lost", "refund the fee"])
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1.0)


@pytest.mark.gpu
@needs_gpu
def test_profile_reports_the_gpu_used(transformer_bundle) -> None:
    from nlpops.profile import profile_bundle

    report = profile_bundle(transformer_bundle.path, batch_sizes=(1, 8), budget_s=2.0)
    assert report["gpu"] == {"present": True, "used": True}
