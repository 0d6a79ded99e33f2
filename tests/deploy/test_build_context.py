"""The Docker build context nlpops deploy writes is buildable, checked offline (no Docker engine here):
every file the Dockerfile copies exists and passes .dockerignore, the nlpops wheel installs with pip from the
context alone and imports, and every other pip install line resolves against the constraints it ships."""

from __future__ import annotations

import fnmatch
import importlib.metadata as metadata
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from nlpops.cli import main
from nlpops.deploy import build_context, render_deployment
from nlpops.deploy.docker import BUILD_DIR
from nlpops.deploy.wheel import IMAGE_MARKERS
from nlpops.registry import SqliteRegistry
from nlpops.testing import tiny_tfidf_bundle


def _ignored(relative: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern that matches decides; ``!`` re-includes."""
    excluded = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.rstrip("/")
        if fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(relative, pattern.replace("**", "*")):
            excluded = not negate
    return excluded


def _copied_files(context: Path) -> list[str]:
    """Every file of the context that a COPY (not --from) sends, as context-relative paths; fails on a missing
    source or one .dockerignore leaves out."""
    patterns = [
        line.strip()
        for line in (context / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sent = []
    for item in DockerfileParser(path=str(context / "Dockerfile")).structure:
        if item["instruction"] != "COPY":
            continue
        words = [w for w in shlex.split(item["value"]) if not w.startswith("--chown")]
        if any(w.startswith("--from") for w in words):
            continue
        for source in words[:-1]:
            path = context / source
            assert path.exists(), f"COPY {source}: not in the build context"
            files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
            assert files, f"COPY {source}: an empty folder"
            for file in files:
                relative = file.relative_to(context).as_posix()
                assert not _ignored(relative, patterns), f"COPY {source}: {relative} is excluded by .dockerignore"
                sent.append(relative)
    return sent


def _pip_installs(context: Path) -> list[list[str]]:
    """The argument lists of every ``pip install`` in the Dockerfile's RUN lines, context paths mapped in."""
    installs = []
    for item in DockerfileParser(path=str(context / "Dockerfile")).structure:
        if item["instruction"] != "RUN":
            continue
        for command in item["value"].split("&&"):
            words = shlex.split(command)
            if words[:2] == ["pip", "install"]:
                installs.append([w.replace(BUILD_DIR, str(context)) for w in words[2:]])
    return installs


def _pins(constraints: Path) -> dict[str, str]:
    pins = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def _check_resolves(requirements: list[str], pins: dict[str, str], no_deps: bool) -> None:
    """Every requirement is pinned to a version it accepts, and so (unless --no-deps) is everything the pinned
    versions depend on in the image (python 3.11, Linux): the constraints are complete and consistent."""
    queue = [(Requirement(text), frozenset[str]()) for text in requirements]
    seen: set[str] = set()
    while queue:
        requirement, _extras = queue.pop()
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{requirement} rejects {pins[name]}"
        if name in seen or no_deps:
            continue
        seen.add(name)
        dist = metadata.distribution(name)
        assert dist.version.split("+")[0] == pins[name]  # the pins are what is installed here
        for text in dist.requires or []:
            dependency = Requirement(text)
            markers = [{**IMAGE_MARKERS, "extra": extra} for extra in ("", *requirement.extras)]
            if dependency.marker is None or any(dependency.marker.evaluate(m) for m in markers):
                queue.append((dependency, frozenset(requirement.extras)))


def _check_context(context: Path, tmp_path: Path) -> None:
    sent = _copied_files(context)
    assert any(p.startswith("wheels/nlpops-") and p.endswith(".whl") for p in sent)
    assert "constraints.txt" in sent
    pins = _pins(context / "constraints.txt")
    installs = _pip_installs(context)
    assert installs and all("--constraint" in a or "--no-index" in a for a in installs)
    for args in installs:
        if "--no-index" in args:  # the nlpops wheel: install it from the context alone, then import it
            target = tmp_path / "site"
            run = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), *args]
            subprocess.run(run, check=True, capture_output=True, text=True)
            code = (
                f"import sys; sys.path.insert(0, {str(target)!r}); import nlpops, nlpops.cli, nlpops.serve; "
                "from importlib import resources; assert nlpops.__file__.startswith(sys.path[0]); "
                "assert resources.files('nlpops.monitor').joinpath('status.html').is_file(); print(nlpops.__version__)"
            )
            out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
            assert out.strip() == metadata.version("nlpops")
            continue
        requirements = [w for w in args if not w.startswith("-") and not w.startswith(str(context))]
        _check_resolves(requirements, pins, no_deps="--no-deps" in args)


@pytest.mark.parametrize("target", ["docker", "compose"])
def test_build_context_from_the_registry_is_complete_offline(
    plans: dict[str, dict[str, Any]], target: str, tmp_path: Path
) -> None:
    ctx = build_context(plans["serverless_poc"])  # onnx runtime, served from the registry
    render_deployment(ctx, target, tmp_path / "ctx")
    _check_context(tmp_path / "ctx", tmp_path)


def test_build_context_with_a_baked_bundle_is_complete_offline(
    plans: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    bundle = tiny_tfidf_bundle(tmp_path / "bundle", name="intent")
    ctx = build_context(plans["poc_english"], bundle_dir=bundle.path)  # sklearn runtime, bundle baked in
    render_deployment(ctx, "docker", tmp_path / "ctx")
    _check_context(tmp_path / "ctx", tmp_path)
    assert "bundle/nlpops-bundle.json" in _copied_files(tmp_path / "ctx")


def test_build_context_check_catches_a_missing_or_ignored_file(
    plans: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    render_deployment(build_context(plans["serverless_poc"]), "docker", tmp_path / "ctx")
    ignore = tmp_path / "ctx" / ".dockerignore"
    ignore.write_text(ignore.read_text(encoding="utf-8").replace("!constraints.txt\n", ""), encoding="utf-8")
    with pytest.raises(AssertionError, match=r"excluded by \.dockerignore"):
        _copied_files(tmp_path / "ctx")
    (tmp_path / "ctx" / "constraints.txt").unlink()
    with pytest.raises(AssertionError, match="not in the build context"):
        _copied_files(tmp_path / "ctx")


def test_build_context_check_catches_an_unpinned_requirement() -> None:
    with pytest.raises(AssertionError, match="rejects"):
        _check_resolves(["numpy<1"], {"numpy": metadata.version("numpy")}, no_deps=True)
    with pytest.raises(AssertionError, match="not pinned"):
        _check_resolves(["numpy"], {}, no_deps=True)


def test_plan_then_deploy_names_the_profiled_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # nlpops.yaml names no model (name: "model"); the profiled model is intents@production
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NLPOPS_HOME", str(tmp_path / "registry"))
    registry = SqliteRegistry(tmp_path / "registry")
    registry.register(tiny_tfidf_bundle(tmp_path / "bundle", name="intents").path, "intents")
    registry.promote("intents", 1, "production")

    def cli(*args: str) -> dict[str, Any]:
        with pytest.raises(SystemExit) as exit_info:
            main([*args, "--json"])
        assert exit_info.value.code in (0, None)
        result: dict[str, Any] = json.loads(capsys.readouterr().out)
        return result

    fast = ["--budget-s", "0.2", "--threads", "1", "--repeats", "1", "--runtimes", "native-cpu"]
    cli("profile", "intents@production", *fast)  # saved with intents:1; plan reuses it
    plan = cli("plan", "--profile", "intents@production", "--out", "plan")
    assert plan["name"] == "intents" and plan["model"]["alias"] == "production"
    assert "Deployment plan for `intents`" in (tmp_path / "plan/plan.md").read_text(encoding="utf-8")
    assert "<title>Deployment plan for intents</title>" in (tmp_path / "plan/plan.html").read_text(encoding="utf-8")
    cli("deploy", "--plan", "plan/plan.json", "--target", "compose", "--out", "deploy")
    dockerfile = (tmp_path / "deploy/Dockerfile").read_text(encoding="utf-8")
    assert 'CMD ["serve", "intents@production"]' in dockerfile and '"model"' not in dockerfile
    compose = yaml.safe_load((tmp_path / "deploy/compose.yaml").read_text(encoding="utf-8"))
    service = compose["services"]["intents"]
    assert service["command"] == ["serve", "intents@production"]
    assert service["volumes"] == [f"${{NLPOPS_REGISTRY_DIR:-{tmp_path / 'registry'}}}:/var/lib/nlpops"]
    assert "intents@production from the registry folder" in (tmp_path / "deploy/compose.yaml").read_text()
