"""Configuration: one YAML file plus ``PLINTH_*`` environment variables.

Precedence, lowest first: defaults, the file (``PLINTH_CONFIG`` or
``<data_dir>/plinth.yaml``), environment variables, explicit overrides.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plinth.core.errors import InvalidInput

__all__ = ["Settings", "load_settings"]

DEFAULT_GATES = [
    "authorization",
    "autonomy",
    "cost",
    "template-bounds",
    "policy",
    "capacity",
]


class Settings(BaseModel):
    """Everything the control plane needs to start."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(
        default=Path(".plinth"), description="where state, logs and volumes live"
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite in data_dir if unset"
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    gates: list[str] = Field(default_factory=lambda: list(DEFAULT_GATES))
    providers: list[str] = Field(
        default_factory=lambda: ["local"],
        description="providers that realise resources (entry points in plinth.providers)",
    )
    provider_settings: dict[str, Any] = Field(
        default_factory=dict, description="extra settings handed to every provider"
    )
    reconcile_interval_s: float = Field(default=5.0, gt=0)
    reconcile_workers: int = Field(default=2, ge=1, le=32)
    metering_interval_s: float = Field(default=10.0, gt=0, description="usage sampling period")
    postgres_url: str | None = Field(
        default=None, description="admin URL of a PostgreSQL server for `postgres` resources"
    )
    postgres_bin_dir: Path | None = Field(default=None, description="where initdb and pg_ctl live")
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    max_upload_bytes: int = Field(
        default=32 * 1_048_576, gt=0, description="limit for usage batches and billing imports"
    )
    seed_demo: bool = True
    portal_demo_login: bool | None = Field(
        default=None, description="portal: sign in as demo users (default: follows seed_demo)"
    )
    llm_upstream_url: str | None = Field(
        default=None, description="base URL of the OpenAI-compatible upstream the demo seeds"
    )
    gateway_rate_per_second: float = Field(
        default=20.0, gt=0, description="MCP gateway: tool calls per second per agent"
    )
    gateway_burst: int = Field(default=40, ge=1, description="MCP gateway: burst per agent")
    gateway_calls_per_day: int | None = Field(
        default=10000, ge=0, description="MCP gateway: tool calls per agent per UTC day"
    )
    compliance_interval_s: float = Field(
        default=300.0, gt=0, description="continuous compliance: seconds between scans"
    )
    compliance_remediation: list[str] = Field(
        default_factory=lambda: ["restore", "rotate-secret", "stop"],
        description="remediations run automatically (restore, rotate-secret, stop)",
    )
    compliance_stop_grace_s: float = Field(
        default=86400.0, ge=0, description="how long a non-compliant workload runs before a stop"
    )
    events_broker_url: str | None = Field(
        default=None, description="CloudEvents broker ingress (binary HTTP) for every event"
    )
    tracing_exporter: str = Field(
        default="none", description="where spans go: none, console, memory (tests) or otlp"
    )
    metrics_token: str | None = Field(
        default=None, description="bearer token /metrics requires (unauthenticated if unset)"
    )

    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to SQLite under the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'plinth.db').resolve()}"


_ENV_FIELDS = {
    "PLINTH_DATA_DIR": "data_dir",
    "PLINTH_DATABASE_URL": "database_url",
    "PLINTH_HOST": "host",
    "PLINTH_PORT": "port",
    "PLINTH_GATES": "gates",
    "PLINTH_PROVIDERS": "providers",
    "PLINTH_RECONCILE_INTERVAL": "reconcile_interval_s",
    "PLINTH_RECONCILE_WORKERS": "reconcile_workers",
    "PLINTH_METERING_INTERVAL": "metering_interval_s",
    "PLINTH_POSTGRES_URL": "postgres_url",
    "PLINTH_POSTGRES_BIN_DIR": "postgres_bin_dir",
    "PLINTH_MAX_BODY_BYTES": "max_body_bytes",
    "PLINTH_MAX_UPLOAD_BYTES": "max_upload_bytes",
    "PLINTH_SEED_DEMO": "seed_demo",
    "PLINTH_PORTAL_DEMO_LOGIN": "portal_demo_login",
    "PLINTH_LLM_UPSTREAM_URL": "llm_upstream_url",
    "PLINTH_GATEWAY_RATE_PER_SECOND": "gateway_rate_per_second",
    "PLINTH_GATEWAY_BURST": "gateway_burst",
    "PLINTH_GATEWAY_CALLS_PER_DAY": "gateway_calls_per_day",
    "PLINTH_COMPLIANCE_INTERVAL": "compliance_interval_s",
    "PLINTH_COMPLIANCE_STOP_GRACE": "compliance_stop_grace_s",
    "PLINTH_EVENTS_BROKER_URL": "events_broker_url",
    "PLINTH_TRACING_EXPORTER": "tracing_exporter",
    "PLINTH_METRICS_TOKEN": "metrics_token",
}


def load_settings(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Build settings from file, environment and overrides; raise InvalidInput if wrong."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for var, name in _ENV_FIELDS.items():
        if var in env and env[var] != "":
            raw: Any = env[var]
            if name in ("gates", "providers"):
                raw = [g.strip() for g in env[var].split(",") if g.strip()]
            values[name] = raw
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    data_dir = Path(values.get("data_dir", ".plinth"))
    config_file = (
        Path(env["PLINTH_CONFIG"]) if env.get("PLINTH_CONFIG") else data_dir / "plinth.yaml"
    )
    file_values: dict[str, Any] = {}
    if config_file.is_file():
        try:
            loaded = yaml.safe_load(config_file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{config_file}: not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise InvalidInput(f"{config_file}: expected a mapping of settings")
        file_values = loaded
    try:
        return Settings.model_validate({**file_values, **values})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"configuration: {where}: {first['msg']}") from exc
