"""``nlpops serve REF``: the HTTP service over a bundle path, ``NAME@ALIAS`` or ``NAME:VERSION``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nlpops.cli.options import ConfigOption

ENGINES = ("uvicorn", "ray")


def serve_command(
    ref: Annotated[str, typer.Argument(help="A bundle path, NAME, NAME@ALIAS (follows the alias) or NAME:VERSION.")],
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (serving.host; default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", "-p", help="Port (serving.port; default 8000).")] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", help="Worker processes (serving.workers; default 1); replicas with ray."),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            metavar="[uvicorn|ray]",
            help="uvicorn: the nlpops service (micro-batching, hot swap, monitoring); "
            'ray: a Ray Serve deployment (pip install "nlpops[ray]").',
        ),
    ] = "uvicorn",
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="Serve one language of a model set only (serving.lang), e.g. --lang de."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Serve a model over HTTP: POST /v1/classify, /v1/models, /healthz, /readyz, /metrics, /docs.

    With monitoring.metrics (default) the uvicorn engine also serves the status page (GET /) and
    GET /v1/status, and records live statistics for drift detection.
    """
    from nlpops.checklist import find_config_file, load_config
    from nlpops.errors import ConfigError

    if engine not in ENGINES:
        raise ConfigError(f'Unknown engine "{engine}". Use --engine uvicorn (default) or --engine ray.')
    flags = {"host": host, "port": port, "workers": workers, "lang": lang}
    overrides: dict[str, Any] = {"serving": {k: v for k, v in flags.items() if v is not None}}
    if not overrides["serving"]:
        overrides = {}
    loaded = load_config(config, overrides)
    if engine == "ray":
        from nlpops.serve.ray import serve_ray

        replicas = loaded.serving.workers
        serve_ray(ref, loaded.serving, loaded.registry, min_replicas=replicas, max_replicas=replicas)
        return
    from nlpops.monitor.service import HOOKS_PATH
    from nlpops.serve.server import serve

    print_banner(ref, loaded)
    config_file: Path | None = find_config_file(config)
    serve(
        ref,
        loaded.serving,
        loaded.monitoring,
        loaded.registry,
        config_path=config_file.resolve() if config_file is not None else None,
        overrides=overrides,
        hooks=HOOKS_PATH if loaded.monitoring.metrics else None,
    )


def banner_lines(ref: str, name: str, version: str, config: Any) -> list[str]:
    """What ``nlpops serve`` says before it starts: the model and version, where to reach it, whether it needs a
    key."""
    from nlpops.serve.source import follows_alias

    serving = config.serving
    host = f"[{serving.host}]" if ":" in serving.host else serving.host
    base = f"http://{host}:{serving.port}" if serving.port else f"http://{host}:PORT (a free port, see below)"
    follow = ", follows the alias: hot-swaps when it moves" if follows_alias(ref) else ""
    lang = f", language {serving.lang} only" if serving.lang else ""
    lines = [f"Serving {name} version {version} ({ref}{follow}{lang}) on {base}"]
    if config.monitoring.metrics:
        lines.append(f"  status page  {base}/")
    lines.append(f"  API docs     {base}/docs    classify: POST {base}/v1/classify")
    keys = "required (Authorization: Bearer KEY; serving.api_keys)" if serving.api_keys else "not required"
    lines.append(f"  API key      {keys}")
    return lines


def print_banner(ref: str, config: Any) -> None:
    """Print :func:`banner_lines` on stderr (where the server's own log goes), resolving ``ref`` to its version."""
    from nlpops.cli.output import stderr_console
    from nlpops.serve.source import source_for_ref

    pointer = source_for_ref(ref, config.registry, config.serving.lang)()
    for line in banner_lines(ref, pointer.name, pointer.version, config):
        stderr_console().print(line, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``nlpops serve`` to the app."""
    app.command("serve")(serve_command)


__all__ = ["ENGINES", "banner_lines", "print_banner", "register", "serve_command"]
