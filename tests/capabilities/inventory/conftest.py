"""This directory's tests share one database per module and backend, emptied before each test."""

from __future__ import annotations

from tests.infrastructure.store import reuse

shared_database_url = reuse.shared_database_url
database_url = reuse.emptied_database_url
