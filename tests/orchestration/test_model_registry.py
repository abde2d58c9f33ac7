"""Uploads into the registry: single files, tar archives of directories, hostile archives."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from plinth.capabilities.identity.schemas import Actor, Grant
from plinth.capabilities.models.signing import sign_artifact
from plinth.core.clock import FrozenClock
from plinth.core.errors import Forbidden, InvalidInput
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database
from plinth.orchestration import model_registry
from tests import conftest as root_conftest
from tests.capabilities.models.pki import make_key, registry_store

database_url = root_conftest.database_url

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DANA = Actor("u5", "dana", "human", "ml-engineer", grants=(Grant("ml-engineer", "ml-research"),))
LEE = Actor("u3", "lee", "human", "leader", grants=(Grant("viewer", None),))


@pytest.fixture
def store(database_url: str) -> Iterator[Database]:
    """The registry's store."""
    db = registry_store(database_url)
    yield db
    db.dispose()


def _upload(
    db: Database,
    data_dir: Path,
    payload: bytes,
    filename: str,
    *,
    archive: bool,
    actor: Actor = DANA,
    **details: object,
) -> dict[str, object]:
    return model_registry.register_upload(
        db,
        clock=FrozenClock(NOW),
        ids=SequentialIds(),
        data_dir=data_dir,
        actor=actor,
        name="embedder",
        version="1.0.0",
        stream=io.BytesIO(payload),
        filename=filename,
        archive=archive,
        max_bytes=1 << 20,
        team="ml-research",
        **details,
    )


def test_a_tarred_directory_signed_on_the_client_registers_and_verifies(
    store: Database, tmp_path: Path
) -> None:
    model = tmp_path / "embedder"
    (model / "tok").mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"\x01" * 1000)
    (model / "tok" / "vocab.txt").write_text("a\nb\n")
    key = make_key()
    bundle = sign_artifact(model, key.private_pem)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(model, arcname="embedder")
    data = _upload(
        store,
        tmp_path / "data",
        buffer.getvalue(),
        "embedder.tar.gz",
        archive=True,
        signature=bundle,
    )
    assert data["files"] == 2 and str(data["artifact_uri"]).endswith("/embedder")
    model_registry.add_trust(
        store,
        clock=FrozenClock(NOW),
        actor=Actor(
            "u2", "pat", "human", "platform-engineer", grants=(Grant("platform-engineer", None),)
        ),
        name="ml-research",
        pem=key.public_pem,
    )
    assert model_registry.verify(store, name="embedder", version="1.0.0")["ok"]
    assert not list((tmp_path / "data" / "artifacts" / "uploads").iterdir())


def test_hostile_or_oversized_uploads_are_refused(store: Database, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("../../etc/evil", "x")
    with pytest.raises(InvalidInput, match="unsafe path"):
        _upload(store, tmp_path, buffer.getvalue(), "m.zip", archive=True)
    link = io.BytesIO()
    with tarfile.open(fileobj=link, mode="w") as tar:
        info = tarfile.TarInfo("m/link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(InvalidInput, match="link or special file"):
        _upload(store, tmp_path, link.getvalue(), "m.tar", archive=True)
    with pytest.raises(InvalidInput, match="neither a tar nor a zip"):
        _upload(store, tmp_path, b"plain bytes", "m.tar", archive=True)
    with pytest.raises(InvalidInput, match="larger than the limit"):
        _upload(store, tmp_path, b"x" * (2 << 20), "big.bin", archive=False)
    with pytest.raises(InvalidInput, match="empty"):
        _upload(store, tmp_path, b"", "empty.bin", archive=False)


def test_only_the_owning_team_may_register(store: Database, tmp_path: Path) -> None:
    with pytest.raises(Forbidden, match="ml-engineer role in team ml-research"):
        _upload(store, tmp_path, b"weights", "m.bin", archive=False, actor=LEE)
    with pytest.raises(Forbidden, match="platform engineers"):
        model_registry.add_trust(
            store, clock=FrozenClock(NOW), actor=DANA, name="k", pem=make_key().public_pem
        )
