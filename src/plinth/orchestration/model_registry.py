"""The model registry's use cases, each in its own transaction (Platform delegates here).

Registering a version is not a plan: the artifact is binary and immutable, and
registering deploys nothing. What changes the running platform (promoting a version
through a ``Model`` document, deploying it as a ``model-deployment``) goes through a
plan, where the ``policy`` gate reads ``model_facts`` (rule ``default/signed_models``).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePath
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from plinth.capabilities.identity.schemas import Actor, Role
from plinth.capabilities.models import service, trust
from plinth.capabilities.models.artifacts import extract_archive
from plinth.capabilities.models.models import ModelRow
from plinth.capabilities.models.schemas import split_ref
from plinth.capabilities.models.stages import model_refs
from plinth.core.clock import Clock
from plinth.core.errors import Forbidden, InvalidInput, NotFound
from plinth.core.ids import IdFactory
from plinth.infrastructure.store.db import Database

__all__ = [
    "MAX_UPLOAD_BYTES",
    "add_trust",
    "artifacts_root",
    "list_models",
    "list_trust",
    "model_facts",
    "register",
    "register_upload",
    "remove_trust",
    "show_model",
    "show_version",
    "verify",
]

MAX_UPLOAD_BYTES = 2 * 1024**3
_CHUNK = 1024 * 1024
_REGISTER_ROLES = (Role.DEVELOPER, Role.ML_ENGINEER, Role.PLATFORM_ENGINEER)


def artifacts_root(data_dir: Path) -> Path:
    """Return the content-addressed artifact store of a platform data directory."""
    return data_dir / "artifacts"


def model_facts(session: Session, changes: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Return ``{name@version: verification}`` for every version a plan deploys or promotes."""
    facts: dict[str, Any] = {}
    for ref in model_refs(changes):
        try:
            name, version = split_ref(ref)
            facts[ref] = service.verify_version(session, name=name, version=version).as_dict()
        except (NotFound, InvalidInput) as exc:
            facts[ref] = {"ok": False, "reason": exc.detail, "digest_now": None, "signer": ""}
    return facts


def _may_register(session: Session, actor: Actor, name: str, team: str | None) -> None:
    row = session.get(ModelRow, name)
    owner = row.team if row is not None else team
    if any(actor.has_role(role, team=owner) for role in _REGISTER_ROLES):
        return
    raise Forbidden(
        f"{actor.name} may not register versions of model {name}: registering needs the "
        f"developer or ml-engineer role in team {owner or '(none given)'}"
    )


def register(
    db: Database,
    *,
    clock: Clock,
    ids: IdFactory,
    data_dir: Path,
    actor: Actor,
    name: str,
    version: str,
    artifact: Path,
    team: str | None = None,
    project: str | None = None,
    description: str | None = None,
    signature: str | bytes | Mapping[str, Any] | None = None,
    lineage: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Register a model version from a local file or directory; return it as JSON data."""
    with db.transaction() as session:
        _may_register(session, actor, name, team)
        row = service.register_version(
            session,
            clock=clock,
            ids=ids,
            artifacts_root=artifacts_root(data_dir),
            actor=actor.name,
            name=name,
            version=version,
            artifact=artifact,
            team=team,
            project=project,
            description=description,
            signature=signature,
            lineage=lineage,
        )
        return service.version_as_dict(row)


def _upload_name(filename: str) -> str:
    name = PurePath(filename.replace("\\", "/")).name
    if name in ("", ".", ".."):
        raise InvalidInput(f"the uploaded artifact needs a file name, got {filename!r}")
    return name


def _save_upload(stream: BinaryIO, target: Path, max_bytes: int) -> None:
    written = 0
    with target.open("wb") as out:
        while chunk := stream.read(_CHUNK):
            written += len(chunk)
            if written > max_bytes:
                raise InvalidInput(f"the artifact is larger than the limit of {max_bytes} bytes")
            out.write(chunk)
    if written == 0:
        raise InvalidInput("the uploaded artifact is empty")


def register_upload(
    db: Database,
    *,
    clock: Clock,
    ids: IdFactory,
    data_dir: Path,
    actor: Actor,
    name: str,
    version: str,
    stream: BinaryIO,
    filename: str,
    archive: bool = False,
    max_bytes: int = MAX_UPLOAD_BYTES,
    **details: Any,
) -> dict[str, Any]:
    """Register a version from an uploaded file, or a tar/zip ``archive`` of a model directory.

    ``details`` are ``register``'s team, project, description, signature and lineage.
    """
    scratch = artifacts_root(data_dir) / "uploads" / uuid.uuid4().hex
    scratch.mkdir(parents=True)
    try:
        upload = scratch / _upload_name(filename)
        _save_upload(stream, upload, max_bytes)
        artifact = upload
        if archive:
            artifact = extract_archive(upload, scratch / "unpacked", max_bytes=max_bytes)
        return register(
            db,
            clock=clock,
            ids=ids,
            data_dir=data_dir,
            actor=actor,
            name=name,
            version=version,
            artifact=artifact,
            **details,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def list_models(db: Database, *, limit: int = 50, page_token: str | None = None) -> dict[str, Any]:
    """Return a page of models with their stages."""
    with db.read() as session:
        page = service.list_models(session, limit=limit, page_token=page_token)
        items = []
        for row in page.items:
            versions = service.list_versions(session, row.name, limit=500).items
            data = service.model_as_dict(row, versions)
            data["versions"] = len(versions)
            items.append(data)
        return {"items": items, "next_page_token": page.next_page_token}


def show_model(db: Database, name: str) -> dict[str, Any]:
    """Return a model with every version."""
    with db.read() as session:
        row = service.get_model(session, name)
        versions = service.list_versions(session, name, limit=500).items
        return service.model_as_dict(row, versions)


def show_version(db: Database, name: str, version: str) -> dict[str, Any]:
    """Return one version, its signature bundle included."""
    with db.read() as session:
        row = service.get_version(session, name, version)
        return service.version_as_dict(row, with_signature=True)


def verify(db: Database, *, name: str, version: str) -> dict[str, Any]:
    """Verify a version now (digest unchanged, signature trusted); never raises for a failure."""
    with db.read() as session:
        return service.verify_version(session, name=name, version=version).as_dict()


def _may_manage_trust(actor: Actor) -> None:
    if not actor.has_role(Role.PLATFORM_ENGINEER):
        raise Forbidden("only platform engineers (org-wide) may change model-signing trust")


def add_trust(
    db: Database, *, clock: Clock, actor: Actor, name: str, pem: str | bytes
) -> dict[str, Any]:
    """Trust a public key or CA certificate for model signatures."""
    _may_manage_trust(actor)
    with db.transaction() as session:
        row = trust.add_trust(session, name=name, pem=pem, actor=actor.name, clock=clock)
        return trust.trust_as_dict(row)


def remove_trust(db: Database, *, clock: Clock, actor: Actor, name: str) -> None:
    """Stop trusting a key or certificate."""
    _may_manage_trust(actor)
    with db.transaction() as session:
        trust.remove_trust(session, name=name, actor=actor.name, clock=clock)


def list_trust(db: Database) -> dict[str, Any]:
    """Return every trust root (public material only)."""
    with db.read() as session:
        return {"items": [trust.trust_as_dict(r) for r in trust.list_trust(session)]}
