"""Config values from a file or the environment: any value is loaded or refused with one ConfigError, and
what is loaded satisfies the rules the rest of nlpops relies on (a valid model name, positive limits)."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlpops.checklist import load_config
from nlpops.errors import ConfigError
from nlpops.init_template import iter_fields
from nlpops.names import is_model_name

PATHS = [path for path, _ in iter_fields()]
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=30),
    st.sampled_from(["../../evil", "x\nFROM evil", "$(id)", "1e309", "nan", "-1", "0", "[]", "{}", "null", "é"]),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _nest(path: str, value: object) -> dict[str, object]:
    node: object = value
    for part in reversed(path.split(".")):
        node = {part: node}
    assert isinstance(node, dict)
    return node


def _merge(base: dict[str, object], extra: dict[str, object]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)  # type: ignore[arg-type]
        else:
            base[key] = value


def _check(config_loaded: object) -> None:
    from nlpops.checklist import NlpopsConfig

    assert isinstance(config_loaded, NlpopsConfig)
    assert is_model_name(config_loaded.name)
    serving = config_loaded.serving
    assert serving.max_connections >= 1 and serving.header_timeout_s > 0 and serving.max_body_bytes >= 1


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(assignments=st.lists(st.tuples(st.sampled_from([*PATHS, "serving.nope", "nope"]), _VALUES), max_size=4))
def test_any_config_file_loads_or_is_refused_with_config_error(
    tmp_path_factory: pytest.TempPathFactory, assignments: list[tuple[str, object]]
) -> None:
    data: dict[str, object] = {"version": 1}
    for path, value in assignments:
        _merge(data, _nest(path, value))
    file = tmp_path_factory.mktemp("cfg") / "nlpops.yaml"
    try:
        file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    except yaml.YAMLError:
        return
    try:
        config = load_config(file)
    except ConfigError as exc:
        assert str(exc).startswith(("Invalid configuration", "Config")) and "Traceback" not in str(exc)
        return
    _check(config)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(PATHS),
    value=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30),
)
def test_any_environment_value_loads_or_is_refused_with_config_error(
    monkeypatch: pytest.MonkeyPatch, path: str, value: str
) -> None:
    name = "NLPOPS_" + "__".join(part.upper() for part in path.split("."))
    with monkeypatch.context() as env:
        env.setenv(name, value)
        try:
            config = load_config(None)
        except ConfigError:
            return
    _check(config)
