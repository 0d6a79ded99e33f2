"""A batch job: check the options, then run them on the engine they name (local worker processes or Ray)."""

from __future__ import annotations

from pathlib import Path

from nlpops.batch.local_engine import run_local
from nlpops.batch.options import BatchOptions, BatchResult, check_options
from nlpops.batch.progress import ProgressSink
from nlpops.batch.ray_engine import run_ray


def run_batch(bundle_dir: Path, options: BatchOptions, progress: ProgressSink | None = None) -> BatchResult:
    """Classify every row of ``options.input_path`` with the bundle at ``bundle_dir``; resumable.

    Args:
        bundle_dir: the model's bundle directory (a registry ref must be resolved first).
        options: what to read and write, and how.
        progress: optional progress sink (e.g. :class:`nlpops.batch.progress.RichProgress`).

    Returns:
        The counts of the run (over the whole input, including resumed chunks) and its throughput.

    Raises:
        ConfigError: invalid options.
        DataError: unreadable input, missing column, a checkpoint from different input/arguments/model,
            or another run writing the same output.
        BundleError, RuntimeLoadError: the model cannot be loaded.
        NlpopsError: a worker failed or died (run again to resume).
    """
    check_options(options)
    if options.engine == "ray":
        return run_ray(bundle_dir, options)
    return run_local(bundle_dir, options, progress)


__all__ = ["run_batch"]
