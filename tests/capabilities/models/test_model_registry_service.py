"""The registry on a real store (SQLite and PostgreSQL): register, verify, tamper, promote."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from tests.capabilities.models.pki import KeyPair, SigningCA

from plinth.capabilities.models import service, stages, trust
from plinth.capabilities.models.schemas import Verification
from plinth.capabilities.models.signing import sign_artifact
from plinth.core.clock import FrozenClock
from plinth.core.errors import Conflict, InvalidInput, NotFound
from plinth.core.ids import SequentialIds
from plinth.infrastructure.store.db import Database

LINEAGE = {
    "training_job": "train-churn-42",
    "dataset": {"uri": "s3://data/churn/2026-11.parquet", "digest": "sha256:abc"},
    "code_revision": "9f1c2e7",
    "hyperparameters": {"C": 0.5, "penalty": "l2"},
}


def _register(
    db: Database, clock: FrozenClock, ids: SequentialIds, root: Path, artifact: Path, **kw: object
) -> dict[str, object]:
    args: dict[str, object] = {"name": "churn", "version": "1.0.0", "team": "ml-research"}
    args.update(kw)
    with db.transaction() as session:
        row = service.register_version(
            session,
            clock=clock,
            ids=ids,
            artifacts_root=root,
            actor="dana",
            artifact=artifact,
            **args,  # type: ignore[arg-type]
        )
        return service.version_as_dict(row)


def _trust(db: Database, clock: FrozenClock, pem: bytes, name: str = "ml-research") -> None:
    with db.transaction() as session:
        trust.add_trust(session, name=name, pem=pem, actor="pat", clock=clock)


def _verify(db: Database, version: str = "1.0.0") -> Verification:
    with db.read() as session:
        return service.verify_version(session, name="churn", version=version)


def _tamper(path: Path) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    path.write_bytes(path.read_bytes() + b"\x00")


def test_a_signed_version_is_stored_by_digest_and_verifies(
    registry_db: Database,
    clock: FrozenClock,
    ids: SequentialIds,
    tmp_path: Path,
    model_file: Path,
    key: KeyPair,
) -> None:
    _trust(registry_db, clock, key.public_pem)
    root = tmp_path / "artifacts"
    data = _register(
        registry_db, clock, ids, root, model_file, signing_key=key.private_pem, lineage=LINEAGE
    )
    digest = str(data["digest"])
    stored = Path(str(data["artifact_uri"]))
    assert stored == root / "sha256" / digest.split(":")[1] / "churn.pkl"
    assert stored.read_bytes() == model_file.read_bytes()
    assert data["signed"] and "ml-research" in str(data["signer"])
    assert data["lineage"] == {**LINEAGE, "parent": None}
    result = _verify(registry_db)
    assert result.ok, result.reason
    assert result.digest_now == result.digest_registered == digest


def test_tampered_artifact_bytes_fail_verification_with_both_digests(
    registry_db: Database,
    clock: FrozenClock,
    ids: SequentialIds,
    tmp_path: Path,
    model_file: Path,
    key: KeyPair,
) -> None:
    _trust(registry_db, clock, key.public_pem)
    data = _register(
        registry_db, clock, ids, tmp_path / "a", model_file, signing_key=key.private_pem
    )
    _tamper(Path(str(data["artifact_uri"])))
    result = _verify(registry_db)
    assert not result.ok
    assert result.reason.startswith("the artifact digest changed")
    assert result.digest_registered in result.reason and str(result.digest_now) in result.reason


def test_a_deleted_artifact_fails_verification(
    registry_db: Database,
    clock: FrozenClock,
    ids: SequentialIds,
    tmp_path: Path,
    model_file: Path,
    key: KeyPair,
) -> None:
    data = _register(
        registry_db, clock, ids, tmp_path / "a", model_file, signing_key=key.private_pem
    )
    os.remove(str(data["artifact_uri"]))
    result = _verify(registry_db)
    assert not result.ok and "cannot be read" in result.reason and result.digest_now is None


def test_a_version_signed_by_an_untrusted_key_does_not_verify(
    registry_db: Database,
    clock: FrozenClock,
    ids: SequentialIds,
    tmp_path: Path,
    model_file: Path,
    key: KeyPair,
    other_key: KeyPair,
) -> None:
    _trust(registry_db, clock, key.public_pem)
    data = _register(
        registry_db, clock, ids, tmp_path / "a", model_file, signing_key=other_key.private_pem
    )
    assert str(data["signer"]).startswith("key sha256:")
    result = _verify(registry_db)
    assert not result.ok and "not a trusted model-signing key" in result.reason
    _trust(registry_db, clock, other_key.public_pem, name="contractor")
    assert _verify(registry_db).ok


def test_an_unsigned_version_registers_but_does_not_verify(
    registry_db: Database, clock: FrozenClock, ids: SequentialIds, tmp_path: Path, model_file: Path
) -> None:
    _register(registry_db, clock, ids, tmp_path / "a", model_file)
    result = _verify(registry_db)
    assert not result.ok and result.reason == "churn@1.0.0 is not signed"


def test_a_certificate_signed_version_verifies_against_a_trusted_ca(
    registry_db: Database,
    clock: FrozenClock,
    ids: SequentialIds,
    tmp_path: Path,
    model_dir: Path,
    signing_ca: SigningCA,
) -> None:
    _trust(registry_db, clock, signing_ca.ca_pem, name="corp-ca")
    bundle = sign_artifact(
        model_dir,
        signing_ca.leaf_key_pem,
        certificate_pem=signing_ca.leaf_cert_pem,
        chain_pem=signing_ca.ca_pem,
    )
    data = _register(registry_db, clock, ids, tmp_path / "a", model_dir, signature=bundle)
    assert data["signature_kind"] == "certificate" and data["files"] == 3
    result = _verify(registry_db)
    assert result.ok and result.signer == "CN=ml-research signer"


def test_versions_are_immutable(
    registry_db: Database,
    clock: FrozenClock,
    ids: SequentialIds,
    tmp_path: Path,
    model_file: Path,
    key: KeyPair,
    other_key: KeyPair,
) -> None:
    root = tmp_path / "a"
    first = _register(registry_db, clock, ids, root, model_file, signing_key=key.private_pem)
    again = _register(registry_db, clock, ids, root, model_file, signing_key=key.private_pem)
    with pytest.raises(Conflict, match="registered with a signature by key sha256:"):
        _register(registry_db, clock, ids, root, model_file, signing_key=other_key.private_pem)
    assert again["digest"] == first["digest"]
    model_file.write_bytes(b"retrained")
    with pytest.raises(Conflict, match="Versions are immutable"):
        _register(registry_db, clock, ids, root, model_file)


def test_a_signature_for_other_content_is_refused(
    registry_db: Database,
    clock: FrozenClock,
    ids: SequentialIds,
    tmp_path: Path,
    model_file: Path,
    model_dir: Path,
    key: KeyPair,
) -> None:
    bundle = sign_artifact(model_dir, key.private_pem)
    with pytest.raises(InvalidInput, match="signature was made for other content"):
        _register(registry_db, clock, ids, tmp_path / "a", model_file, signature=bundle)
    with pytest.raises(InvalidInput, match="not JSON"):
        _register(registry_db, clock, ids, tmp_path / "a", model_file, signature=b"garbage")


def test_bad_names_lineage_and_owners_are_refused(
    registry_db: Database, clock: FrozenClock, ids: SequentialIds, tmp_path: Path, model_file: Path
) -> None:
    root = tmp_path / "a"
    with pytest.raises(InvalidInput, match="not a valid model name"):
        _register(registry_db, clock, ids, root, model_file, name="Churn!")
    with pytest.raises(InvalidInput, match="unknown lineage fields"):
        _register(registry_db, clock, ids, root, model_file, lineage={"gpu": "h100"})
    with pytest.raises(NotFound, match="no model named base"):
        _register(registry_db, clock, ids, root, model_file, lineage={"parent": "base@1"})
    with pytest.raises(InvalidInput, match="say which team"):
        _register(registry_db, clock, ids, root, model_file, team=None)
    _register(registry_db, clock, ids, root, model_file)
    with pytest.raises(InvalidInput, match="belongs to team ml-research"):
        _register(registry_db, clock, ids, root, model_file, version="2", team="payments")


def test_the_model_document_moves_stages(
    registry_db: Database, clock: FrozenClock, ids: SequentialIds, tmp_path: Path, model_file: Path
) -> None:
    root = tmp_path / "a"
    _register(registry_db, clock, ids, root, model_file)
    model_file.write_bytes(b"v2")
    _register(
        registry_db,
        clock,
        ids,
        root,
        model_file,
        version="2.0.0",
        lineage={"parent": "churn@1.0.0"},
    )
    doc = {
        "apiVersion": "plinth.dev/v1",
        "kind": "Model",
        "metadata": {"name": "churn"},
        "spec": {"team": "ml-research", "stages": {"production": "1.0.0", "staging": "2.0.0"}},
    }
    with registry_db.transaction() as session:
        assert stages.model_document_issues(session, doc, teams=["ml-research"]) == []
        stages.apply_model_document(session, doc, clock=clock)
    doc["spec"] = {"team": "ml-research", "stages": {"production": "2.0.0"}}
    with registry_db.transaction() as session:
        stages.apply_model_document(session, doc, clock=clock)
        shown = service.model_as_dict(
            service.get_model(session, "churn"), service.list_versions(session, "churn").items
        )
    assert shown["stages"] == {"production": "2.0.0"}
    bad = {**doc, "spec": {"team": "payments", "stages": {"staging": "9.9", "production": "9.9"}}}
    with registry_db.read() as session:
        issues = stages.model_document_issues(session, bad)
    assert ("$.spec.team", "model churn belongs to team ml-research") in issues
    assert ("$.spec.stages.staging", "model churn has no registered version 9.9") in issues
    assert any("already in stage" in message for _, message in issues)


def test_model_refs_name_deployments_and_new_promotions() -> None:
    changes = [
        {
            "kind": "Resource",
            "type": "model-deployment",
            "action": "create",
            "after": {"model": "churn@1.0.0"},
        },
        {
            "kind": "Resource",
            "type": "model-deployment",
            "action": "no-op",
            "after": {"model": "old@1"},
        },
        {
            "kind": "Model",
            "name": "churn",
            "action": "update",
            "before": {"spec": {"stages": {"production": "1.0.0"}}},
            "after": {
                "metadata": {"name": "churn"},
                "spec": {"stages": {"production": "1.0.0", "staging": "2.0.0"}},
            },
        },
        {"kind": "Resource", "type": "postgres", "action": "create", "after": {"model": "x@1"}},
    ]
    assert stages.model_refs(changes) == ["churn@1.0.0", "churn@2.0.0"]
