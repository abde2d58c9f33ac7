"""Plain data of the model registry: lineage, verification results, references."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plinth.core.errors import InvalidInput

__all__ = ["NAME_PATTERN", "VERSION_PATTERN", "Verification", "check_lineage", "split_ref"]

NAME_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
VERSION_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,62}$")
_LINEAGE_KEYS = ("training_job", "dataset", "code_revision", "parent", "hyperparameters")


@dataclass(frozen=True)
class Verification:
    """Whether a registered version may be trusted now, and why (or why not)."""

    model: str
    version: str
    ok: bool
    reason: str
    digest_registered: str
    digest_now: str | None
    signer: str

    @property
    def ref(self) -> str:
        """Return ``model@version``."""
        return f"{self.model}@{self.version}"

    def as_dict(self) -> dict[str, Any]:
        """Return the verification as JSON data."""
        return {
            "model": self.model,
            "version": self.version,
            "ok": self.ok,
            "reason": self.reason,
            "digest_registered": self.digest_registered,
            "digest_now": self.digest_now,
            "signer": self.signer,
        }


def split_ref(ref: str) -> tuple[str, str]:
    """Split ``name@version``; InvalidInput when it is not one."""
    name, sep, version = ref.partition("@")
    if not sep or not NAME_PATTERN.match(name) or not VERSION_PATTERN.match(version):
        raise InvalidInput(f"{ref!r} is not a model reference: use NAME@VERSION, e.g. churn@1.2.0")
    return name, version


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"lineage.{key} must be a string")
    return value


def _dataset(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"uri": value}
    if not isinstance(value, Mapping) or not isinstance(value.get("uri"), str):
        raise InvalidInput("lineage.dataset must be {uri, digest?}")
    out = {"uri": value["uri"]}
    if value.get("digest"):
        out["digest"] = str(value["digest"])
    unknown = sorted(set(value) - {"uri", "digest"})
    if unknown:
        raise InvalidInput(f"lineage.dataset has unknown fields {unknown} (allowed: uri, digest)")
    return out


def check_lineage(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return normalised lineage (training_job, dataset, code_revision, parent, hyperparameters)."""
    data = dict(raw or {})
    unknown = sorted(set(data) - set(_LINEAGE_KEYS))
    if unknown:
        raise InvalidInput(
            f"unknown lineage fields {unknown} (allowed: {', '.join(_LINEAGE_KEYS)})"
        )
    params = data.get("hyperparameters") or {}
    if not isinstance(params, Mapping) or not all(
        isinstance(v, str | int | float | bool) or v is None for v in params.values()
    ):
        raise InvalidInput("lineage.hyperparameters must map names to numbers, strings or booleans")
    parent = _text(data, "parent")
    if parent is not None:
        split_ref(parent)
    return {
        "training_job": _text(data, "training_job"),
        "dataset": _dataset(data.get("dataset")),
        "code_revision": _text(data, "code_revision"),
        "parent": parent,
        "hyperparameters": {str(k): v for k, v in sorted(params.items())},
    }
