"""The model registry over HTTP: thin adapters to ``orchestration.model_registry``.

Versions are uploaded as ``multipart/form-data``: the ``artifact`` part is one model
file, or (with ``archive=true``) a tar or zip of a model directory; ``signature`` is
the model-signing bundle made on the client, so private keys never reach the server.
Promotions are not here: they are ``Model`` documents, planned like any change.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field

from plinth.core.errors import InvalidInput
from plinth.experience.api.deps import ActorDep, LimitDep, PlatformDep, TokenDep
from plinth.orchestration import model_registry

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["models"])


class TrustBody(BaseModel):
    """A public key or CA certificate to trust for model signatures."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=63)
    pem: str = Field(min_length=1, max_length=65_536)


def _lineage(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"lineage is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput("lineage must be a JSON object")
    return data


@router.post("/models/{name}/versions", status_code=status.HTTP_201_CREATED)
def register_version(
    name: str,
    platform: PlatformDep,
    actor: ActorDep,
    version: Annotated[str, Form(min_length=1, max_length=63)],
    artifact: Annotated[UploadFile, File(description="model file, or tar/zip with archive=true")],
    archive: Annotated[bool, Form()] = False,
    signature: Annotated[UploadFile | None, File(description="model-signing bundle")] = None,
    team: Annotated[str | None, Form()] = None,
    project: Annotated[str | None, Form()] = None,
    description: Annotated[str | None, Form()] = None,
    lineage: Annotated[str | None, Form(description="JSON lineage object")] = None,
) -> dict[str, Any]:
    """Register an immutable model version (same content again: 201 with the same version)."""
    bundle = signature.file.read() if signature is not None else None
    return model_registry.register_upload(
        platform.db,
        clock=platform.clock,
        ids=platform.ids,
        data_dir=platform.settings.data_dir,
        actor=actor,
        name=name,
        version=version,
        stream=artifact.file,
        filename=artifact.filename or "",
        archive=archive,
        max_bytes=platform.settings.max_upload_bytes,
        team=team,
        project=project,
        description=description,
        signature=bundle,
        lineage=_lineage(lineage),
    )


@router.get("/models")
def list_models(
    platform: PlatformDep, actor: ActorDep, limit: LimitDep = 50, page_token: TokenDep = None
) -> dict[str, Any]:
    """Every model with its owner and stages."""
    return model_registry.list_models(platform.db, limit=limit, page_token=page_token)


@router.get("/models/{name}")
def show_model(name: str, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """One model with every version (digest, signer, lineage, stage)."""
    return model_registry.show_model(platform.db, name)


@router.get("/models/{name}/versions/{version}")
def show_version(name: str, version: str, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """One version, its signature bundle included."""
    return model_registry.show_version(platform.db, name, version)


@router.post("/models/{name}/versions/{version}/verify")
def verify_version(
    name: str, version: str, platform: PlatformDep, actor: ActorDep
) -> dict[str, Any]:
    """Check now that the artifact is unchanged and its signature verifies (``ok`` says)."""
    return model_registry.verify(platform.db, name=name, version=version)


@router.get("/model-trust")
def list_trust(platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """The keys and CA certificates model signatures may chain to."""
    return model_registry.list_trust(platform.db)


@router.post("/model-trust", status_code=status.HTTP_201_CREATED)
def add_trust(body: TrustBody, platform: PlatformDep, actor: ActorDep) -> dict[str, Any]:
    """Trust a public key or CA certificate (platform engineers)."""
    return model_registry.add_trust(
        platform.db, clock=platform.clock, actor=actor, name=body.name, pem=body.pem
    )


@router.delete("/model-trust/{name}", status_code=status.HTTP_204_NO_CONTENT)
def remove_trust(name: str, platform: PlatformDep, actor: ActorDep) -> None:
    """Stop trusting a key or certificate (platform engineers)."""
    model_registry.remove_trust(platform.db, clock=platform.clock, actor=actor, name=name)
