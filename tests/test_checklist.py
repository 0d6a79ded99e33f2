from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpops.checklist import NlpopsConfig, load_config
from nlpops.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_config_defaults_without_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.model.family == "tfidf"
    assert config.serving.host == "127.0.0.1"
    assert config.monitoring.log_payloads is False
    assert config.monitoring.data_may_leave is False


def test_config_file_overrides_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "c.yaml", "serving:\n  max_batch_size: 7\n"))
    assert config.serving.max_batch_size == 7
    assert config.serving.port == 8000  # untouched keys keep their defaults


def test_config_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NLPOPS_SERVING__MAX_BATCH_SIZE", "9")
    config = load_config(write(tmp_path / "c.yaml", "serving:\n  max_batch_size: 7\n  port: 9100\n"))
    assert config.serving.max_batch_size == 9
    assert config.serving.port == 9100


def test_config_overrides_beat_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NLPOPS_SERVING__MAX_BATCH_SIZE", "9")
    config = load_config(write(tmp_path / "c.yaml", "{}\n"), {"serving": {"max_batch_size": 11}})
    assert config.serving.max_batch_size == 11


def test_config_nlpops_config_env_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NLPOPS_CONFIG", str(write(tmp_path / "other.yaml", "name: intents\n")))
    assert load_config().name == "intents"


def test_config_reports_every_problem_with_path_value_and_source(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NLPOPS_SERVING__MAX_BATCH_SIZE", "0")
    path = write(tmp_path / "c.yaml", "model:\n  famly: tfidf\nlatency:\n  p95_ms: -1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "model.famly: unknown key" in message
    assert "latency.p95_ms" in message and "-1" in message and str(path) in message
    assert "serving.max_batch_size" in message and "NLPOPS_SERVING__MAX_BATCH_SIZE" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("model: [\n", "not valid YAML at line"),
        ("- a\n- b\n", "must be a mapping"),
        ("version: 2\n", "version 2 is not supported"),
    ],
)
def test_config_malformed_file_is_one_clear_error(tmp_path: Path, content: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_config(write(tmp_path / "c.yaml", content))


def test_config_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nlpops init"):
        load_config(tmp_path / "absent.yaml")


def test_config_is_frozen() -> None:
    config = NlpopsConfig()
    with pytest.raises(Exception, match="frozen"):
        config.serving.port = 1  # type: ignore[misc]


def test_config_api_keys_are_secret(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "c.yaml", "serving:\n  api_keys: [s3cret]\n"))
    assert "s3cret" not in repr(config)
    assert config.serving.api_keys[0].get_secret_value() == "s3cret"


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(min_value=-5, max_value=5000), wait=st.floats(min_value=-10, max_value=1e4, allow_nan=False))
def test_config_yaml_roundtrip_property(tmp_path_factory: pytest.TempPathFactory, batch: int, wait: float) -> None:
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    path.write_text(yaml.safe_dump({"serving": {"max_batch_size": batch, "max_wait_ms": wait}}), encoding="utf-8")
    if batch >= 1 and wait >= 0:
        config = load_config(path)
        assert (config.serving.max_batch_size, config.serving.max_wait_ms) == (batch, wait)
    else:
        with pytest.raises(ConfigError, match=r"serving\.max_"):
            load_config(path)
