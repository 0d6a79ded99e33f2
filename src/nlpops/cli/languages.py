"""``nlpops compare-languages`` and ``detect-language`` (training by language is ``nlpops train --strategy``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nlpops.cli.options import ConfigOption, JsonOption, load_cli_config, spinner
from nlpops.cli.output import print_json, stdout_console

StrategyOption = Annotated[
    str | None,
    typer.Option("--strategy", "-s", help="per-language, multilingual or auto (languages.strategy; default auto)."),
]


def _read_split(cfg: Any, data: Path, test: Path | None) -> tuple[Any, Any]:
    """Training and test data: ``--test`` if given, else a stratified split of ``data``."""
    from nlpops.data import read_dataset, split_dataset

    columns = {
        "text_column": cfg.data.text_column,
        "label_column": cfg.data.label_column,
        "lang_column": cfg.data.lang_column,
    }
    train_set = read_dataset(data, **columns)
    if test is not None:
        return train_set, read_dataset(test, **columns)
    return split_dataset(train_set, cfg.data.test_size, cfg.data.seed)


def compare_languages_command(
    data: Annotated[Path, typer.Argument(help="Multilingual training data (CSV, JSONL or Parquet).")],
    test: Annotated[
        Path | None, typer.Option("--test", help="Held-out test data; default: a stratified split.")
    ] = None,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Keep both bundles in this folder (default: a temporary one).")
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train per-language and multilingual on the same split; one table of macro-F1 per language as served
    (and routed by the stated lang), routing accuracy, size, memory and latency; recommends a strategy."""
    from nlpops.languages import compare_languages

    cfg = load_cli_config(config)
    train_set, test_set = _read_split(cfg, data, test)
    with spinner("Comparing", not as_json) as update:
        result = compare_languages(
            cfg, train_set, test_set, workdir=keep, progress=update, measure_memory=_service_memory
        )
    if as_json:
        print_json(result.to_dict())
        return
    print_comparison(result)


def _service_memory(bundle_dir: Path) -> int:
    """RSS of a fresh process that loaded the bundle and predicted (``nlpops profile``'s measurement)."""
    from nlpops.profile import profile_bundle

    profile = profile_bundle(
        bundle_dir, budget_s=0.2, batch_sizes=(1,), threads=1, repeats=1, runtimes=("own",), languages=False
    )
    return int(profile["rss_after_load_bytes"])


def print_comparison(result: Any) -> None:
    """The comparison as one rich table (languages as rows, strategies as columns), then the recommendation."""
    from rich.table import Table

    per, multi = result.strategies
    table = Table(
        title="Macro-F1 as served (no lang in requests)",
        caption="per-language: the model set routed by detection; (stated lang): routed by each text's lang; "
        "routing: share of texts detection sent to the right model",
    )
    for header in ("", "rows", per.strategy, "(stated lang)", multi.strategy, "routing"):
        table.add_column(header, justify="left" if not header else "right")
    for lang in sorted(per.per_language_macro_f1):
        table.add_row(
            lang,
            str(result.test_rows.get(lang, "")),
            f"{per.per_language_macro_f1[lang]:.3f}",
            _maybe(per.stated_lang_per_language_macro_f1.get(lang)),
            f"{multi.per_language_macro_f1.get(lang, 0.0):.3f}",
            _maybe(result.routing_accuracy_per_language.get(lang)),
        )
    table.add_row(
        "overall",
        str(sum(result.test_rows.values())),
        f"{per.macro_f1:.3f}",
        _maybe(per.stated_lang_macro_f1),
        f"{multi.macro_f1:.3f}",
        f"{result.routing_accuracy:.3f}",
    )
    console = stdout_console()
    console.print(table)
    costs = Table(title="Costs")
    for header in ("", per.strategy, multi.strategy):
        costs.add_column(header, justify="left" if not header else "right")
    costs.add_row("bundle size MB", f"{per.size_bytes / 1e6:.1f}", f"{multi.size_bytes / 1e6:.1f}")
    memory = "memory MB (process)" if per.memory_measured == "process" else "memory MB (growth)"
    costs.add_row(memory, f"{per.memory_bytes / 1e6:.1f}", f"{multi.memory_bytes / 1e6:.1f}")
    costs.add_row("p50 ms (1 text)", f"{per.p50_ms:.2f}", f"{multi.p50_ms:.2f}")
    costs.add_row("p95 ms (1 text)", f"{per.p95_ms:.2f}", f"{multi.p95_ms:.2f}")
    costs.add_row("texts/s (batch 64)", f"{per.batch_texts_per_s:.0f}", f"{multi.batch_texts_per_s:.0f}")
    console.print(costs)
    chosen = result.detection.get("chosen", "?")
    console.print(f"Routing by detection: {chosen} (calibrated on {result.detection.get('calibrated_on', '?')}).")
    recommendation = result.recommendation
    console.print(
        f"Recommended: [bold]{recommendation['strategy']}[/] ({recommendation['reason']}). "
        f"Train it with: nlpops train --strategy {recommendation['strategy']} (--strategy auto decides the same way "
        "on held-out training rows)."
    )


def _maybe(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def detect_language_command(
    texts: Annotated[list[str], typer.Argument(help="Texts to detect the language of.")],
    languages: Annotated[
        str | None, typer.Option("--languages", "-l", help="Comma-separated served languages (default: any).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Detect the language of each text (ISO 639-1, ``und`` when too short, mixed or unknown)."""
    from nlpops.languages import LanguageDetector

    served = [x.strip() for x in languages.split(",") if x.strip()] if languages else None
    detector = LanguageDetector(served)
    found = [detector.detect_with_confidence(t) for t in texts]
    rows = [{"text": t, "lang": lang, "confidence": round(p, 4)} for t, (lang, p) in zip(texts, found, strict=True)]
    if as_json:
        print_json(rows)
        return
    console = stdout_console()
    for row in rows:
        console.print(f"{row['lang']:<4} {row['confidence']:.3f}  {row['text']}", markup=False)


def register(app: typer.Typer) -> None:
    """Add the language commands to the app."""
    app.command("compare-languages")(compare_languages_command)
    app.command("detect-language")(detect_language_command)


__all__ = ["compare_languages_command", "detect_language_command", "register"]
