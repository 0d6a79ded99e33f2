"""``nlpops registry list|show|promote|rollback|log|rebuild``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from nlpops.cli.options import ConfigOption, JsonOption, PlainTyper, load_cli_config
from nlpops.cli.output import print_json, stdout_console

registry_app = PlainTyper(help="The model registry: versions, aliases and the event log.", no_args_is_help=True)


def _open(config: Any) -> Any:
    from nlpops.registry import open_registry

    return open_registry(load_cli_config(config).registry)


def _version_row(v: Any) -> dict[str, Any]:
    row = asdict(v)
    row["bundle_path"] = str(v.bundle_path)
    row["metrics"] = {k: v.metrics[k] for k in ("accuracy", "macro_f1") if k in v.metrics}
    return row


@registry_app.command("list")
def list_command(
    name: Annotated[str | None, typer.Argument(help="A model name: list its versions.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List models (or the versions of one model) with their aliases."""
    from rich.table import Table

    registry = _open(config)
    names = [name] if name else registry.list_models()
    rows = []
    for model in names:
        aliases = registry.aliases(model)
        for v in registry.list_versions(model):
            row = _version_row(v)
            row["aliases"] = sorted(a for a, target in aliases.items() if target == v.version)
            rows.append(row)
    if as_json:
        print_json(rows)
        return
    if not rows:
        stdout_console().print(f"No models in {registry.location}. Register one: nlpops train --data FILE --register")
        return
    table = Table("name", "version", "aliases", "family", "runtime", "macro-F1", "created", "by")
    for row in rows:
        f1 = row["metrics"].get("macro_f1")
        table.add_row(
            row["name"],
            str(row["version"]),
            ", ".join(row["aliases"]),
            row["family"],
            row["runtime"],
            "" if f1 is None else f"{f1:.4f}",
            row["created_at"],
            row["created_by"],
        )
    stdout_console().print(table)


@registry_app.command("show")
def show_command(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@ALIAS or NAME:VERSION.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one registered version: bundle, metrics, aliases."""
    from nlpops.registry import parse_ref, resolve_bundle

    parsed = parse_ref(ref)
    if parsed.name is None:
        from nlpops.errors import RegistryError

        raise RegistryError(f'"{ref}" is a path, not a registry reference. Use NAME@ALIAS or NAME:VERSION.')
    resolved = resolve_bundle(parsed, load_cli_config(config).registry)
    registry, version = resolved.registry, resolved.entry
    assert registry is not None and version is not None  # a registry reference
    row = _version_row(version)
    row["metrics"] = version.metrics
    row["aliases"] = sorted(a for a, t in registry.aliases(version.name).items() if t == version.version)
    if as_json:
        print_json(row)
        return
    console = stdout_console()
    for key in (
        "name",
        "version",
        "aliases",
        "family",
        "runtime",
        "bundle_version",
        "bundle_path",
        "created_at",
        "created_by",
    ):
        console.print(f"{key:>15}  {row[key]}")
    for key in ("accuracy", "macro_f1", "rows"):
        if key in version.metrics:
            console.print(f"{key:>15}  {version.metrics[key]}")


@registry_app.command("promote")
def promote_command(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version number to point the alias at.")],
    alias: Annotated[str, typer.Option("--alias", "-a", help="Alias to move.")] = "production",
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move an alias (default: production) to a version. Running services follow it."""
    event = _open(config).promote(name, version, alias)
    if as_json:
        print_json(asdict(event))
        return
    before = "" if event.previous_version is None else f" (was {event.previous_version})"
    stdout_console().print(f"{name}@{alias} -> version {version}{before}", markup=False)


@registry_app.command("rollback")
def rollback_command(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Option("--alias", "-a", help="Alias to move back.")] = "production",
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move an alias back to the version it pointed at before its last move."""
    event = _open(config).rollback(name, alias)
    if as_json:
        print_json(asdict(event))
        return
    stdout_console().print(
        f"{name}@{alias} rolled back to version {event.version} (was {event.previous_version})", markup=False
    )


@registry_app.command("rebuild")
def rebuild_command(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Rebuild a lost registry.db (missing, empty, corrupt) from the bundles stored under artifacts/."""
    from nlpops.errors import RegistryError
    from nlpops.registry import SqliteRegistry

    settings = load_cli_config(config).registry
    if settings.backend != "sqlite":
        raise RegistryError(f'Only the sqlite registry can be rebuilt; registry.backend is "{settings.backend}".')
    report = SqliteRegistry(settings.home).rebuild()
    if as_json:
        print_json(
            {
                "registry": str(settings.home),
                "restored": [{"name": name, "version": version} for name, version in report.restored],
                "kept_as": None if report.kept_as is None else str(report.kept_as),
                "skipped": [{"folder": folder, "reason": reason} for folder, reason in report.skipped],
            }
        )
        return
    console = stdout_console()
    models = len({name for name, _ in report.restored})
    console.print(
        f"Rebuilt {settings.home}/registry.db: {len(report.restored)} versions of {models} models, each under "
        "its stored number. Aliases, the event log and attachments were not recoverable: promote again "
        "(nlpops registry promote NAME VERSION)."
    )
    if report.kept_as is not None:
        console.print(f"The damaged database was kept as {report.kept_as}.")
    for folder, reason in report.skipped:
        console.print(f"skipped {folder}: {reason}")


@registry_app.command("log")
def log_command(
    name: Annotated[str | None, typer.Argument(help="Only this model's events.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Newest N events.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The append-only event log: registered, promoted, rolled back — by whom and when."""
    from rich.table import Table

    events = _open(config).events(name, limit)
    if as_json:
        print_json([asdict(e) for e in events])
        return
    table = Table("id", "when", "who", "action", "model", "version", "alias", "previous")
    for e in events:
        table.add_row(
            str(e.id),
            e.ts,
            e.actor,
            e.action,
            e.name,
            str(e.version),
            e.alias or "",
            "" if e.previous_version is None else str(e.previous_version),
        )
    stdout_console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")


__all__ = ["register"]
