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


def register(app: typer.Typer) -> None:
    """Add ``nlpops serve`` to the app."""
    app.command("serve")(serve_command)


__all__ = ["ENGINES", "register", "serve_command"]
