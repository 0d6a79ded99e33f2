"""``nlpops train``, ``evaluate``, ``predict`` and ``demo``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from nlpops.cli.output import print_json, stderr_console, stdout_console
from nlpops.data import is_classifiable
from nlpops.errors import ConfigError, DataError

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="nlpops.yaml to read (default: ./nlpops.yaml or NLPOPS_CONFIG).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def load_cli_config(config: Path | None, overrides: dict[str, Any] | None = None) -> Any:
    """Load the config at the CLI edge (flags are the highest-precedence overrides)."""
    from nlpops.checklist import load_config

    return load_config(config, overrides or {})


@contextmanager
def spinner(message: str, enabled: bool = True) -> Iterator[Any]:
    """A rich status spinner on stderr with elapsed time; yields a function to update the step text."""
    from rich.status import Status

    if not enabled or not stderr_console().is_terminal:
        yield lambda _msg: None
        return
    with Status(message, console=stderr_console()) as status:
        yield lambda msg: status.update(f"{message}: {msg}")


def train_command(
    data: Annotated[Path, typer.Option("--data", "-d", help="Training data (CSV, JSONL or Parquet).")],
    test: Annotated[
        Path | None, typer.Option("--test", help="Held-out test data; default: a stratified split.")
    ] = None,
    family: Annotated[
        str | None, typer.Option("--family", help="Model family: tfidf, spacy or transformer (model.family).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Model name (default: config name).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Bundle directory (default: models/NAME).")] = None,
    register: Annotated[bool, typer.Option("--register", help="Register the bundle in the registry.")] = False,
    promote: Annotated[
        str | None, typer.Option("--promote", help="With --register: move this alias (e.g. production) to it.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing bundle at --out.")] = False,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            help="Languages: per-language, multilingual or auto (languages.strategy). Default: used when the "
            "data has several languages.",
        ),
    ] = None,
    text_column: Annotated[str | None, typer.Option("--text-column", help="Column holding the text.")] = None,
    label_column: Annotated[str | None, typer.Option("--label-column", help="Column holding the label.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a model on a dataset and write a verified bundle (optionally registered)."""
    from nlpops.api import train

    overrides: dict[str, Any] = {}
    if family:
        overrides["model"] = {"family": family}
    columns = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v}
    if columns:
        overrides["data"] = columns
    if strategy:
        overrides["languages"] = {"strategy": strategy}
    if promote and not register:
        raise ConfigError("--promote needs --register (only registered versions can be promoted).")
    cfg = load_cli_config(config, overrides)
    with spinner("Training", not as_json) as update:
        result = train(
            data,
            test=test,
            config=cfg,
            name=name,
            out=out,
            register=register,
            overwrite=overwrite,
            strategy=strategy,
            progress=update,
        )
    promoted = None
    if result.registered is not None and promote:
        from nlpops.registry import open_registry

        open_registry(cfg.registry).promote(result.registered.name, result.registered.version, promote)
        promoted = promote
    manifest = result.bundle.manifest
    summary: dict[str, Any] = {
        "bundle": str(result.bundle.path),
        "name": manifest.name,
        "family": manifest.family,
        "labels": len(manifest.labels),
        "accuracy": manifest.metrics.get("accuracy"),
        "macro_f1": manifest.metrics.get("macro_f1"),
        "runtime": manifest.runtime,
        "languages": manifest.languages,
        "models": sorted(manifest.metrics.get("sub_models", {})) or None,
        "per_language": {k: v["macro_f1"] for k, v in manifest.metrics.get("per_language", {}).items()},
        "size_bytes": result.bundle.size_bytes,
        "registered": None if result.registered is None else f"{result.registered.name}:{result.registered.version}",
        "promoted": promoted,
    }
    if as_json:
        print_json(summary)
        return
    console = stdout_console()
    console.print(f"Trained [bold]{manifest.name}[/] ({manifest.family}, {len(manifest.labels)} labels)")
    if manifest.metrics:
        console.print(
            f"  test accuracy {manifest.metrics['accuracy']:.4f}   macro-F1 {manifest.metrics['macro_f1']:.4f}"
        )
    if summary["models"]:
        console.print(f"  model set: one model per language ({', '.join(summary['models'])}), routed by language")
    for lang, f1 in summary["per_language"].items():
        console.print(f"    {lang:<5} macro-F1 {f1:.4f}")
    console.print(f"  bundle  {result.bundle.path}  ({result.bundle.size_bytes / 1e6:.1f} MB)")
    if result.registered is not None:
        line = f"  registered as {summary['registered']}"
        console.print(line + (f", alias {promoted}" if promoted else ""))


def evaluate_command(
    ref: Annotated[str, typer.Argument(help="Bundle path, NAME@ALIAS or NAME:VERSION.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="Labelled test data (CSV, JSONL or Parquet).")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate a model: accuracy, macro-F1, per-class precision/recall/F1, confusions (per language too)."""
    from nlpops.api import evaluate

    report = evaluate(ref, data, config=load_cli_config(config))
    if as_json:
        print_json(report)
        return
    print_report(report)


def print_report(report: dict[str, Any]) -> None:
    """Human-readable evaluation report."""
    from rich.table import Table

    console = stdout_console()
    console.print(
        f"[bold]{report['model']}[/] {report['version']} on {report['data']} ({report['rows']} rows): "
        f"accuracy [bold]{report['accuracy']:.4f}[/]  macro-F1 [bold]{report['macro_f1']:.4f}[/]"
    )
    table = Table("label", "precision", "recall", "F1", "support", title="Per class")
    for label, row in report["per_class"].items():
        table.add_row(label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]))
    console.print(table)
    matrix = report["confusion_matrix"]
    labels = matrix["labels"]
    pairs = [
        (count, labels[i], labels[j])
        for i, row in enumerate(matrix["matrix"])
        for j, count in enumerate(row)
        if i != j and count
    ]
    if pairs:
        confusions = Table(
            "true label", "predicted as", "count", title="Most frequent confusions (full matrix: --json)"
        )
        for count, true, pred in sorted(pairs, reverse=True)[:10]:
            confusions.add_row(true, pred, str(count))
        console.print(confusions)
    if report.get("per_language"):
        langs = Table("language", "rows", "accuracy", "macro-F1", title="Per language")
        for lang, row in report["per_language"].items():
            langs.add_row(lang, str(row["rows"]), f"{row['accuracy']:.4f}", f"{row['macro_f1']:.4f}")
        console.print(langs)


def read_input_texts(texts: list[str], file: Path | None) -> list[str]:
    """Texts from arguments, else from --file (one per line), else from stdin (one per line)."""
    if texts:
        empty = [i for i, text in enumerate(texts, start=1) if not is_classifiable(text)]
        if empty:
            raise DataError(f"text {empty[0]} is empty: there is nothing to classify. Remove it or fill it in.")
        return texts
    try:
        if file is not None:
            content = file.read_text(encoding="utf-8")
        elif not sys.stdin.isatty():
            content = sys.stdin.read()
        else:
            content = ""
    except FileNotFoundError as exc:
        raise DataError(f'Input file "{file}" does not exist.') from exc
    except UnicodeDecodeError as exc:
        raise DataError(f'Input "{file or "stdin"}" is not UTF-8 text. Re-save it as UTF-8.') from exc
    # one text per line; an empty line is none, a whitespace-only line is one (the rule of is_classifiable)
    lines = [line for line in content.splitlines() if is_classifiable(line)]
    if not lines:
        raise DataError("No texts to classify. Pass texts as arguments, with --file, or on stdin (one per line).")
    return lines


def predict_command(
    ref: Annotated[str | None, typer.Argument(help="Bundle path, NAME@ALIAS or NAME:VERSION (not with --url).")] = None,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify (default: --file or stdin).")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="A file with one text per line.")] = None,
    url: Annotated[str | None, typer.Option("--url", help="Ask a running nlpops service instead.")] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="NLPOPS_API_KEY", help="API key for --url.")
    ] = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Classify texts with a model (in process) or a running service (--url); prints label and score."""
    import json

    items = list(texts or [])
    if url is not None and ref is not None:
        items.insert(0, ref)  # with --url every argument is a text
        ref = None
    inputs = read_input_texts(items, file)
    if url is not None:
        from nlpops.serve.client import classify

        answer = classify(url, inputs, api_key=api_key)
        results = [(p["label"], float(p["score"])) for p in answer["predictions"]]
    elif ref is None:
        raise DataError("Name a model (bundle path, NAME@ALIAS or NAME:VERSION) or pass --url URL.")
    else:
        from nlpops.api import load

        results = load(ref, config=load_cli_config(config)).predict(inputs)
    for text, (label, score) in zip(inputs, results, strict=True):
        if as_json:
            sys.stdout.write(json.dumps({"text": text, "label": label, "score": round(score, 6)}, ensure_ascii=False))
            sys.stdout.write("\n")
        else:
            sys.stdout.write(f"{label}\t{score:.4f}\t{text}\n")


def demo_command(
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the model at the end.")] = True,
    port: Annotated[int, typer.Option("--port", help="Port for the demo service.")] = 8000,
    config: ConfigOption = None,
) -> None:
    """The main job on embedded defaults: train banking77, evaluate, register, promote, then serve it."""
    from nlpops.api import train
    from nlpops.data import bundled_dataset
    from nlpops.registry import open_registry

    cfg = load_cli_config(config, {"name": "banking77"})
    console = stdout_console()
    console.rule("[bold]nlpops demo[/]: banking77 intents (77 labels, CC BY 4.0, PolyAI)")
    with spinner("Training TF-IDF on banking77") as update:
        result = train(
            bundled_dataset("banking77", "train"),
            test=bundled_dataset("banking77", "test"),
            config=cfg,
            name="banking77",
            out=Path("models") / f"banking77-{_stamp()}",
            register=True,
            progress=update,
        )
    metrics = result.metrics
    assert result.registered is not None
    version = result.registered
    registry = open_registry(cfg.registry)
    registry.promote(version.name, version.version, "production")
    console.print(
        f"Trained and evaluated: accuracy [bold]{metrics['accuracy']:.4f}[/], "
        f"macro-F1 [bold]{metrics['macro_f1']:.4f}[/] on {metrics['rows']} test rows"
    )
    console.print(f"Bundle: {result.bundle.path} ({result.bundle.size_bytes / 1e6:.1f} MB, checksummed)")
    console.print(f"Registered [bold]banking77:{version.version}[/] in {registry.location} and promoted to production")
    console.print("\nNext:")
    console.print('  nlpops predict banking77@production "I still have not received my new card"')
    console.print(f"  nlpops evaluate banking77@production --data {bundled_dataset('banking77', 'test')}")
    console.print("  nlpops registry log banking77")
    if not serve:
        console.print("  nlpops serve banking77@production")
        return
    _serve_demo(cfg, port, console)


def _serve_demo(cfg: Any, port: int, console: Any) -> None:
    try:
        from nlpops.cli.serve import serve_command
    except ImportError:
        console.print("  nlpops serve banking77@production   (serving is not installed in this build)")
        return
    console.print(f"\nServing banking77@production on http://127.0.0.1:{port} (Ctrl+C to stop). Try:")
    console.print(
        f"  curl -s http://127.0.0.1:{port}/v1/classify -H 'Content-Type: application/json' "
        '-d \'{"text": "I still have not received my new card"}\''
    )
    serve_command("banking77@production", port=port, engine="uvicorn", lang=None, config=None)


def _stamp() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    app.command("predict")(predict_command)
    app.command("demo")(demo_command)


__all__ = ["register"]
