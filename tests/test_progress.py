"""One progress mechanism: library functions report phases and counts to a Progress the caller passes."""

from __future__ import annotations

from pathlib import Path

from nlpops.checklist import NlpopsConfig
from nlpops.families import build_bundle
from nlpops.profile import profile_bundle
from nlpops.progress import Progress, Reporter, as_progress
from nlpops.testing import tiny_dataset, tiny_tfidf_bundle
from progress_support import RecordedProgress


def test_progress_as_progress_adapts_what_callers_pass() -> None:
    as_progress(None).step("nowhere", total=3)  # silent
    as_progress(None).advance(1)
    messages: list[str] = []
    plain = as_progress(messages.append)
    plain.step("one", total=2)
    plain.advance(2)  # a function of one message gets the steps only
    plain("two")  # a Reporter is itself a function of one message
    assert messages == ["one", "two"]
    recorded = RecordedProgress()
    assert isinstance(recorded, Progress)
    reporter = as_progress(recorded)
    reporter.step("counted", total=4)
    reporter.advance(3, "three")
    reporter("next")
    assert [(p.message, p.total, p.done) for p in recorded.phases] == [("counted", 4, 3), ("next", None, 0)]
    assert as_progress(reporter) is reporter and isinstance(reporter, Reporter)


def test_progress_build_bundle_reports_its_phases(tmp_path: Path) -> None:
    recorded = RecordedProgress()
    data = tiny_dataset()
    build_bundle(NlpopsConfig(), data, data, tmp_path / "b", progress=recorded)
    messages = [p.message for p in recorded.phases]
    assert messages[0].startswith("training tfidf (classification) on 12 rows")
    assert any(m.startswith("evaluating on 12 rows") for m in messages) and messages[-1] == "writing bundle"


def test_progress_profile_counts_each_measurement(tmp_path: Path) -> None:
    bundle = tiny_tfidf_bundle(tmp_path / "b")
    recorded = RecordedProgress()
    profile_bundle(
        bundle.path, budget_s=0.1, threads=1, repeats=1, runtimes=("native-cpu",), languages=False, progress=recorded
    )
    (measuring,) = recorded.counted()
    assert measuring.total == 1 and measuring.done == 1
    assert measuring.notes == ["native-cpu, 1 thread(s)"]
