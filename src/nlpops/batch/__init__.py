"""Batch inference over files: resumable, memory bounded, on worker processes or on Ray.

``run_batch(bundle_dir, BatchOptions(input_path=..., output_path=...))`` classifies every row of a CSV,
JSONL or Parquet file and writes label, score (and optionally every score) next to each row's id, in input
order; bad rows go to a rejects file with the reason. See ``docs/batch.md``.
"""

from __future__ import annotations

from nlpops.batch.job import run_batch
from nlpops.batch.options import BatchOptions, BatchResult, Engine, check_options
from nlpops.batch.progress import ProgressSink, RichProgress

__all__ = ["BatchOptions", "BatchResult", "Engine", "ProgressSink", "RichProgress", "check_options", "run_batch"]
