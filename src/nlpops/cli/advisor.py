"""``nlpops profile``, ``nlpops plan`` and ``nlpops loadtest``: measure, decide, verify."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nlpops.cli.options import ConfigOption, JsonOption, load_cli_config, progress_bar
from nlpops.cli.output import print_json, stdout_console
from nlpops.errors import PlanError


def _thread_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or any(n < 1 for n in counts):
        raise PlanError(f'--threads takes thread counts >= 1 separated by commas, e.g. "1,2,4". Got "{text}".')
    return counts


def _describe_runtime(option: str, entry: dict[str, Any]) -> list[str]:
    if entry.get("status") != "measured":
        return [f"{option:<14} {entry.get('status')}: {entry.get('reason')}"]
    lines = [
        f"{option:<14} image {entry['image_bytes'] / 1e6:.0f} MB (packages and model), cold start "
        f"{entry['cold_start_s']:.2f} s, peak memory {entry['peak_rss_bytes'] / 1e6:.0f} MB"
    ]
    for threads, figures in entry["threads"].items():
        lat = figures["latency_ms"]
        rates = ", ".join(f"b{r['batch_size']} {r['texts_per_s']:.0f}/s" for r in figures["throughput"])
        lines.append(
            f"{'':<14} {threads} thread(s): p50 {lat['p50']:.2f} ms, p95 {lat['p95']:.2f} ms "
            f"(spread {lat.get('spread', 0):.0%}); {rates}; others used "
            f"{figures.get('machine_load', {}).get('background_cpus', 0):.1f} CPU"
        )
    return lines


def profile_command(
    ref: Annotated[str, typer.Argument(help="A bundle path, NAME, NAME@ALIAS or NAME:VERSION.")],
    config: ConfigOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the profile JSON here.")] = None,
    texts: Annotated[
        Path | None, typer.Option("--texts", help="Texts to use (.txt or .csv); default: the bundle's.")
    ] = None,
    budget_s: Annotated[
        float, typer.Option("--budget-s", help="About how long each runtime is measured at each thread count.")
    ] = 2.0,
    threads: Annotated[
        str, typer.Option("--threads", help="Math-thread counts to measure, e.g. 1,2,4 (up to this machine's CPUs).")
    ] = "1,2,4",
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Rounds per measurement (medians count).")] = 3,
    runtimes: Annotated[
        str, typer.Option("--runtimes", help="Runtime options to measure: native-cpu,onnx-cpu,onnx-int8-cpu,gpu.")
    ] = "native-cpu,onnx-cpu,onnx-int8-cpu,gpu",
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Refuse (exit 1) when the spread or the machine's load makes figures unreliable."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Measure a bundle here: each runtime it can be served with, at 1, 2 and 4 threads, and how reliable that is."""
    from nlpops.loadtest import read_texts
    from nlpops.profile import profile_bundle, save_profile
    from nlpops.registry import resolve_bundle

    resolved = resolve_bundle(ref, load_cli_config(config).registry)
    bundle_dir, entry, registry = resolved.path, resolved.entry, resolved.registry
    chosen = read_texts(texts) if texts is not None else None
    with progress_bar("Profiling", not as_json) as progress:
        profile = profile_bundle(
            bundle_dir,
            texts=chosen,
            budget_s=budget_s,
            threads=_thread_counts(threads),
            repeats=repeats,
            runtimes=tuple(r.strip() for r in runtimes.split(",") if r.strip()),
            strict=strict,
            progress=progress,
        )
    if entry is not None and registry is not None:
        registry.save_attachment(entry.name, entry.version, "profile", profile)
        profile["registry"] = {"name": entry.name, "version": entry.version}
    if out is not None:
        save_profile(profile, out)
    if as_json:
        print_json(profile)
        return
    console = stdout_console()
    bundle = profile["bundle"]
    machine = profile["machine"]
    console.print(f"bundle         {bundle['name']} ({bundle['family']}, {bundle['runtime']})", markup=False)
    console.print(
        f"machine        {machine['cpu_count']} CPU(s), GPU present: {machine['gpu_present']}; "
        f"{profile['settings']['repeats']} round(s) per measurement",
        markup=False,
    )
    for option, runtime in profile["runtimes"].items():
        for line in _describe_runtime(option, runtime):
            console.print(line, markup=False)
    for lang, measured in profile["languages"].items():
        for line in _describe_runtime(f"{lang} model", measured["runtimes"]["native-cpu"]):
            console.print(line, markup=False)
    reliability = profile["reliability"]
    verdict = "reliable" if reliability["reliable"] else "NOT reliable: " + "; ".join(reliability["problems"])
    console.print(f"figures        {verdict}", markup=False)
    if entry is not None:
        console.print(f"saved with {entry.name}:{entry.version} in the registry", markup=False)


def _profile_for(
    profile_ref: str | None, profile_file: Path | None, config: Any, progress: Any = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The profile to plan with, and the model it measured (:func:`nlpops.advisor.planned_model`)."""
    from nlpops.advisor import planned_model
    from nlpops.profile import check_profile, estimate_profile, load_profile, profile_bundle
    from nlpops.registry import resolve_bundle

    if profile_file is not None:
        loaded = load_profile(profile_file)
        return loaded, planned_model(loaded)
    model = config.model.model_dump(mode="json")
    ref = profile_ref or config.model.reference
    if ref is None:
        return estimate_profile(model), None  # PlanError unless model.size_mb describes the model
    resolved = resolve_bundle(ref, config.registry)
    bundle_dir, entry, registry = resolved.path, resolved.entry, resolved.registry
    measured: dict[str, Any] | None = None
    if entry is not None and registry is not None:
        saved = registry.load_attachment(entry.name, entry.version, "profile")
        if saved is not None:
            measured = check_profile(saved, f"{entry.name}:{entry.version}")
    if measured is None:
        measured = profile_bundle(bundle_dir, progress=progress)
        if entry is not None and registry is not None:
            registry.save_attachment(entry.name, entry.version, "profile", measured)
    if profile_ref is None:
        return estimate_profile(model, measured), None
    if entry is not None:
        measured = {**measured, "registry": {"name": entry.name, "version": entry.version}}
    return measured, planned_model(
        measured, profile_ref, alias=resolved.ref.alias, version=entry.version if entry is not None else None
    )


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
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse (exit 1) a profile whose figures are unreliable.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Score the deployment options against the checklist and the measured profile; write the plan report.

    Without --profile or --profile-file the model is planned before training, from model.size_mb and, when
    set, a reference model (model.reference) measured in its place: the plan is labelled ESTIMATED.
    """
    from nlpops.advisor import compare_plans, load_plan, load_rules, make_plan, save_plan
    from nlpops.advisor.report import render_comparison, render_summary
    from nlpops.loadtest import load_loadtest

    settings = load_cli_config(config)
    rules_file = settings.advisor.rules_file
    book = load_rules(rules_file)
    with progress_bar("Profiling", not as_json) as progress:
        measured, model = _profile_for(profile, profile_file, settings, progress)
    reliability = measured.get("reliability") or {}
    if strict and reliability.get("reliable") is not True:
        problems = "; ".join(reliability.get("problems") or ["no reliability record"])
        raise PlanError(
            f"The profile's figures are not reliable ({problems}). Re-run nlpops profile on a quiet machine."
        )
    verified = load_loadtest(loadtest) if loadtest is not None else None
    sources = ["rules.yaml"] + ([str(rules_file)] if rules_file else [])
    plan = make_plan(settings, measured, book, loadtest=verified, rules_sources=sources, model=model)
    comparison = compare_plans(load_plan(compare), plan) if compare is not None else None
    paths = save_plan(plan, out, comparison)
    if as_json:
        print_json(
            {
                "name": plan["name"],
                "model": plan["model"],
                "estimated": plan["estimated"],
                "chosen": plan["chosen"],
                "capacity": plan["capacity"],
                "warnings": plan["warnings"],
                "defaults": plan["defaults"],
                "comparison": comparison,
                "files": {k: str(v) for k, v in paths.items()},
            }
        )
        return
    console = stdout_console()
    for line in render_summary(plan):
        console.print(line, markup=False)
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

    with progress_bar("Load test", not as_json) as progress:
        result = run_loadtest(
            url,
            rps=rps,
            duration_s=duration,
            texts=read_texts(texts),
            slo_p95_ms=slo_p95_ms,
            allow_remote=allow_remote,
            api_key=api_key,
            progress=progress,
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
