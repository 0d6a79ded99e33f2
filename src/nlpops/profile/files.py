"""Profile files: save, load, check, and read a profile written by an older nlpops (schema 1).

A schema-1 profile measured one runtime at one thread count, with no repeats and no record of the machine's
load. It is read as a schema-2 profile in which that runtime is measured and every other runtime is
unmeasured (the reason says to re-run ``nlpops profile``), so plans never derive the others from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nlpops.errors import PlanError

PROFILE_SCHEMA_VERSION = 2
_READABLE = (1, PROFILE_SCHEMA_VERSION)
_RERUN = "Re-run: nlpops profile REF --out FILE"


def _v1_option(data: dict[str, Any]) -> str:
    bundle = data.get("bundle") or {}
    if (data.get("gpu") or {}).get("used"):
        return "gpu"
    if bundle.get("runtime") == "onnx":
        return "onnx-int8-cpu" if bundle.get("quantized") else "onnx-cpu"
    return "native-cpu"


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 profile as a schema-2 one: its one measured runtime, the others unmeasured."""
    measured = _v1_option(data)
    threads = str((data.get("machine") or {}).get("threads", 1))
    entry = {
        "status": "measured",
        "bundle_runtime": (data.get("bundle") or {}).get("runtime"),
        "device": "cuda" if measured == "gpu" else "cpu",
        "size_bytes": data.get("size_bytes", 0),
        "footprint": (data.get("footprint") or {}).get("runtime", {"bytes": 0, "packages": {}, "missing": []}),
        "image_bytes": (data.get("footprint") or {}).get("runtime", {}).get("bytes", 0),
        "cold_start_s": data.get("cold_start_s", 0.0),
        "peak_rss_bytes": data["peak_rss_bytes"],
        "model_rss_bytes": data.get("model_rss_bytes"),
        "threads": {
            threads: {
                "latency_ms": data["latency_ms"],
                "throughput": data["throughput"],
                "peak_rss_bytes": data["peak_rss_bytes"],
            }
        },
    }
    reason = "not measured: this profile was written by an older nlpops that measured one runtime. " + _RERUN
    runtimes = {
        option: entry if option == measured else {"status": "unmeasured", "reason": reason}
        for option in ("native-cpu", "onnx-cpu", "onnx-int8-cpu", "gpu")
    }
    return {
        **data,
        "schema_version": PROFILE_SCHEMA_VERSION,
        "upgraded_from": 1,
        "runtimes": runtimes,
        "reliability": {
            "reliable": None,
            "problems": ["measured by an older nlpops: one round, no spread, no record of the machine's load"],
        },
    }


def check_profile(data: Any, source: str) -> dict[str, Any]:
    """The profile as schema 2, or PlanError unless ``data`` is a profile of a schema version this nlpops reads."""
    if not isinstance(data, dict) or data.get("schema_version") not in _READABLE:
        got = data.get("schema_version") if isinstance(data, dict) else type(data).__name__
        raise PlanError(
            f'Profile "{source}" has schema version {got!r}; this nlpops reads {", ".join(map(str, _READABLE))}. '
            + _RERUN
        )
    needed = ("bundle", "latency_ms", "throughput", "peak_rss_bytes", "footprint")
    if data["schema_version"] == PROFILE_SCHEMA_VERSION:
        needed = ("bundle", "footprint", "runtimes", "reliability", "size_bytes")
    missing = [k for k in needed if k not in data]
    if missing:
        raise PlanError(f'Profile "{source}" lacks {", ".join(missing)}. {_RERUN}')
    return upgrade_v1(data) if data["schema_version"] == 1 else dict(data)


def save_profile(profile: dict[str, Any], path: Path | str) -> Path:
    """Write a profile as JSON (creating parent folders)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(profile, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def load_profile(path: Path | str) -> dict[str, Any]:
    """Read a profile JSON file written by ``nlpops profile --out`` (schema 1 is read as schema 2).

    Raises:
        PlanError: missing, not JSON, or of an unknown schema version.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PlanError(f'Profile file "{file}" does not exist. Run: nlpops profile REF --out {file}') from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanError(f'Profile file "{file}" cannot be read as JSON: {exc}. Re-run nlpops profile.') from exc
    return check_profile(data, str(file))


__all__ = ["PROFILE_SCHEMA_VERSION", "check_profile", "load_profile", "save_profile", "upgrade_v1"]
