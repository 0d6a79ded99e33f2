"""A batch job's options, their checks and its result: what the engines (local, Ray) share.

The engines (:mod:`nlpops.batch.local_engine`, :mod:`nlpops.batch.ray_engine`) import this module and never
each other nor :mod:`nlpops.batch.job`, which picks one (an import-linter contract keeps it so).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from nlpops.data import detect_format
from nlpops.errors import ConfigError

Engine = Literal["local", "ray"]


@dataclass(frozen=True)
class BatchOptions:
    """What a batch run reads, writes and how.

    Attributes:
        input_path: CSV, JSONL or Parquet file to classify.
        output_path: predictions file (format from its suffix).
        text_column: input column holding the text.
        id_column: input column holding row ids; None writes row numbers (column ``row``).
        workers: worker processes (local engine; 0 = in this process) or model replicas (Ray).
        batch_size: texts per ``predict_proba`` call.
        chunk_rows: input rows per committed part (the unit of resumption).
        all_scores: also write every label's score.
        rejects_path: where bad rows go; default ``<output stem>.rejects<output suffix>``.
        restart: discard any checkpoint and start over.
        engine: ``local`` or ``ray``.
        ray_address: address of an existing Ray cluster (Ray engine); None starts a local instance.
    """

    input_path: Path
    output_path: Path
    text_column: str = "text"
    id_column: str | None = None
    workers: int = 1
    batch_size: int = 256
    chunk_rows: int = 10_000
    all_scores: bool = False
    rejects_path: Path | None = None
    restart: bool = False
    engine: Engine = "local"
    ray_address: str | None = None

    @property
    def rejects_file(self) -> Path:
        """The rejects file, defaulted from the output path."""
        if self.rejects_path is not None:
            return self.rejects_path
        return self.output_path.with_name(f"{self.output_path.stem}.rejects{self.output_path.suffix}")

    @property
    def state_dir(self) -> Path:
        """The folder holding parts and the checkpoint while the run is unfinished."""
        return self.output_path.with_name(f".{self.output_path.name}.nlpops-batch")


@dataclass(frozen=True)
class BatchResult:
    """Counts and figures of a finished run (``read == written + rejected``)."""

    output_path: Path
    rejects_path: Path
    read: int
    written: int
    rejected: int
    elapsed_s: float
    rows_per_s: float
    resumed_chunks: int
    engine: str
    workers: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        data = asdict(self)
        data["output_path"] = str(self.output_path)
        data["rejects_path"] = str(self.rejects_path)
        return data


def check_options(options: BatchOptions) -> None:
    """Refuse options that cannot work, listing every problem at once.

    Raises:
        ConfigError: invalid values (the message names each flag).
        DataError: an unknown file type.
    """
    problems = []
    if options.workers < 0:
        problems.append(f"--workers must be >= 0 (0 = in this process). Got {options.workers}.")
    if options.batch_size < 1:
        problems.append(f"--batch-size must be >= 1. Got {options.batch_size}.")
    if options.chunk_rows < 1:
        problems.append(f"--chunk-rows must be >= 1. Got {options.chunk_rows}.")
    if options.engine not in ("local", "ray"):
        problems.append(f'--engine must be "local" or "ray". Got "{options.engine}".')
    paths = {options.input_path.resolve(), options.output_path.resolve(), options.rejects_file.resolve()}
    if len(paths) < 3:
        problems.append("--input, --output and the rejects file must be three different files.")
    if problems:
        raise ConfigError(" ".join(problems))
    for path in (options.input_path, options.output_path, options.rejects_file):
        detect_format(path)


__all__ = ["BatchOptions", "BatchResult", "Engine", "check_options"]
