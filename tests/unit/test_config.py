"""Config: defaults, file < environment < CLI, conversions, and errors that name setting and source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from replog.config import Config, load_config
from replog.errors import ConfigError


@pytest.fixture(autouse=True)
def _no_repo_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # load_config falls back to ./config.yaml; keep the repository's file out of these tests.
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return path


def test_defaults_without_file_env_or_cli() -> None:
    config = load_config(environ={})
    assert config == Config()
    assert config.secondaries == ("127.0.0.1:8000", "127.0.0.1:9000")
    assert (config.default_w, config.heartbeat_seconds, config.fsync) == (1, 1.0, "always")
    assert (config.master_host, config.master_port) == ("127.0.0.1", 7000)
    assert config.delivery_failure == {}


def test_cwd_config_yaml_is_read_when_present(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("default_w: 2\n")
    assert load_config(environ={}).default_w == 2


def test_precedence_file_then_env_then_cli(tmp_path: Path) -> None:
    path = write(tmp_path, "default_w: 2\nheartbeat_seconds: 0.5\nstorage: disk\n")
    env = {"REPLOG_HEARTBEAT_SECONDS": "0.25", "REPLOG_STORAGE": "memory"}
    config = load_config(path, environ=env, cli={"storage": "disk", "default_w": None})
    assert config.default_w == 2  # file only; a None CLI value does not override
    assert config.heartbeat_seconds == 0.25  # env beats file
    assert config.storage == "disk"  # CLI beats env


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("true", True), ("Yes", True), (" on ", True), ("0", False), ("false", False), ("OFF", False)],
)
def test_bool_from_env(text: str, expected: bool) -> None:
    assert load_config(environ={"REPLOG_SUSPEND_ON_SLAVES_DEAD": text}).suspend_on_slaves_dead is expected


@pytest.mark.parametrize(
    ("env", "name", "expected"),
    [
        ({"REPLOG_REQUEST_ID_WINDOW": "5"}, "request_id_window", 5),
        ({"REPLOG_BATCH_ENTRIES_MAX": " 7 "}, "batch_entries_max", 7),
        ({"REPLOG_HEARTBEAT_SECONDS": "0.5"}, "heartbeat_seconds", 0.5),
        ({"REPLOG_HEARTBEAT_SECONDS": "2"}, "heartbeat_seconds", 2.0),
        ({"REPLOG_SECONDARIES": "a:1, b:2,,"}, "secondaries", ("a:1", "b:2")),
        ({"REPLOG_SECONDARIES": "a:1"}, "secondaries", ("a:1",)),
        ({"REPLOG_LOG_LEVEL": "debug"}, "log_level", "DEBUG"),
        (
            {"REPLOG_DELIVERY_FAILURE": '{"0": {"error_after_append": 0.5}}'},
            "delivery_failure",
            {"0": {"error_after_append": 0.5}},
        ),
    ],
)
def test_env_strings_are_converted(env: dict[str, str], name: str, expected: Any) -> None:
    value = getattr(load_config(environ=env), name)
    assert value == expected
    assert type(value) is type(expected)


def test_yaml_types_are_accepted_from_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "secondaries: [h:1, h:2, h:3]\ndefault_w: 4\nsuspend_on_slaves_dead: true\n"
        "delivery_failure:\n  1: {delay_ms: [1, 2]}\n",
    )
    config = load_config(path, environ={})
    assert config.secondaries == ("h:1", "h:2", "h:3")
    assert config.default_w == 4
    assert config.suspend_on_slaves_dead is True
    assert config.faults_for(1) == {"delay_ms": [1, 2]}
    assert config.faults_for(0) == {}


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"REPLOG_HEARTBEAT_SECONDS": "abc"}, "cannot be parsed"),
        ({"REPLOG_SUSPEND_ON_SLAVES_DEAD": "maybe"}, "is not a boolean"),
        ({"REPLOG_REQUEST_ID_WINDOW": "1.5"}, "cannot be parsed"),
        ({"REPLOG_REQUEST_ID_WINDOW": "-1"}, "below the minimum 0"),
        ({"REPLOG_BATCH_ENTRIES_MAX": "0"}, "below the minimum 1"),
        ({"REPLOG_STORAGE": "tape"}, "is not one of"),
        ({"REPLOG_FSYNC": "sometimes"}, "is not one of"),
        ({"REPLOG_DELIVERY_FAILURE": "not json"}, "cannot be parsed"),
        ({"REPLOG_DELIVERY_FAILURE": "[1, 2]"}, "is not a mapping"),
    ],
)
def test_bad_env_values_name_the_setting_and_the_variable(env: dict[str, str], words: str) -> None:
    [(variable, _)] = env.items()
    setting = variable.removeprefix("REPLOG_").lower()
    with pytest.raises(ConfigError) as excinfo:
        load_config(environ=env)
    message = str(excinfo.value)
    assert setting in message
    assert variable in message
    assert words in message


def test_heartbeat_seconds_error_names_setting_and_source_exactly() -> None:
    with pytest.raises(ConfigError, match=r"heartbeat_seconds \(from REPLOG_HEARTBEAT_SECONDS\)"):
        load_config(environ={"REPLOG_HEARTBEAT_SECONDS": "soon"})


@pytest.mark.parametrize(
    ("yaml_text", "words"),
    [
        ("default_w: true\n", "default_w"),
        ("default_w: 1.5\n", "is not an integer"),
        ("heartbeat_seconds: [1]\n", "is not a number"),
        ("suspend_on_slaves_dead: 1\n", "is not a boolean"),
        ("secondaries: [1, 2]\n", "is not a list of host:port strings"),
        ("delivery_failure: [1]\n", "is not a mapping"),
    ],
)
def test_bad_file_values_name_the_file(tmp_path: Path, yaml_text: str, words: str) -> None:
    path = write(tmp_path, yaml_text)
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, environ={})
    assert words in str(excinfo.value)
    assert str(path) in str(excinfo.value)


def test_bad_cli_value_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"inflight_frames_max \(from --inflight-frames-max\)"):
        load_config(environ={}, cli={"inflight_frames_max": "zero"})


@pytest.mark.parametrize(
    ("yaml_text", "words"),
    [
        ("colour: blue\n", "unknown setting(s) ['colour']"),
        ("- a\n- b\n", "must hold a mapping"),
        ("a: [\n", "is not valid YAML"),
    ],
)
def test_bad_files_are_config_errors(tmp_path: Path, yaml_text: str, words: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_config(write(tmp_path, yaml_text), environ={})
    assert words in str(excinfo.value)


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml", environ={})


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"REPLOG_HEARTBEAT_SECONDS": "3"}, "heartbeat_seconds < suspect_after_seconds < unhealthy_after_seconds"),
        ({"REPLOG_SUSPECT_AFTER_SECONDS": "6"}, "heartbeat_seconds < suspect_after_seconds < unhealthy_after_seconds"),
        ({"REPLOG_UNHEALTHY_AFTER_SECONDS": "2"}, "suspect_after_seconds < unhealthy_after_seconds"),
        ({"REPLOG_BACKOFF_BASE_SECONDS": "5"}, "backoff_base_seconds must not exceed backoff_max_seconds"),
        ({"REPLOG_DEFAULT_W": "4"}, "default_w: 4 exceeds 1..3"),
        ({"REPLOG_SECONDARIES": "h:1", "REPLOG_DEFAULT_W": "3"}, "default_w: 3 exceeds 1..2"),
        ({"REPLOG_MASTER": "localhost"}, "master: 'localhost' is not host:port"),
        ({"REPLOG_MASTER": "h:70000"}, "is not host:port"),
        ({"REPLOG_SECONDARIES": "h:1,h:x"}, "secondaries[1]"),
        ({"REPLOG_DELIVERY_FAILURE": '{"s0": {}}'}, "delivery_failure: entry 's0'"),
        ({"REPLOG_DELIVERY_FAILURE": '{"0": 5}'}, "delivery_failure: entry '0'"),
    ],
)
def test_cross_setting_validation(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_config(environ=env)
    assert words in str(excinfo.value)


def test_default_w_may_equal_n_plus_one() -> None:
    assert load_config(environ={"REPLOG_DEFAULT_W": "3"}).default_w == 3


@pytest.mark.parametrize(
    "env",
    [
        {"REPLOG_BACKOFF_BASE_SECONDS": "nan"},
        {"REPLOG_CONNECTION_TIMEOUT": "nan"},
        {"REPLOG_BACKOFF_MAX_SECONDS": "inf"},
    ],
)
def test_non_finite_seconds_are_config_errors(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_config(environ=env)


def test_a_superscript_port_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="master"):
        load_config(environ={"REPLOG_MASTER": "h:²"})


def test_secondary_address_checks_the_id() -> None:
    config = load_config(environ={})
    assert config.secondary_address(1) == ("127.0.0.1", 9000)
    with pytest.raises(ConfigError, match=r"secondary id 2 is not configured \(secondaries: 0\.\.1\)"):
        config.secondary_address(2)
