"""Config: one frozen dataclass, built from config.yaml < environment < CLI, validated once.

Every field is a setting. Its environment variable is REPLOG_<NAME> and its CLI flag is
--<name-with-dashes>. Lists are comma-separated in the environment and on the command line;
`delivery_failure` is JSON there. A bad value stops the node at start with a ConfigError
that names the setting and where the value came from.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from replog.errors import ConfigError

__all__ = ["DEFAULT_CONFIG_FILE", "Config", "load_config", "setting_names"]

DEFAULT_CONFIG_FILE = "config.yaml"


def _doc(text: str, **extra: Any) -> dict[str, Any]:
    return {"doc": text, **extra}


@dataclass(frozen=True)
class Config:
    master: str = field(default="127.0.0.1:7000", metadata=_doc("host:port where the master listens"))
    secondaries: tuple[str, ...] = field(
        default=("127.0.0.1:8000", "127.0.0.1:9000"),
        metadata=_doc("host:port of each secondary; secondary N listens on entry N"),
    )
    bind_host: str = field(default="", metadata=_doc("address to bind; empty = the host of this node's entry"))
    default_w: int = field(default=1, metadata=_doc("write concern when a request names none", min=1))
    heartbeat_seconds: float = field(default=1.0, metadata=_doc("heartbeat period on idle links", min=0.01))
    suspect_after_seconds: float = field(default=3.0, metadata=_doc("silence before Suspected", min=0.01))
    unhealthy_after_seconds: float = field(default=6.0, metadata=_doc("silence before Unhealthy", min=0.01))
    connection_timeout: float = field(default=2.0, metadata=_doc("bound on one dial + Hello, seconds", min=0.01))
    backoff_base_seconds: float = field(default=0.1, metadata=_doc("first retry delay", min=0.001))
    backoff_max_seconds: float = field(default=3.2, metadata=_doc("cap of the retry delay", min=0.001))
    suspend_on_slaves_dead: bool = field(
        default=False, metadata=_doc("fail at once (503) when w-1 exceeds the live secondaries")
    )
    request_id_window: int = field(default=10_000, metadata=_doc("request_ids remembered for dedup", min=0))
    max_body_bytes: int = field(default=1 << 20, metadata=_doc("largest request body accepted", min=64))
    message_bytes_max: int = field(default=256 << 10, metadata=_doc("largest single message, bytes", min=1))
    append_batch_max: int = field(default=10_000, metadata=_doc('messages in one {"msgs": [...]} append', min=1))
    batch_entries_max: int = field(default=512, metadata=_doc("entries per replication frame", min=1))
    batch_bytes_max: int = field(default=1 << 20, metadata=_doc("bytes per replication frame", min=64))
    inflight_frames_max: int = field(default=8, metadata=_doc("unacked frames per secondary", min=1))
    waiters_max: int = field(
        default=100_000,
        metadata=_doc(
            "appends waiting for their w at once; a batch, or a run of one /stream frame, counts once", min=1
        ),
    )
    waiters_per_w_max: int = field(
        default=50_000, metadata=_doc("appends waiting for one value of w, counted as waiters_max counts", min=1)
    )
    header_timeout_seconds: float = field(
        default=10.0, metadata=_doc("a client must send a request's headers within this", min=0.1)
    )
    body_timeout_seconds: float = field(
        default=30.0, metadata=_doc("a client must send a request's body within this", min=0.1)
    )
    cluster_token: str = field(
        default="", metadata=_doc("shared secret of the nodes (replication, /join, /vote, /admin/step-down, /faults)")
    )
    client_token: str = field(default="", metadata=_doc("when set, appends need `Authorization: Bearer <it>`"))
    read_token: str = field(default="", metadata=_doc("when set, reads of the log need `Authorization: Bearer <it>`"))
    storage: str = field(default="disk", metadata=_doc("disk | memory", choices=("disk", "memory")))
    data_dir: str = field(default="./data", metadata=_doc("each node keeps its log in <data_dir>/<node name>"))
    fsync: str = field(
        default="always", metadata=_doc("always | interval | never", choices=("always", "interval", "never"))
    )
    delivery_failure: Mapping[str, Any] = field(
        default_factory=dict, metadata=_doc('faults per secondary id, e.g. {"0": {"error_after_append": 0.3}}')
    )
    failover: bool = field(
        default=True,
        metadata=_doc("elect a new leader when the leader dies; false keeps the fixed master"),
    )
    election_timeout_seconds: float = field(
        default=1.0,
        metadata=_doc("with failover: silence from the leader before an election, drawn from [T, 2T]", min=0.05),
    )
    tls_cert_file: str = field(
        default="", metadata=_doc("PEM certificate (chain) this node serves and presents; with the key, turns TLS on")
    )
    tls_key_file: str = field(default="", metadata=_doc("PEM private key of tls_cert_file"))
    tls_ca_file: str = field(
        default="", metadata=_doc("PEM CA bundle peers' certificates must verify against; empty = the system's")
    )
    tls_client_auth: bool = field(
        default=False, metadata=_doc("mutual TLS: every connection must present a certificate from tls_ca_file")
    )
    log_level: str = field(
        default="INFO", metadata=_doc("DEBUG | INFO | WARNING | ERROR", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    )

    @property
    def master_host(self) -> str:
        return _split_address(self.master, "master")[0]

    @property
    def master_port(self) -> int:
        return _split_address(self.master, "master")[1]

    def secondary_address(self, secondary_id: int) -> tuple[str, int]:
        if not 0 <= secondary_id < len(self.secondaries):
            raise ConfigError(
                f"secondary id {secondary_id} is not configured (secondaries: 0..{len(self.secondaries) - 1})"
            )
        return _split_address(self.secondaries[secondary_id], f"secondaries[{secondary_id}]")

    @property
    def nodes(self) -> tuple[str, ...]:
        """Every node's address by node id: the master is node 0, secondary N is node N + 1."""
        return (self.master, *self.secondaries)

    @property
    def link_heartbeat_seconds(self) -> float:
        """The heartbeat period on idle replication links: with failover, well inside the election
        timeout (a quarter of it at most), so that a healthy leader is never taken for a dead one."""
        if self.failover:
            return min(self.heartbeat_seconds, self.election_timeout_seconds / 4)
        return self.heartbeat_seconds

    @property
    def tls(self) -> bool:
        """Whether this node serves HTTPS/WSS and dials its peers over TLS."""
        return bool(self.tls_cert_file)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def url_of(self, address: str) -> str:
        """The base URL of the node at `host:port`: every node of a cluster speaks the same scheme."""
        return f"{self.scheme}://{address}"

    def faults_for(self, secondary_id: int) -> dict[str, Any]:
        plan = self.delivery_failure.get(str(secondary_id), {})
        return dict(plan)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def setting_names() -> list[str]:
    return [f.name for f in fields(Config)]


def load_config(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    cli: Mapping[str, Any] | None = None,
) -> Config:
    """Merge the layers (file < environment < CLI), convert, validate; raise ConfigError."""
    environ = os.environ if environ is None else environ
    raw: dict[str, tuple[Any, str]] = {}
    path = Path(config_file) if config_file else Path(DEFAULT_CONFIG_FILE)
    if config_file or path.exists():
        for name, value in _read_file(path).items():
            raw[name] = (value, str(path))
    for name in setting_names():
        env_name = f"REPLOG_{name.upper()}"
        if env_name in environ:
            raw[name] = (environ[env_name], env_name)
    for name, value in (cli or {}).items():
        if value is not None:
            raw[name] = (value, f"--{name.replace('_', '-')}")
    hints = get_type_hints(Config)
    values = {name: _convert(name, value, source, hints[name]) for name, (value, source) in raw.items()}
    config = Config(**values)
    _validate(config)
    return config


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings")
    unknown = sorted(set(data) - set(setting_names()))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s) {unknown}")
    return data


def _convert(name: str, value: Any, source: str, hint: Any) -> Any:
    def bad(why: str) -> ConfigError:
        return ConfigError(f"bad setting {name} (from {source}): {value!r} {why}")

    meta = {f.name: f.metadata for f in fields(Config)}[name]
    try:
        if hint is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise bad("is not a boolean")
                return lowered in ("1", "true", "yes", "on")
            if not isinstance(value, bool):
                raise bad("is not a boolean")
            return value
        if hint is int or hint is float:
            if isinstance(value, bool):
                raise bad("is not a number")
            number = hint(value) if isinstance(value, str | int | float) else None
            if number is None or (hint is int and isinstance(value, float) and not value.is_integer()):
                raise bad("is not a number" if hint is float else "is not an integer")
            if not math.isfinite(number):
                raise bad("is not a finite number")
            if "min" in meta and number < meta["min"]:
                raise bad(f"is below the minimum {meta['min']}")
            return number
        if hint is str:
            text = str(value)
            if name == "log_level":
                text = text.upper()
            if "choices" in meta and text not in meta["choices"]:
                raise bad(f"is not one of {', '.join(meta['choices'])}")
            return text
        if isinstance(hint, types.GenericAlias) and hint.__origin__ is tuple:
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
                raise bad("is not a list of host:port strings")
            return tuple(i.strip() for i in items if i.strip())
        # A mapping: JSON text from the environment or CLI, a YAML mapping from the file.
        mapping = json.loads(value) if isinstance(value, str) else value
        if not isinstance(mapping, dict):
            raise bad("is not a mapping")
        return {str(k): v for k, v in mapping.items()}
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise bad("cannot be parsed") from None


def _validate(config: Config) -> None:
    _split_address(config.master, "master")
    for i, address in enumerate(config.secondaries):
        _split_address(address, f"secondaries[{i}]")
    if config.default_w > len(config.secondaries) + 1:
        raise ConfigError(f"bad setting default_w: {config.default_w} exceeds 1..{len(config.secondaries) + 1}")
    if not config.heartbeat_seconds < config.suspect_after_seconds < config.unhealthy_after_seconds:
        raise ConfigError(
            "bad settings: need heartbeat_seconds < suspect_after_seconds < unhealthy_after_seconds "
            f"(got {config.heartbeat_seconds}, {config.suspect_after_seconds}, {config.unhealthy_after_seconds})"
        )
    if config.backoff_base_seconds > config.backoff_max_seconds:
        raise ConfigError("bad settings: backoff_base_seconds must not exceed backoff_max_seconds")
    _validate_tls(config)
    for key, plan in config.delivery_failure.items():
        if not key.isdigit() or not isinstance(plan, dict):
            raise ConfigError(f"bad setting delivery_failure: entry {key!r} must map a secondary id to a mapping")


def _validate_tls(config: Config) -> None:
    """The combinations that make sense; whether the files load is checked at start (net/tls.py)."""
    if bool(config.tls_cert_file) != bool(config.tls_key_file):
        given, missing = (
            ("tls_cert_file", "tls_key_file") if config.tls_cert_file else ("tls_key_file", "tls_cert_file")
        )
        raise ConfigError(f"bad settings: {given} is set but {missing} is not; TLS needs both")
    if config.tls_ca_file and not config.tls_cert_file:
        # A node that verifies its peers but cannot serve TLS itself could never be dialled by them.
        raise ConfigError("bad settings: tls_ca_file is set but tls_cert_file and tls_key_file are not")
    if config.tls_client_auth and not (config.tls_cert_file and config.tls_ca_file):
        raise ConfigError(
            "bad settings: tls_client_auth needs tls_cert_file, tls_key_file and tls_ca_file "
            "(the CA that client certificates must verify against)"
        )


def _split_address(address: str, setting: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not re.fullmatch(r"[0-9]{1,5}", port) or not 0 < int(port) < 65536:
        raise ConfigError(f"bad setting {setting}: {address!r} is not host:port")
    return host, int(port)
