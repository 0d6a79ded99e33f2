"""``nlpops monitor REF``: drift of a served version against its reference; ``--emit-rules DIR``: alerts, dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nlpops.cli.options import ConfigOption, JsonOption, load_cli_config
from nlpops.cli.output import print_json, stdout_console
from nlpops.errors import ConfigError


def monitor_command(
    ref: Annotated[str | None, typer.Argument(help="Bundle path, NAME, NAME@ALIAS or NAME:VERSION.")] = None,
    window_s: Annotated[
        float | None, typer.Option("--window-s", help="Seconds of live statistics to compare (monitoring.window_s).")
    ] = None,
    emit_rules: Annotated[
        Path | None, typer.Option("--emit-rules", help="Write Prometheus alert rules and a Grafana dashboard here.")
    ] = None,
    job: Annotated[str, typer.Option("--job", help="Prometheus job name that scrapes the service.")] = "nlpops",
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Report drift of live traffic against the model's reference (exit 3 when drifted)."""
    cfg = load_cli_config(config)
    if ref is None and emit_rules is None:
        raise ConfigError("Give a model to check (nlpops monitor NAME@production) or --emit-rules DIR.")
    if emit_rules is not None:
        from nlpops.monitor import save_monitoring_files

        paths = save_monitoring_files(emit_rules, job=job, p95_ms=cfg.latency.p95_ms, max_queue=cfg.serving.max_queue)
        if not as_json:
            for path in paths:
                stdout_console().print(f"wrote {path}")
    if ref is None:
        return
    from nlpops.monitor import check_drift

    report = check_drift(ref, cfg.monitoring, cfg.registry, window_s=window_s)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    if report.status == "drift":
        raise typer.Exit(3)


def _print_report(report: object) -> None:
    from rich.table import Table

    data = report.to_dict()  # type: ignore[attr-defined]
    console = stdout_console()
    console.print(
        f"[bold]{data['model']}[/] version {data['version']}: {data['status'].replace('_', ' ')} "
        f"({data['live_rows']} live texts)"
    )
    table = Table("statistic", "lang", "test", "PSI", "statistic value", "p-value", "drifted")
    for check in data["checks"]:
        table.add_row(
            check["statistic"],
            check["lang"],
            check["test"],
            f"{check['psi']:.3f}",
            f"{check['test_statistic']:.3f}",
            f"{check['p_value']:.2g}",
            "yes" if check["drifted"] else "no",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``nlpops monitor`` to the app."""
    app.command("monitor")(monitor_command)


__all__ = ["monitor_command", "register"]
