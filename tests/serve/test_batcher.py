"""Micro-batcher invariants (Hypothesis): every request answered exactly once, in order, within bounds, each
text with its own routing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpops.errors import OverloadedError
from nlpops.runtimes import RoutingDecision
from nlpops.serve import BatchLimits, MicroBatcher


class _Recorder:
    """A model whose probability row encodes the text it was given (and, routed, the language it was routed
    as), recording every batch it sees."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.batches: list[tuple[str, list[str], RoutingDecision | None]] = []
        self.lock = threading.Lock()

    def infer(self, model: _Recorder, texts: list[str], routing: RoutingDecision | None = None) -> np.ndarray:
        with self.lock:
            self.batches.append((model.name, list(texts), routing))
        second = [float(lang[1:]) for lang in routing.langs] if routing is not None else [1.0] * len(texts)
        return np.array([[float(t.split(":")[1]), extra] for t, extra in zip(texts, second, strict=True)])


def _lengths(_model: _Recorder, texts: Sequence[str]) -> list[int]:
    return [len(t) for t in texts]


requests_strategy = st.lists(
    st.tuples(st.integers(1, 12), st.integers(0, 1), st.integers(0, 40)), min_size=1, max_size=40
)


@settings(max_examples=60, deadline=None)
@given(
    requests=requests_strategy,
    max_batch_size=st.integers(1, 16),
    max_batch_tokens=st.integers(1, 400),
    max_wait_ms=st.sampled_from([0.0, 1.0, 5.0]),
)
def test_batcher_answers_every_request_once_within_bounds(
    requests: list[tuple[int, int, int]], max_batch_size: int, max_batch_tokens: int, max_wait_ms: float
) -> None:
    models = [_Recorder("a"), _Recorder("b")]  # model "b" is a model set: its requests carry their routing
    recorder = models[0]
    limits = BatchLimits(max_batch_size, max_wait_ms, max_batch_tokens, max_queue=10_000)
    counter = iter(range(1_000_000))
    payloads = [(models[m], [f"{'x' * pad}:{next(counter)}" for _ in range(n)]) for n, m, pad in requests]

    def routing(model: _Recorder, texts: list[str]) -> RoutingDecision | None:
        # each text "routed" as a language that encodes its number, so a mix-up shows in the answer
        return RoutingDecision(tuple(f"l{int(t.split(':')[1]) * 7}" for t in texts)) if model.name == "b" else None

    async def scenario() -> list[np.ndarray]:
        batcher: MicroBatcher[_Recorder] = MicroBatcher(recorder.infer, _lengths, limits)
        try:
            return await asyncio.gather(
                *(batcher.submit(model, texts, routing(model, texts)) for model, texts in payloads)
            )
        finally:
            await batcher.close()

    results = asyncio.run(scenario())
    # every request got exactly its own rows, in order, computed with its own routing
    for (model, texts), rows in zip(payloads, results, strict=True):
        assert rows.shape == (len(texts), 2)
        numbers = [float(t.split(":")[1]) for t in texts]
        assert rows[:, 0].tolist() == numbers
        assert rows[:, 1].tolist() == ([n * 7 for n in numbers] if model.name == "b" else [1.0] * len(texts))
    seen = [t for _name, batch, _routing in recorder.batches for t in batch]
    assert sorted(seen) == sorted(t for _m, texts in payloads for t in texts)  # each text computed exactly once
    for model_name, batch, routed in recorder.batches:
        assert (routed is not None) == (model_name == "b") and (routed is None or len(routed) == len(batch))
        assert 1 <= len(batch) <= max_batch_size
        if len(batch) > 1:
            assert len(batch) * max(len(t) for t in batch) <= max_batch_tokens
        owners = {m.name for m, texts in payloads for t in texts if t in batch}
        assert owners == {model_name}  # a batch never mixes models


def test_batcher_refuses_beyond_max_queue() -> None:
    recorder = _Recorder("a")

    async def scenario() -> None:
        batcher: MicroBatcher[_Recorder] = MicroBatcher(recorder.infer, _lengths, BatchLimits(max_queue=3))
        try:
            with pytest.raises(OverloadedError, match="max_queue=3"):
                await batcher.submit(recorder, ["a:1", "a:2", "a:3", "a:4"])
            rows = await batcher.submit(recorder, ["a:1", "a:2", "a:3"])
            assert rows[:, 0].tolist() == [1.0, 2.0, 3.0]
        finally:
            await batcher.close()

    asyncio.run(scenario())


def test_batcher_passes_model_errors_to_the_requests_of_that_batch() -> None:
    recorder = _Recorder("a")

    def failing(model: _Recorder, texts: list[str], routing: RoutingDecision | None) -> np.ndarray:
        if any("boom" in t for t in texts):
            raise ValueError("boom")
        return recorder.infer(model, texts)

    async def scenario() -> None:
        batcher: MicroBatcher[_Recorder] = MicroBatcher(failing, _lengths, BatchLimits(max_batch_size=1))
        try:
            bad, good = await asyncio.gather(
                batcher.submit(recorder, ["boom:1"]), batcher.submit(recorder, ["ok:2"]), return_exceptions=True
            )
            assert isinstance(bad, ValueError)
            assert isinstance(good, np.ndarray) and good[0, 0] == 2.0
        finally:
            await batcher.close()

    asyncio.run(scenario())


def test_batcher_flushes_a_lone_request_without_waiting_for_max_wait() -> None:
    recorder = _Recorder("a")

    async def scenario() -> None:
        # a 60 s window would hang the test if a lone request waited for it
        batcher: MicroBatcher[_Recorder] = MicroBatcher(recorder.infer, _lengths, BatchLimits(max_wait_ms=60_000))
        try:
            rows = await asyncio.wait_for(batcher.submit(recorder, ["a:7"]), timeout=30)
            assert rows[0, 0] == 7.0
        finally:
            await batcher.close()

    asyncio.run(scenario())
