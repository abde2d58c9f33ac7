"""Lifecycle annotations of Score workloads: stopped and time to live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from plinth.core.documents import Document
from plinth.core.errors import InvalidInput, SpecError
from plinth.integration.importers.lifecycle import (
    ANNOTATION_STOPPED,
    ANNOTATION_TTL,
    Ttl,
    parse_stopped,
    parse_ttl,
)
from plinth.integration.importers.score import translate_workload


def workload(annotations: dict[str, str], *, job: bool = False) -> Document:
    """Return a one-container workload with ``annotations``."""
    if job:
        annotations = {**annotations, "plinth.dev/type": "job"}
    raw: dict[str, Any] = {
        "apiVersion": "score.dev/v1b1",
        "metadata": {"name": "web", "annotations": annotations},
        "containers": {"main": {"image": "py:plinth_demo.webapp"}},
    }
    return Document("score.dev/v1b1", "Workload", "web", yaml.safe_load(yaml.safe_dump(raw)), 0)


def test_stopped_true_sets_the_spec_flag_for_services_and_jobs() -> None:
    for job in (False, True):
        spec = translate_workload(workload({ANNOTATION_STOPPED: "true"}, job=job))[0].spec
        assert spec["stopped"] is True


def test_a_running_workload_has_no_flag_so_its_spec_is_unchanged() -> None:
    plain = translate_workload(workload({}))[0].spec
    running = translate_workload(workload({ANNOTATION_STOPPED: "false"}))[0].spec
    assert "stopped" not in plain and running == plain


def test_bad_lifecycle_annotations_are_errors_at_their_path() -> None:
    doc = workload({ANNOTATION_STOPPED: "yes", ANNOTATION_TTL: "next week"})
    with pytest.raises(SpecError) as info:
        translate_workload(doc)
    found = {i.path: i.message for i in info.value.issues}
    assert "'true' or 'false'" in found["$.metadata.annotations['plinth.dev/stopped']"]
    assert "RFC 3339" in found["$.metadata.annotations['plinth.dev/ttl']"]


def test_a_valid_ttl_translates() -> None:
    translate_workload(workload({ANNOTATION_TTL: "7d"}))
    translate_workload(workload({ANNOTATION_TTL: "2026-12-31T18:00:00+01:00"}))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("36h", timedelta(hours=36)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_ttl(text) == Ttl(duration=expected)
    created = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_ttl(text).expiry(created) == created + expected


def test_rfc3339_times_need_a_zone() -> None:
    fixed = parse_ttl("2026-12-31T18:00:00Z")
    assert fixed.expires_at == datetime(2026, 12, 31, 18, tzinfo=UTC)
    assert fixed.expiry(datetime(2020, 1, 1, tzinfo=UTC)) == fixed.expires_at
    assert parse_ttl("2026-12-31t18:00:00.5-02:00").expires_at == datetime(
        2026, 12, 31, 20, 0, 0, 500000, tzinfo=UTC
    )
    for bad in ("2026-12-31T18:00:00", "2026-12-31", "2026-13-01T00:00:00Z", "0d", "7 days", ""):
        with pytest.raises(InvalidInput, match=r"plinth\.dev/ttl"):
            parse_ttl(bad)
    with pytest.raises(InvalidInput, match="at most 3650 days"):
        parse_ttl("999999w")


def test_stopped_values() -> None:
    assert parse_stopped("true") and parse_stopped(" TRUE ")
    assert not parse_stopped("false")
    with pytest.raises(InvalidInput, match=r"plinth\.dev/stopped"):
        parse_stopped("1")


@given(st.text(max_size=30))
def test_parse_ttl_accepts_or_explains(text: str) -> None:
    try:
        ttl = parse_ttl(text)
    except InvalidInput as exc:
        assert "plinth.dev/ttl" in exc.detail
    else:
        assert (ttl.duration is None) != (ttl.expires_at is None)
