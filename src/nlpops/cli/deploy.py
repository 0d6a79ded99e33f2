"""``nlpops deploy --plan PLAN.json --target docker|compose|kubernetes|ray --out DIR``: render what the plan chose."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nlpops.cli.options import ConfigOption


def deploy_command(
    plan: Annotated[Path, typer.Option("--plan", help="The plan.json written by nlpops plan --out.")],
    target: Annotated[str, typer.Option("--target", "-t", help="docker, compose, kubernetes or ray.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the files into.")],
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="Bake this bundle into the image (default: serve NAME@ALIAS from a registry)."),
    ] = None,
    image: Annotated[str | None, typer.Option("--image", help="Image name (default nlpops-NAME:latest).")] = None,
    alias: Annotated[
        str | None,
        typer.Option("--alias", help="Registry alias the services follow (default: the plan's, e.g. production)."),
    ] = None,
    batch_schedule: Annotated[
        str, typer.Option("--batch-schedule", help="Cron schedule of the Kubernetes batch CronJob.")
    ] = "0 1 * * *",
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Render the deployment the plan chose (Dockerfile, Compose, Kubernetes manifests, Ray Serve config).

    Every file is validated before it is written; API keys are never written unless given in the environment
    as NLPOPS_DEPLOY_API_KEYS (a JSON list).
    """
    import os

    import orjson

    from nlpops.advisor import load_plan
    from nlpops.checklist import load_config
    from nlpops.cli.output import print_json, stdout_console
    from nlpops.deploy import TARGETS, build_context, render_deployment
    from nlpops.errors import ConfigError, PlanError

    if target not in TARGETS:
        raise PlanError(f'Unknown deploy target "{target}". Choose one of: {", ".join(TARGETS)}.')
    api_keys: list[str] | None = None
    raw = os.environ.get("NLPOPS_DEPLOY_API_KEYS")
    if raw:
        try:
            api_keys = [str(k) for k in orjson.loads(raw)]
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise ConfigError('NLPOPS_DEPLOY_API_KEYS must be a JSON list of strings, e.g. ["key-1"].') from exc
    loaded = load_config(config)
    ctx = build_context(
        load_plan(plan),
        serving=loaded.serving,
        registry=loaded.registry,
        bundle_dir=bundle,
        image=image,
        alias=alias,
        source=f'Plan "{plan}"',
    )
    result = render_deployment(ctx, target, out, batch_schedule=batch_schedule, api_keys=api_keys)
    if json_output:
        print_json(result.to_dict())
        return
    console = stdout_console()
    console.print(f"Wrote {len(result.files)} files for {target} into {result.out} (all validated):")
    for name in result.files:
        console.print(f"  {name}  [{result.checks.get(name, 'copied' if name == 'bundle/' else 'text')}]")
    size = result.expected_image_mb
    console.print(
        f"Expected image size: about {size['total_mb']:.0f} MB (runtime {ctx.runtime}: {size['runtime_mb']:.0f} MB)."
    )
    for note in result.notes:
        console.print(f"Note: {note}")


def register(app: typer.Typer) -> None:
    """Add ``nlpops deploy`` to the app."""
    app.command("deploy")(deploy_command)


__all__ = ["deploy_command", "register"]
