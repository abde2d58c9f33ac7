"""Secrets never reach the audit log: secret-looking fields and URL credentials are redacted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from plinth.capabilities.audit import service as audit
from plinth.core.clock import FrozenClock
from plinth.infrastructure.store.db import Database

SECRETS = ["hunter2", "s3cr3t-token", "k-123", "pr1v", "dbpass", "cr3d"]


def stored(database: Database, clock: FrozenClock, data: dict[str, Any]) -> str:
    """Append ``data`` and return every stored audit column as raw text."""
    with database.transaction() as session:
        audit.append(session, actor="ada", action="test", subject="s", data=data, clock=clock)
    with database.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM audit_records")).all()
    return json.dumps([[str(v) for v in row] for row in rows])


def test_secret_fields_and_url_credentials_are_never_stored(
    database: Database, clock: FrozenClock
) -> None:
    data = {
        "password": "hunter2",
        "nested": {"API_TOKEN": "s3cr3t-token", "list": [{"api-key": "k-123"}]},
        "private_key": "pr1v",
        "env": {"DATABASE_URL": "postgresql://app:dbpass@db.local:5432/app"},
        "credentials": "cr3d",
        "harmless": "hello",
    }
    raw = stored(database, clock, data)
    for secret in SECRETS:
        assert secret not in raw
    assert "hello" in raw and "db.local:5432/app" in raw and "app:<redacted>@" in raw
    with database.transaction() as session:
        assert audit.verify(session).ok  # the chain covers the redacted form


def test_redact_leaves_ordinary_data_alone() -> None:
    data = {"changes": [{"kind": "Workload", "name": "web", "action": "create"}], "n": 3}
    assert audit.redact(data) == data
    assert audit.redact("see https://example.com/a:b@c") == "see https://example.com/a:b@c"


@pytest.mark.parametrize(
    ("data", "secret"),
    [
        ({"password": 123456}, "123456"),
        ({"secrets": {"db": "hunter2"}}, "hunter2"),
        ({"url": "redis://:hunter2@cache.local:6379/0"}, "hunter2"),
        ({"url": "postgresql://app:p@ss@db.local/app"}, "ss@db"),
    ],
    ids=["number-under-secret-key", "mapping-under-secret-key", "url-without-user", "at-in-pass"],
)
def test_redact_catches_every_secret_shape(data: dict[str, Any], secret: str) -> None:
    assert secret not in json.dumps(audit.redact(data))
