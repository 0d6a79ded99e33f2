"""``nlpops retrain``: challenger vs champion with gates; ``--schedule CRON`` runs it as a long-lived scheduler."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nlpops.cli.options import ConfigOption, JsonOption, load_cli_config, progress_bar
from nlpops.cli.output import print_json, stderr_console, stdout_console


def retrain_command(
    data: Annotated[list[Path], typer.Option("--data", "-d", help="New training data (repeatable).")],
    old: Annotated[Path | None, typer.Option("--old", help="Earlier training data to train on as well.")] = None,
    test: Annotated[Path | None, typer.Option("--test", help="Held-out set both models are scored on.")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Model name (default: config name).")] = None,
    alias: Annotated[str, typer.Option("--alias", help="Alias the champion holds.")] = "production",
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder for challenger bundles.")] = Path("models"),
    schedule: Annotated[
        str | None, typer.Option("--schedule", help='Run on this cron schedule, e.g. "0 3 * * 0" (runs until stopped).')
    ] = None,
    on_drift: Annotated[
        bool, typer.Option("--on-drift", help="On each scheduled run, retrain only if NAME@ALIAS has drifted.")
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a challenger, compare it with the champion on one held-out set, promote it only if every gate passes."""
    from nlpops.api import read_labelled
    from nlpops.registry import open_registry
    from nlpops.retrain import load_training_data, next_run, retrain, run_schedule

    cfg = load_cli_config(config)
    model_name = name or cfg.name

    def run_once() -> None:
        if on_drift:
            from nlpops.monitor import check_drift

            report = check_drift(f"{model_name}@{alias}", cfg.monitoring, cfg.registry)
            if report.status != "drift":
                stderr_console().print(f"no drift on {model_name}@{alias} ({report.status}); not retraining")
                return
        paths = [*([old] if old else []), *data]
        with progress_bar("Retraining", not as_json) as progress:
            result = retrain(
                cfg,
                load_training_data(paths, cfg),
                open_registry(cfg.registry),
                test=read_labelled(test, cfg) if test is not None else None,
                name=model_name,
                alias=alias,
                out_dir=out_dir,
                progress=progress,
            )
        _print(result.to_dict(), as_json)

    cron = schedule or (cfg.retraining.schedule if on_drift else None)
    if cron is None:
        run_once()
        return
    from datetime import UTC, datetime

    next_run(cron, datetime.now(UTC))  # an invalid expression fails now, not at the first tick
    stderr_console().print(f"retraining {model_name} on schedule {cron!r} (Ctrl-C to stop)")
    run_schedule(cron, run_once)


def _print(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    console = stdout_console()
    verdict = "promoted" if report["promoted"] else "NOT promoted"
    console.print(
        f"[bold]{report['name']}[/] challenger v{report['challenger_version']} {verdict} to {report['alias']} "
        f"(decided by: {report['decided_by']})"
    )
    for gate in report["gates"]:
        console.print(
            f"  {'pass' if gate['passed'] else 'FAIL'}  {gate['name']}: {gate['detail']} (limit {gate['limit']})"
        )


def register(app: typer.Typer) -> None:
    """Add ``nlpops retrain`` to the app."""
    app.command("retrain")(retrain_command)


__all__ = ["register", "retrain_command"]
