"""Profiles (schema 2) the advisor tests plan on, written compactly and built into the full layout.

The figures are fixtures, not measurements of this machine: they follow what ``nlpops profile`` measured for
real bundles of each kind on a quiet 2-core machine (TF-IDF on banking77: scikit-learn gains from batching
while ONNX answers single texts faster and loses at large batches; a BERT-base-sized encoder: the int8 ONNX
export about 1.4x faster than PyTorch; MiniLM: small enough for a function package only as int8; a model
set: each language measured on its own), rounded so that plans are easy to check by hand. ``transformer_gpu``
is what a profile taken on a GPU host looks like (the GPU measured there).
"""

from __future__ import annotations

import copy
from typing import Any

MB = 1_000_000
Rows = list[tuple[int, float, float]]  # (batch size, texts/s, batch p95 ms)


def _rows(rows: Rows) -> list[dict[str, Any]]:
    return [
        {
            "batch_size": size,
            "texts_per_s": rate,
            "spread": 0.04,
            "batches": 60,
            "batch_latency_ms": {"p50": p95 * 0.8, "p95": p95, "p99": p95 * 1.2, "mean": p95 * 0.85},
        }
        for size, rate, p95 in rows
    ]


def _threads(p95: float, rows: Rows, rss_mb: float) -> dict[str, Any]:
    return {
        "latency_ms": {
            "p50": p95 * 0.6,
            "p95": p95,
            "p99": p95 * 1.3,
            "mean": p95 * 0.65,
            "samples": 900,
            "rounds": 3,
            "spread": 0.05,
        },
        "throughput": _rows(rows),
        "peak_rss_bytes": int(rss_mb * MB),
        "machine_load": {"background_cpus": 0.02, "loadavg": [0.1, 0.1, 0.1]},
        "cold_start_s": 1.0,
    }


def _scaled(rows: Rows, speedup: float, latency: float) -> Rows:
    return [(size, rate * speedup, p95 * latency) for size, rate, p95 in rows]


def measured(
    runtime: str,
    size_mb: float,
    footprint_mb: float,
    image_mb: float,
    cold_s: float,
    by_threads: dict[int, tuple[float, Rows, float]],
    device: str = "cpu",
) -> dict[str, Any]:
    """A measured runtime entry: ``by_threads[n] = (p95 ms, rows, peak memory MB)``."""
    return {
        "status": "measured",
        "bundle_runtime": runtime,
        "quantized": False,
        "device": device,
        "size_bytes": int(size_mb * MB),
        "footprint": {"bytes": int(footprint_mb * MB), "packages": {}, "missing": []},
        "image_bytes": int(image_mb * MB),
        "cold_start_s": cold_s,
        "load_s": cold_s * 0.8,
        "rss_after_load_bytes": int(min(v[2] for v in by_threads.values()) * 0.9 * MB),
        "model_rss_bytes": int(size_mb * 2 * MB),
        "peak_rss_bytes": int(max(v[2] for v in by_threads.values()) * MB),
        "threads": {str(n): _threads(p95, rows, rss) for n, (p95, rows, rss) in by_threads.items()},
    }


def status(state: str, reason: str) -> dict[str, Any]:
    return {"status": state, "reason": reason}


NO_GPU_HERE = "no GPU on this machine: GPU figures are unmeasured (profile on the GPU host to size GPU replicas)"

_SK = [(1, 600.0, 2.2), (8, 2500.0, 4.2), (32, 5000.0, 8.3), (128, 8000.0, 20.8)]
_OX = [(1, 1600.0, 0.8), (8, 2200.0, 4.6), (32, 2000.0, 19.0), (128, 1500.0, 100.0)]
_TFIDF = {
    "native-cpu": measured("sklearn", 6.5, 279, 330, 1.2, {1: (2.5, _SK, 180), 2: (2.4, _scaled(_SK, 1.5, 0.8), 185)}),
    "onnx-cpu": measured("onnx", 5.0, 155, 205, 0.6, {1: (0.6, _OX, 90), 2: (0.55, _scaled(_OX, 1.6, 0.7), 95)}),
    "onnx-int8-cpu": measured(
        "onnx", 4.8, 155, 205, 0.6, {1: (0.55, _scaled(_OX, 1.1, 0.9), 88), 2: (0.5, _scaled(_OX, 1.7, 0.65), 92)}
    ),
    "gpu": status("excluded", "the sklearn runtime has no GPU path in nlpops (it runs on CPU)"),
}

_BERT = [(1, 5.0, 260.0), (8, 22.0, 473.0), (32, 30.0, 1387.0), (128, 32.0, 5200.0)]
_BERT2 = _scaled(_BERT, 1.8, 0.6)
_BERT4 = _scaled(_BERT, 3.0, 0.4)
_TRANSFORMER = {
    "native-cpu": measured(
        "torch", 440, 1650, 1720, 9.0, {1: (260, _BERT, 1400), 2: (160, _BERT2, 1420), 4: (110, _BERT4, 1450)}
    ),
    "onnx-cpu": measured(
        "onnx",
        438,
        160,
        650,
        3.0,
        {
            1: (230, _scaled(_BERT, 1.15, 0.88), 900),
            2: (140, _scaled(_BERT2, 1.15, 0.88), 910),
            4: (96, _scaled(_BERT4, 1.15, 0.88), 930),
        },
    ),
    "onnx-int8-cpu": measured(
        "onnx",
        180,
        160,
        390,
        2.2,
        {
            1: (185, _scaled(_BERT, 1.4, 0.71), 520),
            2: (112, _scaled(_BERT2, 1.4, 0.71), 530),
            4: (77, _scaled(_BERT4, 1.4, 0.71), 545),
        },
    ),
    "gpu": status("unmeasured", NO_GPU_HERE),
}
_GPU_ROWS = [(1, 180.0, 6.0), (8, 1200.0, 8.0), (32, 3500.0, 11.0), (128, 6000.0, 26.0)]

_MINILM = [(1, 80.0, 16.0), (8, 160.0, 70.0), (32, 150.0, 290.0), (128, 140.0, 1100.0)]
_MINI = {
    "native-cpu": measured(
        "torch", 91, 1120, 1170, 6.3, {1: (22, _MINILM, 610), 2: (15, _scaled(_MINILM, 1.6, 0.65), 620)}
    ),
    "onnx-cpu": measured(
        "onnx", 90, 160, 255, 1.8, {1: (18, _scaled(_MINILM, 1.2, 0.8), 300), 2: (12, _scaled(_MINILM, 1.9, 0.55), 305)}
    ),
    "onnx-int8-cpu": measured(
        "onnx", 23, 160, 188, 1.4, {1: (13, _scaled(_MINILM, 1.5, 0.6), 190), 2: (9, _scaled(_MINILM, 2.3, 0.42), 195)}
    ),
    "gpu": status("unmeasured", NO_GPU_HERE),
}

_SPACY = [(1, 900.0, 1.6), (8, 2400.0, 4.5), (32, 3200.0, 13.0), (128, 3500.0, 48.0)]
_ROUTED = [(1, 450.0, 3.5), (8, 1900.0, 6.0), (32, 3600.0, 12.0), (128, 5200.0, 32.0)]
_LANG_ROWS = {
    "en": [(1, 520.0, 3.0), (8, 2300.0, 5.0), (32, 4500.0, 10.0), (128, 6500.0, 26.0)],
    "de": [(1, 480.0, 3.2), (8, 2000.0, 5.5), (32, 3900.0, 11.0), (128, 5600.0, 30.0)],
    "fr": [(1, 500.0, 3.1), (8, 2100.0, 5.3), (32, 4100.0, 10.5), (128, 5900.0, 28.0)],
}
_NO_SET_EXPORT = "nlpops cannot export a model set (runtime router) to ONNX; export each language's model instead"


def _profile(name: str, family: str, runtime: str, size_mb: float, runtimes: dict[str, Any], **bundle: Any) -> dict:
    languages = bundle.pop("languages", ["en"])
    counts = bundle.pop("language_counts", {})
    own = runtimes.get("native-cpu") if runtimes.get("native-cpu", {}).get("status") == "measured" else None
    own = own or next(e for e in runtimes.values() if e.get("status") == "measured")
    first = next(iter(own["threads"].values()))
    gpu_used = runtimes.get("gpu", {}).get("status") == "measured"
    return {
        "schema_version": 2,
        "measured_at": "2026-01-01T00:00:00+00:00",
        "bundle": {
            "path": f"models/{name}",
            "name": name,
            "version": "20260101T000000000000Z",
            "family": family,
            "runtime": runtime,
            "quantized": False,
            "labels": 77,
            "languages": languages,
            "language_counts": counts,
            "rows": 10000,
        },
        "machine": {
            "cpu_count": 4,
            "platform": "Linux-x86_64",
            "python": "3.11.7",
            "threads": [1, 2, 4],
            "threads_unmeasured": {},
            "gpu_present": gpu_used,
        },
        "settings": {"batch_sizes": [1, 8, 32, 128], "budget_s": 2.0, "repeats": 3, "threads": [1, 2, 4]},
        "texts": {"count": 200, "mean_chars": 60.0},
        "size_bytes": int(size_mb * MB),
        "footprint": {
            "runtime": own["footprint"],
            "onnx": {"bytes": 155 * MB, "packages": {}, "missing": []},
            "service": {"bytes": 48 * MB, "packages": {}, "missing": []},
        },
        "runtimes": copy.deepcopy(runtimes),
        "languages": bundle.pop("per_language", {}),
        "gpu": {"present": gpu_used, "used": gpu_used},
        "cold_start_s": own["cold_start_s"],
        "load_s": own["load_s"],
        "rss_after_load_bytes": own["rss_after_load_bytes"],
        "model_rss_bytes": own["model_rss_bytes"],
        "peak_rss_bytes": own["peak_rss_bytes"],
        "latency_ms": first["latency_ms"],
        "throughput": first["throughput"],
        "reliability": {
            "reliable": True,
            "problems": [],
            "max_spread": 0.05,
            "max_background_cpus": 0.02,
            "thresholds": {"max_spread": 0.25, "max_background_share": 0.25},
        },
    }


def _build() -> dict[str, dict[str, Any]]:
    gpu = copy.deepcopy(_TRANSFORMER)
    # On the GPU host the installed PyTorch is the CUDA build: the image is several times the CPU one.
    gpu["gpu"] = measured("torch", 440, 4900, 4970, 11.0, {1: (7.0, _GPU_ROWS, 2600)}, device="cuda")
    large = {
        "native-cpu": measured(
            "torch",
            1340,
            1650,
            2990,
            21.0,
            {
                1: (900, _scaled(_BERT, 0.3, 3.4), 3900),
                2: (560, _scaled(_BERT2, 0.3, 3.4), 3950),
                4: (380, _scaled(_BERT4, 0.3, 3.4), 4000),
            },
        ),
        "onnx-cpu": measured("onnx", 1336, 160, 1500, 8.0, {1: (790, _scaled(_BERT, 0.34, 3.0), 2700)}),
        "onnx-int8-cpu": measured("onnx", 540, 160, 700, 5.0, {1: (600, _scaled(_BERT, 0.42, 2.4), 1300)}),
        "gpu": status("unmeasured", NO_GPU_HERE),
    }
    per_language = {
        lang: {
            "name": f"helpdesk-{lang}",
            "runtimes": {
                "native-cpu": measured(
                    "sklearn", 2.5, 279, 325, 1.1, {1: (3.2, rows, 150), 2: (3.0, _scaled(rows, 1.5, 0.8), 155)}
                )
            },
        }
        for lang, rows in _LANG_ROWS.items()
    }
    modelset = {
        "native-cpu": measured(
            "router", 8.4, 285, 340, 1.9, {1: (4.0, _ROUTED, 300), 2: (3.6, _scaled(_ROUTED, 1.5, 0.8), 310)}
        ),
        "onnx-cpu": status("excluded", _NO_SET_EXPORT),
        "onnx-int8-cpu": status("excluded", _NO_SET_EXPORT),
        "gpu": status("excluded", "the router runtime has no GPU path in nlpops (it runs on CPU)"),
    }
    no_spacy_export = 'nlpops cannot produce it for this bundle: Bundle has runtime "spacy", which has no ONNX export'
    spacy = {
        "native-cpu": measured(
            "spacy", 4.0, 420, 470, 2.4, {1: (1.9, _SPACY, 240), 2: (1.8, _scaled(_SPACY, 1.3, 0.9), 245)}
        ),
        "onnx-cpu": status("excluded", no_spacy_export),
        "onnx-int8-cpu": status("excluded", no_spacy_export),
        "gpu": status("excluded", "the spacy runtime has no GPU path in nlpops (it runs on CPU)"),
    }
    multilingual = copy.deepcopy(_TFIDF)
    return {
        "tfidf_small.json": _profile("intent", "tfidf", "sklearn", 6.5, _TFIDF),
        "tfidf_multilingual.json": _profile(
            "intent-ml",
            "tfidf",
            "sklearn",
            20,
            multilingual,
            languages=["en", "de", "fr", "es"],
            language_counts={"en": 4000, "de": 2500, "fr": 2200, "es": 2100},
        ),
        "transformer_cpu.json": _profile("intent-bert", "transformer", "torch", 440, _TRANSFORMER),
        "transformer_gpu.json": _profile("intent-bert", "transformer", "torch", 440, gpu),
        "transformer_large.json": _profile("intent-xl", "transformer", "torch", 1340, large),
        "minilm.json": _profile("intent-minilm", "transformer", "torch", 91, _MINI),
        "modelset.json": _profile(
            "helpdesk",
            "modelset",
            "router",
            8.4,
            modelset,
            languages=["en", "de", "fr"],
            language_counts={"en": 700, "de": 700, "fr": 700},
            per_language=per_language,
        ),
        "spacy.json": _profile("tickets-spacy", "spacy", "spacy", 4.0, spacy),
    }


PROFILES = _build()


def profile(name: str) -> dict[str, Any]:
    """A fresh copy of a fixture profile."""
    return copy.deepcopy(PROFILES[name])
