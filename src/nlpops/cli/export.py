"""``nlpops export REF --to onnx``: convert a bundle to the slim ONNX runtime and show what changed."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from nlpops.cli.options import ConfigOption, JsonOption, load_cli_config, progress_bar


def _rows(before: Any, after: Any) -> list[tuple[str, str, str]]:
    def mb(n: int) -> str:
        return f"{n / 1e6:.1f} MB"

    def fmt(value: float | None, pattern: str) -> str:
        return "-" if value is None else pattern.format(value)

    rows = [
        ("bundle size", mb(before.size_bytes), mb(after.size_bytes)),
        ("runtime footprint", mb(before.footprint_bytes), mb(after.footprint_bytes)),
        ("load time (cold)", fmt(before.load_s, "{:.2f} s"), fmt(after.load_s, "{:.2f} s")),
        ("p50 latency, batch 1", fmt(before.p50_batch1_ms, "{:.2f} ms"), fmt(after.p50_batch1_ms, "{:.2f} ms")),
        (
            "throughput, batch 32",
            fmt(before.throughput_batch32, "{:.0f} texts/s"),
            fmt(after.throughput_batch32, "{:.0f} texts/s"),
        ),
    ]
    if before.accuracy is not None:
        rows.append(("accuracy", fmt(before.accuracy, "{:.4f}"), fmt(after.accuracy, "{:.4f}")))
        rows.append(("macro-F1", fmt(before.macro_f1, "{:.4f}"), fmt(after.macro_f1, "{:.4f}")))
    return rows


def export_command(
    ref: Annotated[str, typer.Argument(help="A bundle path, NAME@ALIAS or NAME:VERSION.")],
    to: Annotated[str, typer.Option("--to", help="Target runtime (only: onnx).")] = "onnx",
    quantize: Annotated[str, typer.Option("--quantize", help="none or int8 (dynamic int8 quantization).")] = "none",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Bundle directory to write (default: models/NAME-onnx, models/NAME-VERSION-onnx)."
        ),
    ] = None,
    test: Annotated[Path | None, typer.Option("--test", help="Labelled data for accuracy/macro-F1 rows.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Write the bundle even if the parity check fails.")] = False,
    measure: Annotated[bool, typer.Option("--measure/--no-measure", help="Measure before/after figures.")] = True,
    register: Annotated[
        bool, typer.Option("--register", help="Register the exported bundle as a new version of the same model.")
    ] = False,
    promote: Annotated[
        str | None,
        typer.Option("--promote", help="With --register: move this alias (e.g. production) to the new version."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing bundle at --out.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export a bundle to ONNX (optionally int8), check parity on its reference texts, and compare.

    With --register the exported bundle becomes a new version of the same model in the registry (and with
    --promote ALIAS, services following that alias hot-swap to it).
    """
    from nlpops.cli.output import print_json, stdout_console
    from nlpops.errors import ConfigError
    from nlpops.export import Quantization, export_bundle
    from nlpops.registry import resolve_bundle

    if to != "onnx":
        raise ConfigError(f'--to must be "onnx". Got {to!r}.')
    if quantize not in ("none", "int8"):
        raise ConfigError(f'--quantize must be "none" or "int8". Got {quantize!r}.')
    if promote and not register:
        raise ConfigError("--promote needs --register (only registered versions can be promoted).")
    loaded = load_cli_config(config)
    resolved = resolve_bundle(ref, loaded.registry)
    target = out or _default_out(resolved, quantize)
    level: Quantization = "int8" if quantize == "int8" else "none"
    with progress_bar("Exporting", not as_json) as progress:
        result = export_bundle(
            resolved.path, target, quantize=level, force=force, overwrite=overwrite, progress=progress
        )
    payload: dict[str, Any] = {"bundle": str(result.bundle.path), "parity": result.parity.as_dict()}
    if register:
        from nlpops.registry import open_registry

        registry = resolved.registry or open_registry(loaded.registry)
        name = resolved.entry.name if resolved.entry is not None else result.bundle.manifest.name
        entry = registry.register(result.bundle.path, name)
        if promote:
            registry.promote(entry.name, entry.version, promote)
        payload["registered"] = f"{entry.name}:{entry.version}"
        payload["promoted"] = promote
    if measure:
        from nlpops.data import read_dataset
        from nlpops.export.measure import measure_bundle

        task = result.source.manifest.task
        test_data = read_dataset(test, **_columns(loaded), task=task) if test is not None else None
        texts = [str(t) for t in result.source.manifest.reference.get("texts", [])]
        with progress_bar("Measuring", not as_json) as progress:
            progress.step("before/after (cold loads run in fresh processes)", total=2)
            before = measure_bundle(result.source, texts, test_data)
            progress.advance(1)
            after = measure_bundle(result.bundle, texts, test_data)
            progress.advance(1)
        payload["before"], payload["after"] = asdict(before), asdict(after)
    if as_json:
        print_json(payload)
        return
    console = stdout_console()
    console.print(
        f"Wrote {result.bundle.path} (runtime onnx{', int8' if quantize == 'int8' else ''}); predictions agree on "
        f"{result.parity.agreement:.2%} of {result.parity.texts} reference texts."
    )
    if register:
        alias = f", alias {promote} moved to it" if promote else ""
        console.print(f"Registered as {payload['registered']}{alias}.")
    if measure:
        from rich.table import Table

        table = Table(title="Before / after export")
        table.add_column("")
        table.add_column(f"before ({result.source.manifest.runtime})", justify="right")
        table.add_column("after (onnx)", justify="right")
        for row in _rows(before, after):
            table.add_row(*row)
        console.print(table)


def _default_out(resolved: Any, quantize: str) -> Path:
    """``models/NAME-VERSION-onnx`` for a registry version, ``models/FOLDER-onnx`` for a bundle path."""
    suffix = "-onnx-int8" if quantize == "int8" else "-onnx"
    if resolved.entry is not None:
        return Path("models") / f"{resolved.entry.name}-{resolved.entry.version}{suffix}"
    return Path("models") / f"{Path(resolved.path).resolve().name}{suffix}"


def _columns(config: Any) -> dict[str, Any]:
    data = config.data
    return {"text_column": data.text_column, "label_column": data.label_column, "lang_column": data.lang_column}


def register(app: typer.Typer) -> None:
    """Add ``nlpops export`` to the app."""
    app.command("export")(export_command)


__all__ = ["export_command", "register"]
