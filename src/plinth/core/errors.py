"""The exception tree of Plinth.

Every error a user can cause or meet is one of these; the experience layer maps
them to HTTP problem documents, CLI exit codes and MCP tool errors.

    PlinthError                      base; ``type`` is a stable identifier
    ├── InvalidInput                 bad spec, bad query, bad body        (422, exit 2)
    │   └── SpecError                carries issues with file/document/path
    ├── NotFound                     no such object                       (404, exit 2)
    ├── Conflict                     stale version, stale plan, duplicate (409, exit 1)
    ├── Unauthenticated              missing or wrong token               (401, exit 1)
    ├── Forbidden                    authenticated but not allowed        (403, exit 3)
    ├── GateDenied                   a gate returned deny                 (403, exit 3)
    └── ProviderError                a provider could not do its work
        ├── TemporaryError           retry later (with back-off)
        └── PermanentError           will not succeed without a change of spec
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Conflict",
    "Forbidden",
    "GateDenied",
    "InvalidInput",
    "Issue",
    "NotFound",
    "PermanentError",
    "PlinthError",
    "ProviderError",
    "SpecError",
    "TemporaryError",
    "Unauthenticated",
]


class PlinthError(Exception):
    """Base of every error Plinth raises on purpose."""

    type: str = "error"
    title: str = "Plinth error"
    status: int = 500

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = extra or {}


class InvalidInput(PlinthError):
    """The request or document is not valid."""

    type = "invalid-input"
    title = "Invalid input"
    status = 422


@dataclass(frozen=True)
class Issue:
    """One problem found in a spec: where it is and what is wrong."""

    message: str
    path: str = "$"
    document: int | None = None
    file: str | None = None

    def location(self) -> str:
        """Return ``file#document:path`` for humans."""
        parts = []
        if self.file:
            parts.append(self.file)
        if self.document is not None:
            parts.append(f"document {self.document}")
        parts.append(self.path)
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """Return the issue as plain JSON data."""
        return {
            "file": self.file,
            "document": self.document,
            "path": self.path,
            "message": self.message,
        }


class SpecError(InvalidInput):
    """One or more documents are invalid; ``issues`` says where and why."""

    type = "invalid-spec"
    title = "Invalid specification"

    def __init__(self, issues: list[Issue]) -> None:
        if not issues:
            raise ValueError("SpecError needs at least one issue")
        self.issues = list(issues)
        first = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(
            f"{first.location()}: {first.message}{more}",
            extra={"issues": [i.as_dict() for i in self.issues]},
        )


class NotFound(PlinthError):
    """The named object does not exist (or the caller may not know it does)."""

    type = "not-found"
    title = "Not found"
    status = 404


class Conflict(PlinthError):
    """The change conflicts with the current state (stale version or plan)."""

    type = "conflict"
    title = "Conflict"
    status = 409


class Unauthenticated(PlinthError):
    """No valid credentials were presented."""

    type = "unauthenticated"
    title = "Unauthenticated"
    status = 401


class Forbidden(PlinthError):
    """The actor is known but not allowed to do this."""

    type = "forbidden"
    title = "Forbidden"
    status = 403


class GateDenied(PlinthError):
    """A gate denied the plan; ``extra['verdicts']`` carries the reasons."""

    type = "gate-denied"
    title = "Denied by a gate"
    status = 403


class ProviderError(PlinthError):
    """A provider failed to realise or observe a resource."""

    type = "provider-error"
    title = "Provider error"
    status = 502


class TemporaryError(ProviderError):
    """A failure that may pass: the reconciler retries with back-off, not before ``retry_after``."""

    type = "provider-temporary"

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class PermanentError(ProviderError):
    """A failure that will repeat until the spec changes: the resource is marked failed."""

    type = "provider-permanent"
