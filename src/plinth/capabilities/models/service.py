"""The model registry: register immutable, signed model versions and verify them.

Versions arrive through the API (artifacts are binary) and never change: the artifact
is copied into the content-addressed store, its digest and signature bundle recorded.
What is declarative (team, description, which version holds each stage) belongs to
the ``Model`` document, so a promotion is a plan like any other change (see
``stages``). Trust roots live in ``trust``. Services never commit: the caller owns
the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plinth.capabilities.audit import service as audit
from plinth.capabilities.models.artifacts import store_artifact
from plinth.capabilities.models.models import ModelRow, ModelVersionRow
from plinth.capabilities.models.schemas import (
    NAME_PATTERN,
    VERSION_PATTERN,
    Verification,
    check_lineage,
    split_ref,
)
from plinth.capabilities.models.signing import (
    TrustRoot,
    artifact_digest,
    artifact_manifest,
    parse_bundle,
    sign_artifact,
    verify_with_trust,
)
from plinth.capabilities.models.trust import trust_roots
from plinth.core.clock import Clock
from plinth.core.errors import Conflict, InvalidInput, NotFound
from plinth.core.ids import IdFactory
from plinth.infrastructure.store.pagination import Page, paginate

__all__ = [
    "ensure_model",
    "get_model",
    "get_version",
    "list_models",
    "list_versions",
    "model_as_dict",
    "register_version",
    "verify_version",
    "version_as_dict",
]

# -- reading ---------------------------------------------------------------------------


def get_model(session: Session, name: str) -> ModelRow:
    """Return a model; NotFound if there is none."""
    row = session.get(ModelRow, name)
    if row is None:
        raise NotFound(f"no model named {name}")
    return row


def list_models(session: Session, *, limit: int = 50, page_token: str | None = None) -> Page[Any]:
    """Return a page of models, by name."""
    return paginate(session, select(ModelRow), ModelRow.name, limit=limit, page_token=page_token)


def get_version(session: Session, name: str, version: str) -> ModelVersionRow:
    """Return one version of a model; NotFound if there is none."""
    row = session.scalar(
        select(ModelVersionRow).where(
            ModelVersionRow.model == name, ModelVersionRow.version == version
        )
    )
    if row is None:
        get_model(session, name)
        raise NotFound(f"model {name} has no version {version}")
    return row


def list_versions(
    session: Session, name: str, *, limit: int = 50, page_token: str | None = None
) -> Page[Any]:
    """Return a page of a model's versions, by version string."""
    get_model(session, name)
    stmt = select(ModelVersionRow).where(ModelVersionRow.model == name)
    return paginate(session, stmt, ModelVersionRow.version, limit=limit, page_token=page_token)


# -- registering -----------------------------------------------------------------------


def ensure_model(
    session: Session,
    name: str,
    team: str | None,
    project: str | None,
    description: str | None,
    clock: Clock,
) -> ModelRow:
    """Return the model ``name``, creating it for ``team`` if it is new."""
    row = session.get(ModelRow, name)
    if row is None:
        if not team:
            raise InvalidInput(f"model {name} is new: say which team owns it (team)")
        row = ModelRow(
            name=name,
            team=team,
            project=project,
            description=description or "",
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(row)
        session.flush()
    elif team and team != row.team:
        raise InvalidInput(f"model {name} belongs to team {row.team}, not {team}")
    return row


def _bundle_for(
    artifact: Path,
    signature: str | bytes | Mapping[str, Any] | None,
    signing_key: bytes | None,
    certificate_pem: bytes | None,
    chain_pem: bytes | None,
) -> dict[str, Any] | None:
    if signature is not None and signing_key is not None:
        raise InvalidInput("give a signature bundle or a signing key, not both")
    if signing_key is not None:
        return sign_artifact(
            artifact, signing_key, certificate_pem=certificate_pem, chain_pem=chain_pem
        )
    if signature is None:
        return None
    parsed = parse_bundle(signature)
    if tuple(artifact_manifest(artifact)) != parsed.resources:
        raise InvalidInput(
            "the signature was made for other content: the files it lists and their digests "
            "differ from the uploaded artifact (sign exactly the model you register)"
        )
    return parsed.raw


def register_version(
    session: Session,
    *,
    clock: Clock,
    ids: IdFactory,
    artifacts_root: Path,
    actor: str,
    name: str,
    version: str,
    artifact: Path,
    team: str | None = None,
    project: str | None = None,
    description: str | None = None,
    signature: str | bytes | Mapping[str, Any] | None = None,
    signing_key: bytes | None = None,
    certificate_pem: bytes | None = None,
    chain_pem: bytes | None = None,
    lineage: Mapping[str, Any] | None = None,
) -> ModelVersionRow:
    """Register an immutable model version; the same content again is a no-op, other is Conflict."""
    if not NAME_PATTERN.match(name) or len(name) > 63:
        raise InvalidInput(f"{name!r} is not a valid model name (lower-case letters, digits, -)")
    if not VERSION_PATTERN.match(version):
        raise InvalidInput(f"{version!r} is not a valid version (letters, digits, . _ + -)")
    clean_lineage = check_lineage(lineage)
    if clean_lineage["parent"]:
        get_version(session, *split_ref(clean_lineage["parent"]))
    bundle = _bundle_for(artifact, signature, signing_key, certificate_pem, chain_pem)
    digest = artifact_digest(artifact)
    model = ensure_model(session, name, team, project, description, clock)
    existing = session.scalar(
        select(ModelVersionRow).where(
            ModelVersionRow.model == name, ModelVersionRow.version == version
        )
    )
    if existing is not None:
        if existing.digest != digest:
            raise Conflict(
                f"{name}@{version} is registered with digest {existing.digest}; this artifact is "
                f"{digest}. Versions are immutable: register it under a new version"
            )
        _same_signer(existing, bundle)
        return existing
    return _insert_version(
        session,
        clock=clock,
        ids=ids,
        artifacts_root=artifacts_root,
        actor=actor,
        model=model,
        version=version,
        artifact=artifact,
        bundle=bundle,
        lineage=clean_lineage,
    )


def _same_signer(existing: ModelVersionRow, bundle: dict[str, Any] | None) -> None:
    """Allow a retried registration (same content, re-signed by the same signer)."""
    if bundle is None:
        return
    ref = f"{existing.model}@{existing.version}"
    if existing.signature is None:
        raise Conflict(f"{ref} is registered unsigned; sign a new version instead")
    before = parse_bundle(existing.signature)
    after = parse_bundle(bundle)
    if (before.kind, before.key_hint, before.certificate_subject) != (
        after.kind,
        after.key_hint,
        after.certificate_subject,
    ):
        raise Conflict(f"{ref} is registered with a signature by {before.claimed_signer}")


def _insert_version(
    session: Session,
    *,
    clock: Clock,
    ids: IdFactory,
    artifacts_root: Path,
    actor: str,
    model: ModelRow,
    version: str,
    artifact: Path,
    bundle: dict[str, Any] | None,
    lineage: dict[str, Any],
) -> ModelVersionRow:
    stored = store_artifact(artifact, artifacts_root)
    signer, kind = "", "none"
    if bundle is not None:
        parsed = parse_bundle(bundle)
        check = verify_with_trust(stored.path, bundle, trust_roots(session))
        signer, kind = (check.signer if check.ok else parsed.claimed_signer), parsed.kind
    row = ModelVersionRow(
        id=ids.new("mv"),
        model=model.name,
        version=version,
        artifact_uri=str(stored.path),
        digest=stored.digest,
        size_bytes=stored.size_bytes,
        files=stored.files,
        signature=bundle,
        signature_kind=kind,
        signer=signer,
        lineage=lineage,
        stage="none",
        created_at=clock.now(),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="model.version.register",
        subject=f"model/{model.name}@{version}",
        clock=clock,
        data={"digest": stored.digest, "signer": signer, "signature": kind, "lineage": lineage},
    )
    return row


# -- verifying and promoting -----------------------------------------------------------


def verify_version(
    session: Session, *, name: str, version: str, trust: Sequence[TrustRoot] | None = None
) -> Verification:
    """Check a version now: its artifact still has its digest and its signature verifies."""
    row = get_version(session, name, version)

    def result(ok: bool, reason: str, now: str | None, signer: str = row.signer) -> Verification:
        return Verification(name, version, ok, reason, row.digest, now, signer)

    path = Path(row.artifact_uri)
    try:
        now = artifact_digest(path)
    except InvalidInput as exc:
        return result(False, f"the artifact cannot be read: {exc.detail}", None)
    if now != row.digest:
        return result(
            False, f"the artifact digest changed: registered {row.digest}, now {now}", now
        )
    if row.signature is None:
        return result(False, f"{name}@{version} is not signed", now)
    check = verify_with_trust(path, row.signature, trust_roots(session) if trust is None else trust)
    return result(check.ok, check.reason, now, check.signer or row.signer)


# -- views -----------------------------------------------------------------------------


def model_as_dict(row: ModelRow, versions: Sequence[ModelVersionRow] = ()) -> dict[str, Any]:
    """Return a model as JSON data (with the given versions)."""
    stages = {v.stage: v.version for v in versions if v.stage != "none"}
    return {
        "name": row.name,
        "team": row.team,
        "project": row.project,
        "description": row.description,
        "stages": stages,
        "created_at": row.created_at.isoformat(),
        "versions": [version_as_dict(v) for v in versions],
    }


def version_as_dict(row: ModelVersionRow, *, with_signature: bool = False) -> dict[str, Any]:
    """Return a version as JSON data (the bundle itself only when asked)."""
    data = {
        "model": row.model,
        "version": row.version,
        "ref": f"{row.model}@{row.version}",
        "digest": row.digest,
        "artifact_uri": row.artifact_uri,
        "size_bytes": row.size_bytes,
        "files": row.files,
        "signed": row.signature is not None,
        "signature_kind": row.signature_kind,
        "signer": row.signer,
        "lineage": row.lineage,
        "stage": row.stage,
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by,
    }
    if with_signature:
        data["signature"] = row.signature
    return data
