"""MlflowRegistry against a real ``mlflow server`` (SQLite store, proxied local artifacts) on 127.0.0.1.

The behaviour both backends share is checked by tests parametrized over SQLite and MLflow, so the two keep the
same semantics (versions, aliases, rollback, events, attachments, errors). The server is shared by the module,
so every test uses its own model names.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from nlpops.bundle import Bundle, load_bundle
from nlpops.checklist import RegistrySettings
from nlpops.errors import BundleError, ConfigError, NotFoundError, RegistryError
from nlpops.registry import Registry, SqliteRegistry, open_registry
from nlpops.registry.mlflow import MlflowRegistry
from nlpops.runtimes import load_predictor
from nlpops.testing import TINY_TEXTS

TEXTS = [text for text, _label in TINY_TEXTS]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mlflow") is None,
    reason='mlflow is not installed (the "mlflow" extra): pip install "nlpops[mlflow]"',
)

OpenRegistry = Callable[..., Registry]
NLPOPS = str(Path(sys.executable).parent / "nlpops")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}: {log.read_text(errors='replace')}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{what} did not become ready: {log.read_text(errors='replace')}"
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, and its children (mlflow server runs uvicorn as a child)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real MLflow tracking server: its URI and its artifact folder."""
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    log = root / "server.log"
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no background job workers for a test server
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "art")]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/health", process, log, "mlflow server")
        yield f"http://127.0.0.1:{port}", root / "art"
    finally:
        _stop(process)


@pytest.fixture
def uri(mlflow_server: tuple[str, Path]) -> str:
    return mlflow_server[0]


@pytest.fixture
def name() -> str:
    """A model name no other test uses (the server is shared by the module)."""
    return f"m-{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["sqlite", "mlflow"])
def open_reg(request: pytest.FixtureRequest, tmp_path: Path) -> OpenRegistry:
    """Factory: ``open_reg(actor=..., home=...)`` opens the parametrized backend."""
    server = request.getfixturevalue("uri") if request.param == "mlflow" else None

    def make(actor: str | None = None, home: Path | None = None) -> Registry:
        home = home or tmp_path / "home"
        return SqliteRegistry(home, actor=actor) if server is None else MlflowRegistry(server, home, actor=actor)

    return make


# -- the same expectations for both backends -----------------------------------------------------------


def test_registry_backends_register_list_get_resolve(open_reg: OpenRegistry, make_bundle, name: str) -> None:
    reg = open_reg(actor="alice")
    assert isinstance(reg, Registry)
    first = reg.register(make_bundle(name="ignored", version="20250101T000000Z", metrics={"macro_f1": 0.9}), name)
    second = reg.register(make_bundle(name=name))
    assert (first.name, first.version, first.bundle_version, first.created_by) == (name, 1, "20250101T000000Z", "alice")
    assert (first.family, first.runtime, first.metrics) == ("tfidf", "sklearn", {"macro_f1": 0.9})
    assert second.version == 2
    assert name in reg.list_models()
    assert [v.version for v in reg.list_versions(name)] == [1, 2]
    assert reg.list_versions(name)[0] == first
    got = reg.get(name, 1)
    assert got == first
    assert load_bundle(got.bundle_path).manifest.version == "20250101T000000Z"
    assert reg.resolve(name, "2").version == 2
    reg.promote(name, 1, alias="staging")
    staged = reg.resolve(name, "staging")
    assert (staged.version, staged.bundle_path) == (1, first.bundle_path)
    assert reg.aliases(name) == {"staging": 1}
    assert reg.alias_target(name, "staging") == 1
    assert reg.alias_target(name, "production") is None
    assert reg.alias_target("no-such-model", "production") is None


def test_registry_backends_rollback_semantics(open_reg: OpenRegistry, make_bundle, name: str) -> None:
    reg = open_reg()
    for _ in range(4):
        reg.register(make_bundle(), name)
    assert reg.promote(name, 1).previous_version is None
    assert reg.promote(name, 1).previous_version == 1  # same target: not a move, nothing new to roll back to
    assert reg.promote(name, 2).previous_version == 1
    reg.promote(name, 3)
    reg.promote(name, 4, alias="staging")
    reg.promote(name, 3, alias="staging")
    back = reg.rollback(name)
    assert (back.action, back.version, back.alias, back.previous_version) == ("rolled_back", 2, "production", 3)
    assert reg.rollback(name, alias="staging").version == 4
    assert reg.aliases(name) == {"production": 2, "staging": 4}
    assert reg.rollback(name).version == 1
    with pytest.raises(RegistryError, match="nothing to roll back to") as info:
        reg.rollback(name)
    assert not isinstance(info.value, NotFoundError)
    assert reg.alias_target(name, "production") == 1
    reg.promote(name, 4)  # a new move after rollbacks is remembered again
    assert reg.rollback(name).version == 1


def test_registry_backends_rollback_survives_reopen(open_reg: OpenRegistry, make_bundle, name: str) -> None:
    reg = open_reg()
    for version in (1, 2):
        reg.register(make_bundle(), name)
        reg.promote(name, version)
    assert open_reg().rollback(name).version == 1  # the history lives in the store, not in the object


def test_registry_backends_event_log(open_reg: OpenRegistry, make_bundle, name: str) -> None:
    reg = open_reg(actor="carol")
    other = f"{name}-b"
    reg.register(make_bundle(), name)
    reg.register(make_bundle(), name)
    reg.register(make_bundle(), other)
    reg.promote(name, 1)
    reg.promote(name, 2)
    reg.rollback(name)
    mine = [e for e in reg.events() if e.name in (name, other)]
    assert [(e.action, e.name, e.version, e.alias, e.previous_version) for e in mine] == [
        ("registered", name, 1, None, None),
        ("registered", name, 2, None, None),
        ("registered", other, 1, None, None),
        ("promoted", name, 1, "production", None),
        ("promoted", name, 2, "production", 1),
        ("rolled_back", name, 1, "production", 2),
    ]
    assert [e.id for e in mine] == sorted(e.id for e in mine) and len({e.id for e in mine}) == 6
    assert all(e.actor == "carol" and e.ts for e in mine)
    assert [e.version for e in reg.events(name=other)] == [1]
    assert [e.action for e in reg.events(name=name, limit=2)] == ["promoted", "rolled_back"]
    assert reg.events(name=name, limit=0) == []
    assert reg.events(name=name)[-1] == mine[-1]
    with pytest.raises(RegistryError, match="limit"):
        reg.events(limit=-1)


def test_registry_backends_attachments(open_reg: OpenRegistry, make_bundle, name: str) -> None:
    reg = open_reg()
    reg.register(make_bundle(), name)
    assert reg.load_attachment(name, 1, "profile") is None
    reg.save_attachment(name, 1, "profile", {"p95_ms": 3.5, "sizes": [1, 2], "nested": {"ok": True}})
    assert reg.load_attachment(name, 1, "profile") == {"p95_ms": 3.5, "sizes": [1, 2], "nested": {"ok": True}}
    reg.save_attachment(name, 1, "profile", {"p95_ms": 4.0})
    assert reg.load_attachment(name, 1, "profile") == {"p95_ms": 4.0}
    assert reg.load_attachment(name, 1, "other") is None
    with pytest.raises(NotFoundError, match="has no version 2"):
        reg.save_attachment(name, 2, "profile", {})
    with pytest.raises(NotFoundError, match="No model named"):
        reg.load_attachment(f"{name}-x", 1, "profile")
    with pytest.raises(RegistryError, match="Invalid attachment key"):
        reg.save_attachment(name, 1, "../evil", {})
    with pytest.raises(RegistryError, match="must be a dict"):
        reg.save_attachment(name, 1, "profile", [1, 2])  # type: ignore[arg-type]
    assert load_bundle(reg.get(name, 1).bundle_path).manifest.name == "intent"  # attachments leave it intact


def test_registry_backends_not_found_and_invalid(
    open_reg: OpenRegistry, make_bundle, name: str, tmp_path: Path
) -> None:
    reg = open_reg()
    reg.register(make_bundle(), name)
    with pytest.raises(NotFoundError, match=rf'No model named "{name}-x" in the registry at .*known: .*{name}'):
        reg.get(f"{name}-x", 1)
    with pytest.raises(NotFoundError, match=r"has no version 7 \(latest is 1\)"):
        reg.get(name, 7)
    with pytest.raises(NotFoundError, match="has no version 2"):
        reg.promote(name, 2)
    with pytest.raises(NotFoundError, match="No model named"):
        reg.aliases(f"{name}-x")
    with pytest.raises(NotFoundError, match=rf'"{name}" has no alias "production"\. .*promote {name} 1$'):
        reg.resolve(name, "production")
    with pytest.raises(NotFoundError, match=rf'has no alias "production"\. Promote a version first: .* {name} 1'):
        reg.rollback(name)
    with pytest.raises(NotFoundError, match="No model named"):
        reg.rollback(f"{name}-x")
    with pytest.raises(RegistryError, match="Invalid alias"):
        reg.promote(name, 1, alias="Prod")
    with pytest.raises(RegistryError, match="Invalid version"):
        reg.promote(name, 0)
    with pytest.raises(RegistryError, match="Invalid model name"):
        reg.register(make_bundle(), "a/b")
    with pytest.raises(RegistryError, match=f'differs only in case from the registered model "{name}"'):
        reg.register(make_bundle(), name.upper())
    with pytest.raises(BundleError, match="does not exist"):
        reg.register(tmp_path / "missing-bundle")
    assert [e.action for e in reg.events(name=name)] == ["registered"]


# -- MLflow only ---------------------------------------------------------------------------------------


def test_mlflow_downloaded_bundle_verifies_and_predicts_identically(
    uri: str, tiny_bundle: Bundle, tmp_path: Path, name: str
) -> None:
    MlflowRegistry(uri, tmp_path / "a").register(tiny_bundle.path, name)
    fresh = MlflowRegistry(uri, tmp_path / "b")  # an empty cache: this one downloads
    entry = fresh.resolve(name, "1")
    assert entry.bundle_path.is_relative_to((tmp_path / "b").resolve() / "mlflow-cache")
    assert load_bundle(entry.bundle_path).manifest == tiny_bundle.manifest
    expected = load_predictor(tiny_bundle.path).predict_proba(TEXTS)
    assert np.array_equal(load_predictor(entry.bundle_path).predict_proba(TEXTS), expected)
    assert fresh.get(name, 1) == entry  # the second time from the cache
    fresh.save_attachment(name, 1, "profile", {"p95_ms": 1.5})
    assert MlflowRegistry(uri, tmp_path / "c").load_attachment(name, 1, "profile") == {"p95_ms": 1.5}
    assert entry.metrics == tiny_bundle.manifest.metrics


def _stored_bundle(uri: str, artifacts: Path, name: str, version: int) -> Path:
    from mlflow.tracking import MlflowClient

    run_id = MlflowClient(uri).get_model_version(name, str(version)).run_id
    (found,) = artifacts.glob(f"*/{run_id}/artifacts/bundle")
    return found


def test_mlflow_corrupted_artifact_is_refused_on_download(
    mlflow_server: tuple[str, Path], make_bundle, tmp_path: Path, name: str
) -> None:
    uri, artifacts = mlflow_server
    MlflowRegistry(uri, tmp_path / "a").register(make_bundle(), name)
    (_stored_bundle(uri, artifacts, name, 1) / "weights.txt").write_text("tampered\n", encoding="utf-8")
    fresh = MlflowRegistry(uri, tmp_path / "b")
    with pytest.raises(BundleError, match=rf"{name}:1 downloaded from MLflow at {uri} fails verification"):
        fresh.get(name, 1)
    assert not fresh.list_versions(name)[0].bundle_path.exists()
    with pytest.raises(BundleError, match="fails verification"):
        fresh.resolve(name, "1")  # refused every time, never served from a half-kept copy


def test_mlflow_replaced_artifact_is_refused_on_download(
    mlflow_server: tuple[str, Path], make_bundle, tmp_path: Path, name: str
) -> None:
    uri, artifacts = mlflow_server
    MlflowRegistry(uri, tmp_path / "a").register(make_bundle(version="registered"), name)
    stored = _stored_bundle(uri, artifacts, name, 1)
    shutil.rmtree(stored)
    shutil.copytree(make_bundle(version="swapped"), stored)  # a valid bundle, but not the registered one
    with pytest.raises(BundleError, match="different manifest from the one registered"):
        MlflowRegistry(uri, tmp_path / "b").get(name, 1)


def test_mlflow_unreachable_server_gives_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://127.0.0.1:{_free_port()}"
    reg = MlflowRegistry(uri, tmp_path / "home")
    started = time.monotonic()
    expected = (
        rf"Cannot reach the MLflow tracking server at {uri} .*Check that the server is running.*registry\.mlflow_uri"
    )
    for call in (reg.list_models, lambda: reg.alias_target("intent", "production"), lambda: reg.get("intent", 1)):
        with pytest.raises(RegistryError, match=expected):
            call()
    assert time.monotonic() - started < 10


def test_mlflow_refuses_reserved_aliases_and_foreign_models(uri: str, make_bundle, tmp_path: Path, name: str) -> None:
    from mlflow.tracking import MlflowClient

    reg = MlflowRegistry(uri, tmp_path / "home")
    reg.register(make_bundle(), name)
    for alias in ("latest", "v2"):
        with pytest.raises(RegistryError, match="reserved by MLflow"):
            reg.promote(name, 1, alias=alias)
    foreign = f"{name}-foreign"
    client = MlflowClient(uri)
    client.create_registered_model(foreign)
    client.create_model_version(foreign, "s3://another-team/model", await_creation_for=0)
    assert foreign not in reg.list_models()
    with pytest.raises(RegistryError, match="not registered through nlpops"):
        reg.register(make_bundle(), foreign)
    with pytest.raises(RegistryError, match="not registered through nlpops"):
        reg.get(foreign, 1)


def test_mlflow_registry_keeps_mlflow_quiet(uri: str, tmp_path: Path) -> None:
    from mlflow.telemetry import get_telemetry_client

    MlflowRegistry(uri, tmp_path / "home")
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"
    assert get_telemetry_client() is None


def test_mlflow_missing_package_is_a_one_line_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for module in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
        monkeypatch.setitem(sys.modules, module, None)  # as if mlflow were not installed
    with pytest.raises(ConfigError, match=r'^[^\n]*Run: pip install "nlpops\[mlflow\]"$'):
        MlflowRegistry("http://127.0.0.1:5000", tmp_path)


def test_open_registry_mlflow_uri_from_settings_or_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    reg = open_registry(RegistrySettings(backend="mlflow", home=tmp_path, mlflow_uri="http://u:secret@127.0.0.1:5000"))
    assert isinstance(reg, MlflowRegistry) and isinstance(reg, Registry)
    assert reg.location == "http://127.0.0.1:5000"  # no credentials in messages
    with pytest.raises(ConfigError, match=r"registry\.mlflow_uri.*NLPOPS_REGISTRY__MLFLOW_URI.*MLFLOW_TRACKING_URI"):
        open_registry(RegistrySettings(backend="mlflow", home=tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5001")
    assert open_registry(RegistrySettings(backend="mlflow", home=tmp_path)).location == "http://127.0.0.1:5001"
    assert list(tmp_path.iterdir()) == []  # opening writes nothing


# -- through the CLI and the server ----------------------------------------------------------------------


def test_mlflow_registry_cli_commands(
    uri: str, make_bundle, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nlpops.cli import build_app

    monkeypatch.setenv("NLPOPS_REGISTRY__BACKEND", "mlflow")
    monkeypatch.setenv("NLPOPS_REGISTRY__MLFLOW_URI", uri)
    monkeypatch.chdir(tmp_path)
    reg = MlflowRegistry(uri, tmp_path / "home")
    for _ in range(2):
        reg.register(make_bundle(), name)
    runner, app = CliRunner(), build_app()
    for args in (["promote", name, "1"], ["promote", name, "2"], ["rollback", name]):
        result = runner.invoke(app, ["registry", *args])
        assert result.exit_code == 0, result.output
    assert "rolled back to version 1 (was 2)" in result.output
    listed = runner.invoke(app, ["registry", "list", name, "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)  # nothing but JSON on stdout (MLflow prints no run links)
    assert [(r["version"], r["aliases"]) for r in rows] == [(1, ["production"]), (2, [])]
    log = json.loads(runner.invoke(app, ["registry", "log", name, "--json"]).stdout)
    assert [e["action"] for e in log] == ["registered", "registered", "promoted", "promoted", "rolled_back"]


def test_mlflow_serve_name_at_production_answers_and_follows_the_alias(
    uri: str, tiny_bundle: Bundle, tmp_path: Path, name: str
) -> None:
    reg = MlflowRegistry(uri, tmp_path / "home")
    reg.register(tiny_bundle.path, name)
    reg.register(tiny_bundle.path, name)
    reg.promote(name, 1)
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NLPOPS_")},
        "NLPOPS_REGISTRY__BACKEND": "mlflow",
        "NLPOPS_REGISTRY__MLFLOW_URI": uri,
        "NLPOPS_HOME": str(tmp_path / "serve-home"),
        "NLPOPS_SERVING__POLL_INTERVAL_S": "0.5",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [NLPOPS, "serve", f"{name}@production", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", process, log, "nlpops serve")
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/classify", json={"text": TEXTS[0]}, timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["model"], body["version"]) == (name, "1")
        assert body["predictions"][0]["label"] in tiny_bundle.manifest.labels
        reg.promote(name, 2)  # the service follows the alias through the MLflow registry
        deadline = time.monotonic() + 30
        while body["version"] != "2":
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
            body = httpx.post(f"http://127.0.0.1:{port}/v1/classify", json={"text": TEXTS[0]}, timeout=10).json()
    finally:
        _stop(process)
    assert (tmp_path / "serve-home" / "mlflow-cache").is_dir()  # the service downloaded into its own home
