"""``nlpops profile``, ``nlpops plan`` and ``nlpops loadtest``: measure, decide, verify."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nlpops.cli.options import ConfigOption, JsonOption, load_cli_config
from nlpops.cli.output import print_json, stdout_console
from nlpops.errors import PlanError


def profile_command(
    ref: Annotated[str, typer.Argument(help="A bundle path, NAME, NAME@ALIAS or NAME:VERSION.")],
    config: ConfigOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the profile JSON here.")] = None,
    texts: Annotated[
        Path | None, typer.Option("--texts", help="Texts to use (.txt or .csv); default: the bundle's.")
    ] = None,
    budget_s: Annotated[float, typer.Option("--budget-s", help="About how long to measure, in seconds.")] = 4.0,
    threads: Annotated[int, typer.Option("--threads", help="Math threads in the measuring process.")] = 1,
    as_json: JsonOption = False,
) -> None:
    """Measure a bundle here: size, runtime footprint, cold start, memory, latency and throughput."""
    from nlpops.loadtest import read_texts
    from nlpops.profile import profile_bundle, save_profile
    from nlpops.registry import resolve_bundle

    resolved = resolve_bundle(ref, load_cli_config(config).registry)
    bundle_dir, entry, registry = resolved.path, resolved.entry, resolved.registry
    chosen = read_texts(texts) if texts is not None else None
    profile = profile_bundle(bundle_dir, texts=chosen, budget_s=budget_s, threads=threads)
    if entry is not None and registry is not None:
        registry.save_attachment(entry.name, entry.version, "profile", profile)
        profile["registry"] = {"name": entry.name, "version": entry.version}
    if out is not None:
        save_profile(profile, out)
    if as_json:
        print_json(profile)
        return
    console = stdout_console()
    lat = profile["latency_ms"]
    console.print(
        f"bundle      {profile['bundle']['name']} ({profile['bundle']['family']}, {profile['bundle']['runtime']})"
    )
    footprint = profile["footprint"]
    console.print(
        f"size        {profile['size_bytes'] / 1e6:.2f} MB on disk; runtime footprint "
        f"{footprint['runtime']['bytes'] / 1e6:.0f} MB (ONNX runtime {footprint['onnx']['bytes'] / 1e6:.0f} MB)"
    )
    console.print(f"cold start  {profile['cold_start_s']:.2f} s; peak RSS {profile['peak_rss_bytes'] / 1e6:.0f} MB")
    console.print(f"latency     p50 {lat['p50']:.2f} ms, p95 {lat['p95']:.2f} ms, p99 {lat['p99']:.2f} ms (batch 1)")
    for row in profile["throughput"]:
        console.print(f"throughput  batch {row['batch_size']:>4}: {row['texts_per_s']:.0f} texts/s")
    console.print(f"GPU         present: {profile['gpu']['present']}, used: {profile['gpu']['used']}")
    if entry is not None:
        console.print(f"saved with {entry.name}:{entry.version} in the registry")


def _profile_for(profile_ref: str | None, profile_file: Path | None, config: Any) -> dict[str, Any]:
    from nlpops.profile import check_profile, load_profile, profile_bundle
    from nlpops.registry import resolve_bundle

    if profile_file is not None:
        return load_profile(profile_file)
    if profile_ref is None:
        raise PlanError(
            "nlpops plan needs measured facts: pass --profile REF (a bundle or registry ref) or --profile-file FILE."
        )
    resolved = resolve_bundle(profile_ref, config.registry)
    bundle_dir, entry, registry = resolved.path, resolved.entry, resolved.registry
    if entry is not None and registry is not None:
        saved = registry.load_attachment(entry.name, entry.version, "profile")
        if saved is not None:
            check_profile(saved, f"{entry.name}:{entry.version}")
            return dict(saved)
    profile = profile_bundle(bundle_dir)
    if entry is not None and registry is not None:
        registry.save_attachment(entry.name, entry.version, "profile", profile)
    return profile


def plan_command(
    config: ConfigOption = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="Bundle or registry ref to profile (reuses a saved profile).")
    ] = None,
    profile_file: Annotated[
        Path | None, typer.Option("--profile-file", help="A profile JSON from nlpops profile --out.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for plan.json, plan.md and plan.html.")] = Path(
        "plan"
    ),
    compare: Annotated[
        Path | None, typer.Option("--compare", help="A previous plan.json: show what changed and why.")
    ] = None,
    loadtest: Annotated[
        Path | None, typer.Option("--loadtest", help="A nlpops loadtest result to attach as verified.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Score the deployment options against the checklist and the measured profile; write the plan report."""
    from nlpops.advisor import compare_plans, load_plan, load_rules, make_plan, save_plan
    from nlpops.advisor.report import render_comparison
    from nlpops.loadtest import load_loadtest

    settings = load_cli_config(config)
    rules_file = settings.advisor.rules_file
    book = load_rules(rules_file)
    measured = _profile_for(profile, profile_file, settings)
    verified = load_loadtest(loadtest) if loadtest is not None else None
    sources = ["rules.yaml"] + ([str(rules_file)] if rules_file else [])
    plan = make_plan(settings, measured, book, loadtest=verified, rules_sources=sources)
    comparison = compare_plans(load_plan(compare), plan) if compare is not None else None
    paths = save_plan(plan, out, comparison)
    if as_json:
        print_json(
            {
                "chosen": plan["chosen"],
                "capacity": plan["capacity"],
                "warnings": plan["warnings"],
                "comparison": comparison,
                "files": {k: str(v) for k, v in paths.items()},
            }
        )
        return
    console = stdout_console()
    for name, dim in plan["dimensions"].items():
        ranked = ", ".join(
            f"{o['option']} {o['score']:+.2f}" + (" (excluded)" if o["excluded"] else "") for o in dim["options"]
        )
        console.print(f"{name:<9} -> {dim['chosen']}   [{ranked}]", markup=False)
    console.print(
        f"replicas {plan['capacity']['replicas']}, memory request {plan['capacity']['memory_request_mib']} MiB",
        markup=False,
    )
    for warning in plan["warnings"]:
        console.print(f"warning: {warning['text']}", markup=False)
    if comparison is not None:
        console.print("\n".join(render_comparison(comparison)), markup=False)
    console.print(f"Wrote {paths['markdown']}, {paths['html']} and {paths['json']}", markup=False)


def loadtest_command(
    url: Annotated[str, typer.Argument(help="Service base URL, e.g. http://127.0.0.1:8000")],
    rps: Annotated[float, typer.Option("--rps", help="Requests per second (constant arrival rate).")] = 10.0,
    duration: Annotated[float, typer.Option("--duration", help="Seconds to send for (at most 600).")] = 10.0,
    slo_p95_ms: Annotated[float | None, typer.Option("--slo-p95-ms", help="p95 objective to check.")] = None,
    texts: Annotated[
        Path | None, typer.Option("--texts", help=".txt (one per line) or .csv; default: banking77 test.")
    ] = None,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="Allow a non-loopback host.")] = False,
    api_key: Annotated[str | None, typer.Option("--api-key", envvar="NLPOPS_API_KEY", help="Bearer key.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the result JSON here (for plan --loadtest).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Open-loop load test of /v1/classify: achieved rate, p50/p95/p99, errors, and whether the SLO held."""
    import json

    from nlpops.loadtest import read_texts, run_loadtest

    result = run_loadtest(
        url,
        rps=rps,
        duration_s=duration,
        texts=read_texts(texts),
        slo_p95_ms=slo_p95_ms,
        allow_remote=allow_remote,
        api_key=api_key,
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if as_json:
        print_json(result)
    else:
        lat = result["latency_ms"]
        slo = "" if result["slo_met"] is None else f"; SLO {'held' if result['slo_met'] else 'NOT met'}"
        stdout_console().print(
            f"{result['ok']}/{result['sent']} ok at {result['achieved_rps']:.1f} req/s (target {rps:g}): "
            f"p50 {lat['p50']:.1f} ms, "
            f"p95 {lat['p95']:.1f} ms, p99 {lat['p99']:.1f} ms, errors {result['errors']}{slo}",
            markup=False,
        )
    if result["slo_met"] is False:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``profile``, ``plan`` and ``loadtest`` to the app."""
    app.command("profile")(profile_command)
    app.command("plan")(plan_command)
    app.command("loadtest")(loadtest_command)


__all__ = ["loadtest_command", "plan_command", "profile_command", "register"]
