"""``nlpops batch``: classify every row of a CSV, JSONL or Parquet file (resumable, on processes or Ray)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``batch`` command to ``app``."""
    app.command("batch")(batch)


def batch(
    ref: Annotated[str, typer.Argument(help="Bundle path, or registry ref NAME@ALIAS / NAME:VERSION / NAME.")],
    input_path: Annotated[Path, typer.Option("--input", "-i", help="CSV, JSONL or Parquet file to classify.")],
    output_path: Annotated[Path, typer.Option("--output", "-o", help="Predictions file (.csv, .jsonl, .parquet).")],
    text_column: Annotated[str, typer.Option(help="Input column holding the text.")] = "text",
    id_column: Annotated[
        str | None, typer.Option(help="Input column holding row ids (default: write row numbers as 'row').")
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (0 = in this process); Ray: model replicas.")] = 1,
    batch_size: Annotated[int, typer.Option(help="Texts per model call.")] = 256,
    chunk_rows: Annotated[int, typer.Option(help="Input rows per committed part (unit of resumption).")] = 10_000,
    all_scores: Annotated[bool, typer.Option("--all-scores", help="Also write every label's score.")] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="File for bad rows (default: <output stem>.rejects<suffix>).")
    ] = None,
    restart: Annotated[bool, typer.Option("--restart", help="Discard a checkpoint and start over.")] = False,
    engine: Annotated[str, typer.Option(help="'local' (worker processes) or 'ray' (Ray Data).")] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Existing Ray cluster address (default: start a local Ray instance).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    config: Annotated[Path | None, typer.Option(help="nlpops.yaml to read the registry settings from.")] = None,
) -> None:
    """Classify every row of a file; write label and score next to each row's id, in input order.

    Bad rows (empty text, missing value, undecodable bytes) go to the rejects file with the reason.
    A run that is interrupted (even killed) continues where it stopped when started again with the
    same arguments; --restart starts over.
    """
    from nlpops.batch import BatchOptions, RichProgress, run_batch
    from nlpops.checklist import load_config
    from nlpops.cli.output import print_json, stderr_console, stdout_console
    from nlpops.registry import resolve_bundle

    bundle_dir = resolve_bundle(ref, load_config(config).registry).path
    options = BatchOptions(
        input_path=input_path,
        output_path=output_path,
        text_column=text_column,
        id_column=id_column,
        workers=workers,
        batch_size=batch_size,
        chunk_rows=chunk_rows,
        all_scores=all_scores,
        rejects_path=rejects,
        restart=restart,
        engine=engine,  # type: ignore[arg-type]  # checked by check_options
        ray_address=ray_address,
    )
    result = run_batch(bundle_dir, options, RichProgress(quiet=quiet or json_output, console=stderr_console()))
    if json_output:
        print_json(result.to_dict())
        return
    resumed = f", {result.resumed_chunks} chunks resumed" if result.resumed_chunks else ""
    stdout_console().print(
        f"read {result.read:,} rows, wrote {result.written:,} to {result.output_path}, "
        f"rejected {result.rejected:,} (see {result.rejects_path}) in {result.elapsed_s:.1f} s "
        f"({result.rows_per_s:,.0f} rows/s{resumed})",
        markup=False,
    )


__all__ = ["batch", "register"]
