"""``nlpops package SOURCE --name NAME``: turn a model a team already has into a verified bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nlpops.cli.options import ConfigOption, JsonOption, load_cli_config, spinner
from nlpops.cli.output import print_json, stderr_console, stdout_console
from nlpops.errors import ConfigError


def package_command(
    source: Annotated[
        str,
        typer.Argument(
            help="A Hugging Face classifier or token-classifier folder, a spaCy pipeline with a text classifier or "
            "NER (folder or installed package name), a .skops file, a .pkl/.joblib file (with --unsafe-pickle) or an "
            "ONNX graph (.onnx, with --labels)."
        ),
    ],
    name: Annotated[str, typer.Option("--name", "-n", help="Model name (the registry name with --register).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Bundle directory (default: models/NAME).")] = None,
    register: Annotated[bool, typer.Option("--register", help="Register the bundle in the registry.")] = False,
    promote: Annotated[
        str | None, typer.Option("--promote", help="With --register: move this alias (e.g. production) to it.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            "-d",
            help="Reference texts like those the model will serve (CSV, JSONL, Parquet; labels not needed): the "
            "drift baseline and the parity texts. Without it parity is checked on built-in probe texts.",
        ),
    ] = None,
    test: Annotated[
        Path | None, typer.Option("--test", help="Labelled held-out data: metrics computed by nlpops.")
    ] = None,
    component: Annotated[
        str | None,
        typer.Option(
            "--component",
            help="spaCy: the text classifier to package when there are several, or an entity component (ner) to "
            "package the entities of a pipeline that also has a text classifier.",
        ),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="ONNX (default: next to it) or a multi-label scikit-learn model: labels.txt, one label per line in "
            "output order.",
        ),
    ] = None,
    trust: Annotated[
        list[str] | None,
        typer.Option("--trust", help="skops: a type to trust beyond skops' own, after checking it (repeatable)."),
    ] = None,
    unsafe_pickle: Annotated[
        bool,
        typer.Option(
            "--unsafe-pickle", help="Allow a pickle/joblib file: loading it runs any code it holds. Trusted files only."
        ),
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing bundle at --out.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Package a model a team already has (Hugging Face, spaCy, scikit-learn, ONNX) into a verified bundle.

    The bundle must predict what the source library predicts (probabilities within 1e-5; entity spans equal,
    scores within 1e-5) on the reference texts or on built-in probe texts; otherwise nothing is written.
    """
    from nlpops.api import package

    if promote and not register:
        raise ConfigError("--promote needs --register (only registered versions can be promoted).")
    cfg = load_cli_config(config)
    err = stderr_console()

    def warn(message: str) -> None:
        err.print(f"[bold red]WARNING[/] {message}", markup=True)

    with spinner("Packaging", not as_json) as update:
        result = package(
            source,
            name=name,
            out=out,
            data=data,
            test=test,
            register=register,
            component=component,
            labels=labels,
            trust=tuple(trust or ()),
            unsafe_pickle=unsafe_pickle,
            config=cfg,
            overwrite=overwrite,
            progress=update,
            warn=warn,
        )
    if result.registered is not None and promote:
        from nlpops.registry import open_registry

        open_registry(cfg.registry).promote(result.registered.name, result.registered.version, promote)
    manifest = result.bundle.manifest
    package_info = manifest.package or {}
    summary: dict[str, Any] = {
        "bundle": str(result.bundle.path),
        "name": manifest.name,
        "source": package_info.get("source"),
        "family": manifest.family,
        "runtime": manifest.runtime,
        "task": manifest.task,
        "labels": len(manifest.labels),
        "parity": package_info.get("parity"),
        "accuracy": manifest.metrics.get("accuracy"),
        "macro_f1": manifest.metrics.get("macro_f1"),
        "micro_f1": manifest.metrics.get("micro_f1"),
        "f1": manifest.metrics.get("f1") if manifest.task == "entities" else None,
        "size_bytes": result.bundle.size_bytes,
        "seconds": round(result.report.seconds, 2),
        "notes": package_info.get("notes", []),
        "registered": None if result.registered is None else f"{result.registered.name}:{result.registered.version}",
        "promoted": promote if result.registered is not None else None,
    }
    if as_json:
        print_json(summary)
        return
    _print(summary)


def _print(summary: dict[str, Any]) -> None:
    console = stdout_console()
    parity = summary["parity"] or {}
    kind = "" if summary["task"] == "classification" else f"{summary['task']}, "
    console.print(
        f"Packaged [bold]{summary['name']}[/] from {summary['source']['kind']} ({kind}{summary['runtime']} runtime, "
        f"{summary['labels']} labels) in {summary['seconds']:.1f} s"
    )
    console.print(
        f"  parity with the source library: max difference {parity.get('max_abs_diff', 0.0):.1e} on "
        f"{parity.get('texts', 0)} {parity.get('on', '')} texts"
    )
    if summary["accuracy"] is not None:
        console.print(f"  test accuracy {summary['accuracy']:.4f}   macro-F1 {summary['macro_f1']:.4f}")
    elif summary["micro_f1"] is not None:  # multilabel: every label at the source's threshold
        console.print(f"  test micro-F1 {summary['micro_f1']:.4f}   macro-F1 {summary['macro_f1']:.4f}")
    elif summary["f1"] is not None:  # entities: exact spans (start, end and type)
        console.print(f"  test entity F1 {summary['f1']:.4f} (exact spans)")
    console.print(f"  bundle  {summary['bundle']}  ({summary['size_bytes'] / 1e6:.1f} MB)")
    for note in summary["notes"]:
        console.print(f"  note: {note}")
    if summary["registered"] is not None:
        promoted = f", alias {summary['promoted']}" if summary["promoted"] else ""
        console.print(f"  registered as {summary['registered']}{promoted}")


def register(app: typer.Typer) -> None:
    """Add ``nlpops package`` to the app."""
    app.command("package")(package_command)


__all__ = ["package_command", "register"]
