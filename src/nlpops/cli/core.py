"""``nlpops train``, ``evaluate`` and ``predict``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from nlpops.cli.options import ConfigOption, JsonOption, load_cli_config, progress_bar
from nlpops.cli.output import print_json, stderr_console, stdout_console
from nlpops.data import is_classifiable
from nlpops.errors import ConfigError, DataError
from nlpops.tasks import TASKS


def train_command(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", "-d", help="Training data (CSV, JSONL or Parquet); --task embedding: optional reference texts."
        ),
    ] = None,
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
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            help="classification, multilabel, entities or embedding (model.task). Default: from the data "
            '(a "labels" list: multilabel; "entities": entities).',
        ),
    ] = None,
    skip_bad_rows: Annotated[
        bool,
        typer.Option(
            "--skip-bad-rows", help="Leave unusable rows out (counted and listed) instead of refusing the data."
        ),
    ] = False,
    encoder: Annotated[
        str | None,
        typer.Option(
            "--encoder",
            help="Transformer family: all-MiniLM-L6-v2, multilingual-e5-small or a local Hugging Face or "
            "sentence-transformers folder (model.transformer.encoder).",
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a model on a dataset and write a verified bundle (optionally registered).

    The task comes from the data (or --task) and picks the family unless --family names one: tfidf for
    classification and multilabel, spacy for entities, transformer for embedding (the encoder as it is:
    --data is optional, its texts are the reference and, labelled, evaluate it).
    """
    from nlpops.api import train

    overrides: dict[str, Any] = {}
    model: dict[str, Any] = {k: v for k, v in (("family", family), ("task", task)) if v}
    if encoder:
        model["transformer"] = {"encoder": encoder}
    if model:
        overrides["model"] = model
    columns: dict[str, Any] = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v}
    if skip_bad_rows:
        columns["skip_bad_rows"] = True
    if columns:
        overrides["data"] = columns
    if strategy:
        overrides["languages"] = {"strategy": strategy}
    if promote and not register:
        raise ConfigError("--promote needs --register (only registered versions can be promoted).")
    cfg = load_cli_config(config, overrides)
    if data is None and cfg.model.task != "embedding":  # a usage error (exit 2), as a missing required option is
        raise typer.BadParameter("training needs data (only --task embedding trains without).", param_hint="--data")
    with progress_bar("Training", not as_json) as update:
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
            family=family,
            promote=promote,
        )
    promoted = result.promoted
    manifest = result.bundle.manifest
    headline = TASKS[manifest.task].metric
    summary: dict[str, Any] = {
        "bundle": str(result.bundle.path),
        "name": manifest.name,
        "family": manifest.family,
        "task": manifest.task,
        "labels": len(manifest.labels),
        "accuracy": manifest.metrics.get("accuracy"),
        "macro_f1": manifest.metrics.get("macro_f1"),
        headline: manifest.metrics.get(headline),
        "micro_f1": manifest.metrics.get("micro_f1"),
        "runtime": manifest.runtime,
        "languages": manifest.languages,
        "models": sorted(manifest.metrics.get("sub_models", {})) or None,
        "per_language": {k: v["macro_f1"] for k, v in manifest.metrics.get("per_language", {}).items()},
        **_routing_summary(manifest.metrics),
        "language_codes": result.lang_codes.renamed if result.lang_codes is not None else {},
        "size_bytes": result.bundle.size_bytes,
        "registered": None if result.registered is None else f"{result.registered.name}:{result.registered.version}",
        "promoted": promoted,
        "skipped_rows": [{"source": source, "line": row.line, "reason": row.reason} for source, row in result.skipped],
    }
    if as_json:
        print_json(summary)
        return
    if result.skipped:
        lines = ", ".join(str(row.line) for _, row in result.skipped[:20]) + (
            ", ..." if len(result.skipped) > 20 else ""
        )
        stderr_console().print(f"Skipped {len(result.skipped)} bad rows (--skip-bad-rows; lines {lines}).")
    console = stdout_console()
    kind = "" if manifest.task == "classification" else f"{manifest.task}, "
    size = (
        f"{manifest.runtime_options.get('dim')}-d" if manifest.task == "embedding" else f"{len(manifest.labels)} labels"
    )
    console.print(f"Trained [bold]{manifest.name}[/] ({kind}{manifest.family}, {size})")
    if result.lang_codes is not None and result.lang_codes.renamed:
        console.print(f"  language codes normalised: {result.lang_codes.describe()}")
    if manifest.metrics:
        served = " as served (routed by detection)" if summary["routed_by"] else ""
        console.print("  " + _headline(manifest.task, manifest.metrics) + served)
    if summary["stated_lang_macro_f1"] is not None:
        console.print(
            f"  routed by the stated lang: macro-F1 {summary['stated_lang_macro_f1']:.4f}   "
            f"routing accuracy {summary['routing_accuracy']:.4f}"
        )
    if summary["models"]:
        console.print(
            f"  model set: one model per language ({', '.join(summary['models'])}), routed by {summary['routed_by']}"
        )
    if summary["strategy_choice"]:
        choice = summary["strategy_choice"]
        console.print(f"  strategy auto chose {choice['strategy']}: {choice['reason']}")
    routing = summary["per_language_routing"]
    for lang, f1 in summary["per_language"].items():
        extra = f"   routing accuracy {routing[lang]:.4f}" if lang in routing else ""
        console.print(f"    {lang:<5} macro-F1 {f1:.4f}{extra}")
    console.print(f"  bundle  {result.bundle.path}  ({result.bundle.size_bytes / 1e6:.1f} MB)")
    if result.registered is not None:
        line = f"  registered as {summary['registered']}"
        console.print(line + (f", alias {promoted}" if promoted else ""))


def _routing_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """How a model set's figures were routed: the headline routed by detection (as served), the stated-lang
    figures beside it, routing accuracy; and how ``--strategy auto`` chose. Nones for a single model."""
    detection = metrics.get("detection") or {}
    stated = metrics.get("routed_by_stated_lang") or {}
    routing = metrics.get("routing") or {}
    return {
        "routed_by": detection.get("chosen"),
        "stated_lang_macro_f1": stated.get("macro_f1"),
        "routing_accuracy": routing.get("accuracy"),
        "per_language_routing": {k: v["accuracy"] for k, v in (routing.get("per_language") or {}).items()},
        "strategy_choice": metrics.get("strategy_choice"),
    }


def _headline(task: str, metrics: dict[str, Any]) -> str:
    """The test figures of a training run, in the task's terms."""
    if task == "multilabel":
        return f"test micro-F1 {metrics['micro_f1']:.4f}   macro-F1 {metrics['macro_f1']:.4f} (tuned thresholds)"
    if task == "entities":
        return (
            f"test entity F1 {metrics['f1']:.4f} (exact spans; precision {metrics['precision']:.4f}, recall "
            f"{metrics['recall']:.4f})   partial-overlap F1 {metrics['partial']['f1']:.4f}"
        )
    if "accuracy" in metrics:
        return f"test accuracy {metrics['accuracy']:.4f}   macro-F1 {metrics['macro_f1']:.4f}"
    metric = TASKS[task].metric  # type: ignore[index]
    return f"test {metric} {metrics.get(metric, float('nan')):.4f}"


def evaluate_command(
    ref: Annotated[str, typer.Argument(help="Bundle path, NAME@ALIAS or NAME:VERSION.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="Labelled test data (CSV, JSONL or Parquet).")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate a model with its task's metrics: accuracy, macro-F1, per-class precision/recall/F1 and confusions
    (classification); micro/macro-F1, per-label precision/recall/F1 and thresholds (multilabel); exact-span and
    partial-overlap precision/recall/F1 per entity type (entities); leave-one-out nearest-neighbour label accuracy
    (embedding); per language too."""
    from nlpops.api import evaluate

    report = evaluate(ref, data, config=load_cli_config(config))
    if as_json:
        print_json(report)
        return
    print_report(report)


def print_report(report: dict[str, Any]) -> None:
    """Human-readable evaluation report."""
    task = report.get("task", "classification")
    if task == "multilabel":
        print_multilabel_report(report)
        return
    if task == "entities":
        print_entities_report(report)
        return
    if task == "embedding":
        print_embedding_report(report)
        return
    if task != "classification":  # a task without its own printer: the headline figure (all of it: --json)
        metric = TASKS[task].metric
        stdout_console().print(
            f"[bold]{report['model']}[/] {report['version']} on {report['data']} ({report.get('rows', '?')} rows): "
            f"{metric} [bold]{report.get(metric, float('nan')):.4f}[/]  (every figure: --json)"
        )
        return
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
        print_language_table(report)


def print_language_table(report: dict[str, Any]) -> None:
    """Per-language figures; for a model set, as served and routed by the stated lang, and routing accuracy."""
    from rich.table import Table

    console = stdout_console()
    stated = (report.get("routed_by_stated_lang") or {}).get("per_language") or {}
    routing = (report.get("routing") or {}).get("per_language") or {}
    if not stated:
        langs = Table("language", "rows", "accuracy", "macro-F1", title="Per language")
        for lang, row in report["per_language"].items():
            langs.add_row(lang, str(row["rows"]), f"{row['accuracy']:.4f}", f"{row['macro_f1']:.4f}")
        console.print(langs)
        return
    by_stated = report["routed_by_stated_lang"]
    console.print(
        f"Model set, routed by detection as served (above); routed by the stated lang: accuracy "
        f"{by_stated['accuracy']:.4f}  macro-F1 {by_stated['macro_f1']:.4f}; routing accuracy "
        f"{report['routing']['accuracy']:.4f}"
    )
    langs = Table(
        "language",
        "rows",
        "macro-F1 (routed by detection)",
        "macro-F1 (routed by stated lang)",
        "routing accuracy",
        title="Per language",
    )
    for lang, row in report["per_language"].items():
        langs.add_row(
            lang,
            str(row["rows"]),
            f"{row['macro_f1']:.4f}",
            f"{stated[lang]['macro_f1']:.4f}" if lang in stated else "",
            f"{routing[lang]['accuracy']:.4f}" if lang in routing else "",
        )
    console.print(langs)


def print_multilabel_report(report: dict[str, Any]) -> None:
    """Human-readable evaluation report of a multi-label model."""
    from rich.table import Table

    console = stdout_console()
    console.print(
        f"[bold]{report['model']}[/] {report['version']} on {report['data']} ({report['rows']} rows): "
        f"micro-F1 [bold]{report['micro_f1']:.4f}[/]  macro-F1 [bold]{report['macro_f1']:.4f}[/]  "
        f"exact match {report.get('exact_match', 0.0):.4f}"
    )
    table = Table("label", "threshold", "precision", "recall", "F1", "support", title="Per label")
    for label, row in report["per_label"].items():
        table.add_row(
            label,
            f"{row['threshold']:.3f}",
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
        )
    console.print(table)
    if report.get("per_language"):
        langs = Table("language", "rows", "micro-F1", "macro-F1", title="Per language")
        for lang, row in report["per_language"].items():
            langs.add_row(lang, str(row["rows"]), f"{row['micro_f1']:.4f}", f"{row['macro_f1']:.4f}")
        console.print(langs)


def print_entities_report(report: dict[str, Any]) -> None:
    """Human-readable evaluation report of an entity model."""
    from rich.table import Table

    console = stdout_console()
    console.print(
        f"[bold]{report['model']}[/] {report['version']} on {report['data']} ({report['rows']} rows): entity F1 "
        f"[bold]{report['f1']:.4f}[/] (exact spans: precision {report['precision']:.4f}, recall "
        f"{report['recall']:.4f})  partial-overlap F1 {report['partial']['f1']:.4f}"
    )
    table = Table("type", "precision", "recall", "F1", "partial F1", "gold", "predicted", title="Per entity type")
    for label, row in report["per_type"].items():
        table.add_row(
            label,
            *(f"{row[key]:.3f}" for key in ("precision", "recall", "f1", "partial_f1")),
            str(row["support"]),
            str(row["predicted"]),
        )
    console.print(table)


def _write_spans(texts: list[str], spans: Any, as_json: bool) -> None:
    """``nlpops predict`` for an entity model: each text's spans, as JSON lines or ``type start:end surface``."""
    import json

    for text, found in zip(texts, spans, strict=True):
        items = [
            {"start": s.start, "end": s.end, "label": s.label, "text": s.text_of(text), "score": s.score} for s in found
        ]
        if as_json:
            sys.stdout.write(json.dumps({"text": text, "entities": items}, ensure_ascii=False) + "\n")
        else:
            shown = ", ".join(f"{e['label']} {e['start']}:{e['end']} {e['text']}" for e in items) or "-"
            sys.stdout.write(f"{shown}\t{text}\n")


def print_embedding_report(report: dict[str, Any]) -> None:
    """Human-readable evaluation report of an embedding model (leave-one-out nearest-neighbour accuracy)."""
    from rich.table import Table

    console = stdout_console()
    console.print(
        f"[bold]{report['model']}[/] {report['version']} on {report['data']} ({report['rows']} rows, "
        f"{report['labels']} labels): nearest-neighbour accuracy [bold]{report['knn_accuracy']:.4f}[/]  "
        f"5 nearest (majority) {report['knn5_accuracy']:.4f}"
    )
    if report.get("per_language"):
        langs = Table("language", "rows", "1-NN", "5-NN", title="Per language (neighbours of the same language)")
        for lang, row in report["per_language"].items():
            langs.add_row(lang, str(row["rows"]), f"{row['knn_accuracy']:.4f}", f"{row['knn5_accuracy']:.4f}")
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
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", min=0.001, help="With --url: seconds to wait for the service's answer.")
    ] = 10.0,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Classify texts with a model (in process) or a running service (--url); prints label and score (a
    multi-label model: every label above its threshold, comma-separated; an entity model: each span as type,
    start:end and its text; an embedding model: its vector)."""
    import json

    items = list(texts or [])
    if url is not None and ref is not None:
        items.insert(0, ref)  # with --url every argument is a text
        ref = None
    inputs = read_input_texts(items, file)
    multilabel = False
    if url is not None:
        from nlpops.client import Client

        with Client(url, api_key=api_key, timeout_s=timeout_s) as client:
            answer = client.classify(inputs)
        predictions = answer["predictions"]
        multilabel = bool(predictions) and "labels" in predictions[0]
        results = [
            [(x["label"], float(x["score"])) for x in p["labels"]] if multilabel else [(p["label"], float(p["score"]))]
            for p in predictions
        ]
    elif ref is None:
        raise DataError("Name a model (bundle path, NAME@ALIAS or NAME:VERSION) or pass --url URL.")
    else:
        from nlpops.api import load

        predictor = load(ref, config=load_cli_config(config))
        if predictor.task == "entities":
            _write_spans(inputs, predictor.predict_entities(inputs), as_json)
            return
        if predictor.task == "embedding":  # one vector per text, float32 numbers in their shortest exact form
            import orjson

            for text, vector in zip(inputs, predictor.embed(inputs), strict=True):
                line: object = {"text": text, "vector": vector} if as_json else vector
                sys.stdout.write(orjson.dumps(line, option=orjson.OPT_SERIALIZE_NUMPY).decode())
                sys.stdout.write("\n" if as_json else f"\t{text}\n")
            return
        multilabel = predictor.task == "multilabel"
        results = predictor.predict_labels(inputs)
    for text, found in zip(inputs, results, strict=True):
        if as_json:
            if multilabel:
                record: dict[str, Any] = {
                    "text": text,
                    "labels": [{"label": x, "score": round(y, 6)} for x, y in found],
                }
            else:
                record = {"text": text, "label": found[0][0], "score": round(found[0][1], 6)}
            sys.stdout.write(json.dumps(record, ensure_ascii=False))
            sys.stdout.write("\n")
        elif multilabel:
            labels = ",".join(label for label, _ in found)
            scores = ",".join(f"{score:.4f}" for _, score in found)
            sys.stdout.write(f"{labels}\t{scores}\t{text}\n")
        else:
            label, score = found[0]
            sys.stdout.write(f"{label}\t{score:.4f}\t{text}\n")


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    app.command("predict")(predict_command)


__all__ = ["register"]
