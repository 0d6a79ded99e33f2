"""Helpers of the security tests: editing a bundle's manifest the way an attacker (or a careless tool) would."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

MANIFEST = "nlpops-bundle.json"
DIGEST_FIELD = "manifest_sha256"


def canonical_digest(raw: dict[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces, UTF-8) of every manifest field but the digest.

    Written here independently of nlpops, so the tests pin the documented format (docs/security.md).
    """
    rest = {key: value for key, value in raw.items() if key != DIGEST_FIELD}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rewrite_manifest(bundle_dir: Path, edit: Callable[[dict[str, Any]], None], *, update_digest: bool = True) -> None:
    """Apply ``edit`` to the manifest of ``bundle_dir``; re-sign its digest (if it has one) unless told not to.

    Re-signing models an attacker who knows the format: the digest detects unnoticed changes, it is no
    signature, so every other check must hold on its own.
    """
    path = bundle_dir / MANIFEST
    raw = json.loads(path.read_text(encoding="utf-8"))
    edit(raw)
    if update_digest and DIGEST_FIELD in raw:
        raw[DIGEST_FIELD] = canonical_digest(raw)
    path.write_text(json.dumps(raw, indent=2, sort_keys=True), encoding="utf-8")


def rewrite_bundle_file(bundle_dir: Path, name: str, content: bytes) -> None:
    """Replace one file of a bundle and update its checksum and the manifest digest (a deliberate edit)."""
    (bundle_dir / name).write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    rewrite_manifest(bundle_dir, lambda raw: raw["files"].__setitem__(name, digest))


def scenario_plan(scenario: str = "poc_english", runtime: str | None = None) -> dict[str, Any]:
    """The advisor's plan for one of the advisor test scenarios (tests/advisor/scenarios), for deploy tests.

    Args:
        scenario: the scenario folder.
        runtime: replace the plan's chosen runtime option (e.g. "native" to deploy a scikit-learn bundle).
    """
    import sys

    import yaml

    from nlpops.advisor import load_rules, make_plan
    from nlpops.checklist import load_config

    advisor_tests = Path(__file__).parents[1] / "advisor"
    if str(advisor_tests) not in sys.path:
        sys.path.insert(0, str(advisor_tests))
    from advisor_fixtures import read_profile

    folder = advisor_tests / "scenarios" / scenario
    expected = yaml.safe_load((folder / "expected.yaml").read_text(encoding="utf-8"))
    plan: dict[str, Any] = make_plan(
        load_config(folder / "nlpops.yaml"), read_profile(expected["profile"]), load_rules()
    )
    if runtime is not None:
        plan["chosen"]["runtime"] = runtime
    return plan
