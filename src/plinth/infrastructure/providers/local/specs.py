"""JSON Schemas of the resolved specs the local provider accepts, and their validation.

Validation errors never quote the offending value: a resolved spec may hold
secrets (a database URL in an environment variable, for instance).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator

from plinth.core.digest import digest
from plinth.core.errors import PermanentError
from plinth.infrastructure.providers.local.vm_specs import VM_SCHEMA

__all__ = [
    "SCHEMAS",
    "WORKLOAD_TYPES",
    "env_key",
    "is_stopped",
    "plain",
    "safe_id",
    "spec_digest",
    "validate_spec",
]

_STR_LIST_OR_NULL: dict[str, Any] = {
    "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]
}

_CONTAINER: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["image"],
    "properties": {
        "image": {"type": "string", "minLength": 1},
        "command": _STR_LIST_OR_NULL,
        "args": _STR_LIST_OR_NULL,
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["target", "content"],
                "properties": {
                    "target": {"type": "string", "minLength": 1},
                    "content": {"type": "string"},
                    "mode": {"type": ["string", "null"], "pattern": "^0?[0-7]{3,4}$"},
                },
            },
        },
    },
}

_EGRESS: dict[str, Any] = {
    "anyOf": [
        {"type": "null"},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {"allow": {"type": "array", "items": {"type": "string"}}},
        },
    ]
}

_ACCELERATORS: dict[str, Any] = {
    "anyOf": [
        {"type": "null"},
        {
            "type": "object",
            "required": ["type", "count"],
            "properties": {
                "type": {"type": "string", "minLength": 1},
                "count": {"type": "number", "exclusiveMinimum": 0},
                "allocation": {
                    "type": "object",
                    "properties": {
                        "devices": {
                            "type": "array",
                            "items": {"type": ["integer", "string"]},
                        },
                        "fraction": {"type": ["number", "null"]},
                        "partition": {"type": ["string", "null"]},
                    },
                },
            },
        },
    ]
}

_WORKLOAD_PROPERTIES: dict[str, Any] = {
    "egress": _EGRESS,
    "accelerators": _ACCELERATORS,
    "containers": {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": _CONTAINER,
    },
    "resources": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "cpu": {"type": ["string", "null"]},
            "memory": {"type": ["string", "null"]},
        },
    },
    "volumes": {
        "type": "array",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["source", "target"],
            "properties": {
                "source": {"type": "string", "pattern": "^/"},
                "target": {"type": "string", "minLength": 1},
                "read_only": {"type": "boolean"},
            },
        },
    },
}

_PORT_REF: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["port"],
    "properties": {"port": {"type": "string"}},
}

_HEALTHCHECK: dict[str, Any] = {
    "anyOf": [
        {"type": "null"},
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["http"],
            "properties": {
                "http": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["path", "port"],
                    "properties": {"path": {"type": "string"}, "port": {"type": "string"}},
                }
            },
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["exec"],
            "properties": {
                "exec": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["command"],
                    "properties": {
                        "command": {"type": "array", "minItems": 1, "items": {"type": "string"}}
                    },
                }
            },
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["tcp"],
            "properties": {"tcp": _PORT_REF},
        },
    ]
}

SERVICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["containers"],
    "properties": {
        **_WORKLOAD_PROPERTIES,
        "ports": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "port"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    "protocol": {"enum": ["TCP", "UDP"]},
                },
            },
        },
        "healthcheck": _HEALTHCHECK,
        "restart": {"enum": ["always", "on-failure", "never"]},
        "stopped": {"type": "boolean"},
    },
}

JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["containers"],
    "properties": {
        **_WORKLOAD_PROPERTIES,
        "schedule": {"type": ["string", "null"]},
        "timeout_s": {"type": ["integer", "null"], "minimum": 1},
        "idle_stop_s": {"type": ["integer", "null"], "minimum": 1},
        "stopped": {"type": "boolean"},
    },
}

POSTGRES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"database": {"type": ["string", "null"], "maxLength": 40}},
}

VOLUME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"size": {"type": ["string", "null"]}},
}

ROUTE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["host", "path", "port", "backend_url"],
    "properties": {
        "host": {"type": "string", "minLength": 1},
        "path": {"type": "string"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "backend_url": {"type": "string", "pattern": "^https?://"},
    },
}

MODEL_DEPLOYMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["model", "artifact", "format"],
    "properties": {
        "model": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"},
        "artifact": {
            "type": "object",
            "additionalProperties": False,
            "required": ["path", "digest"],
            "properties": {
                "path": {"type": "string", "pattern": "^/"},
                "digest": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
            },
        },
        "format": {"enum": ["sklearn", "onnx", "embeddings"]},
        "replicas": {"type": "integer", "minimum": 0, "maximum": 16},
        "scale_to_zero_after_seconds": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "port": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535},
    },
}

MLFLOW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "port": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535},
        "keep_data": {"type": "boolean"},
    },
}

SECRET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "length": {"type": ["integer", "null"], "minimum": 16, "maximum": 256},
        "rotation": {"type": ["string", "null"], "pattern": "^[1-9][0-9]*[smhd]$"},
    },
}

# The secure defaults the planner injects (orchestration/secure_defaults.py) ride along.
_SECURITY: dict[str, Any] = {"type": "object"}

SCHEMAS: dict[str, dict[str, Any]] = {
    name: {**schema, "properties": {**schema["properties"], "security": _SECURITY}}
    for name, schema in {
        "service": SERVICE_SCHEMA,
        "job": JOB_SCHEMA,
        "postgres": POSTGRES_SCHEMA,
        "volume": VOLUME_SCHEMA,
        "route": ROUTE_SCHEMA,
        "model-deployment": MODEL_DEPLOYMENT_SCHEMA,
        "mlflow": MLFLOW_SCHEMA,
        "secret": SECRET_SCHEMA,
        "vm": VM_SCHEMA,
    }.items()
}

WORKLOAD_TYPES = frozenset({"service", "job"})
"""Resource types that run processes, and so can be stopped (spec ``"stopped": true``)."""

_VALIDATORS = {name: Draft202012Validator(schema) for name, schema in SCHEMAS.items()}
_SAFE_MESSAGE_VALIDATORS = {"required", "additionalProperties", "minProperties"}


def plain(value: Any) -> Any:
    """Return ``value`` with every mapping turned into a dict and every sequence into a list."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def spec_digest(spec: Mapping[str, Any]) -> str:
    """Return the digest recorded as the applied digest of ``spec``."""
    return digest(plain(spec))


def validate_spec(type_name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``spec`` against the type's schema; return it as plain data.

    Raises:
        PermanentError: the spec does not match (the message names the place, not the value).
    """
    validator = _VALIDATORS.get(type_name)
    if validator is None:
        raise PermanentError(f"the local provider does not realise resource type {type_name!r}")
    data = plain(spec)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "spec" + "".join(f"[{p!r}]" for p in first.absolute_path)
        if first.validator in _SAFE_MESSAGE_VALIDATORS:
            what = first.message
        else:
            what = f"fails the {first.validator!r} rule ({first.validator_value!r})"
            if first.validator in {"anyOf", "oneOf"}:
                what = "does not match any of the allowed shapes"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise PermanentError(f"invalid {type_name} spec: {where} {what}{more}")
    result: dict[str, Any] = data
    return result


def is_stopped(type_name: str, spec: Mapping[str, Any]) -> bool:
    """Return whether ``spec`` asks a service or job to stay stopped."""
    return type_name in WORKLOAD_TYPES and spec.get("stopped") is True


def safe_id(resource_id: str) -> str:
    """Return ``resource_id`` made safe as a file name (stable; distinct ids stay distinct)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", resource_id).strip(".") or "_"
    if cleaned == resource_id and len(cleaned) <= 100:
        return cleaned
    short = hashlib.sha256(resource_id.encode()).hexdigest()[:10]
    return f"{cleaned[:80]}-{short}"


def env_key(name: str) -> str:
    """Return ``name`` upper-cased with every non-alphanumeric character replaced by ``_``."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper())
