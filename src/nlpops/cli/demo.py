"""``nlpops demo``: train, evaluate, register and promote the banking77 model, then serve it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nlpops.cli.options import ConfigOption, load_cli_config, spinner
from nlpops.cli.output import stdout_console


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
    same = f" -c {config}" if config is not None else ""  # the next commands read the same registry
    console.print("\nNext:")
    console.print(f'  nlpops predict banking77@production "I still have not received my new card"{same}')
    console.print(f"  nlpops evaluate banking77@production --data {bundled_dataset('banking77', 'test')}{same}")
    console.print(f"  nlpops registry log banking77{same}")
    if not serve:
        console.print(f"  nlpops serve banking77@production{same}")
        return
    _serve_demo(config, port, console)


def _serve_demo(config: Path | None, port: int, console: Any) -> None:
    """Serve what the demo registered: from the same config (so the same registry) it registered into."""
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
    serve_command("banking77@production", port=port, engine="uvicorn", lang=None, config=config)


def _stamp() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def register(app: typer.Typer) -> None:
    """Add ``nlpops demo`` to the app."""
    app.command("demo")(demo_command)


__all__ = ["register"]
