"""OpenSSF model signing, offline: keys, certificates, tampering, untrusted signers, bad bundles."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from tests.capabilities.models.pki import KeyPair, SigningCA, make_ca

from plinth.capabilities.models.signing import (
    artifact_digest,
    parse_bundle,
    sign_artifact,
    trust_root,
    verify_artifact,
    verify_with_trust,
)
from plinth.core.errors import InvalidInput


def test_a_key_signed_file_verifies_with_its_public_key(model_file: Path, key: KeyPair) -> None:
    bundle = sign_artifact(model_file, key.private_pem)
    check = verify_artifact(model_file, bundle, public_key_pem=key.public_pem)
    assert check.ok, check.reason
    assert parse_bundle(bundle).kind == "public-key"


def test_a_key_signed_directory_verifies(model_dir: Path, key: KeyPair) -> None:
    bundle = sign_artifact(model_dir, key.private_pem)
    assert verify_artifact(model_dir, bundle, public_key_pem=key.public_pem).ok
    names = [name for name, _ in parse_bundle(bundle).resources]
    assert names == ["config.json", "tokenizer/vocab.txt", "weights.bin"]


def test_changed_bytes_fail_with_the_file_named(model_dir: Path, key: KeyPair) -> None:
    bundle = sign_artifact(model_dir, key.private_pem)
    (model_dir / "weights.bin").write_bytes(os.urandom(4096))
    check = verify_artifact(model_dir, bundle, public_key_pem=key.public_pem)
    assert not check.ok
    assert "do not match the signed manifest" in check.reason
    assert "weights.bin" in check.reason


def test_an_added_file_fails(model_dir: Path, key: KeyPair) -> None:
    bundle = sign_artifact(model_dir, key.private_pem)
    (model_dir / "backdoor.py").write_text("import os")
    check = verify_artifact(model_dir, bundle, public_key_pem=key.public_pem)
    assert not check.ok and "backdoor.py" in check.reason


def test_a_signature_by_an_untrusted_key_fails(
    model_file: Path, key: KeyPair, other_key: KeyPair
) -> None:
    bundle = sign_artifact(model_file, other_key.private_pem)
    check = verify_with_trust(model_file, bundle, [trust_root("team", key.public_pem)])
    assert not check.ok
    assert "not a trusted model-signing key" in check.reason


def test_a_forged_signature_value_fails(model_file: Path, key: KeyPair) -> None:
    bundle = sign_artifact(model_file, key.private_pem)
    sig = bundle["dsseEnvelope"]["signatures"][0]
    forged = sign_artifact(model_file, make_ca().leaf_key_pem)["dsseEnvelope"]["signatures"][0]
    sig["sig"] = forged["sig"]
    check = verify_artifact(model_file, bundle, public_key_pem=key.public_pem)
    assert not check.ok
    assert "does not verify" in check.reason


def test_a_certificate_signature_verifies_against_its_ca(
    model_file: Path, signing_ca: SigningCA
) -> None:
    bundle = sign_artifact(
        model_file,
        signing_ca.leaf_key_pem,
        certificate_pem=signing_ca.leaf_cert_pem,
        chain_pem=signing_ca.ca_pem,
    )
    parsed = parse_bundle(bundle)
    assert parsed.kind == "certificate"
    assert parsed.certificate_subject == "CN=ml-research signer"
    check = verify_artifact(model_file, bundle, certificates_pem=signing_ca.ca_pem)
    assert check.ok, check.reason
    assert check.signer == "CN=ml-research signer"


def test_a_certificate_from_another_ca_fails(model_file: Path, signing_ca: SigningCA) -> None:
    stranger = make_ca("Stranger CA")
    bundle = sign_artifact(
        model_file,
        stranger.leaf_key_pem,
        certificate_pem=stranger.leaf_cert_pem,
        chain_pem=stranger.ca_pem,
    )
    check = verify_artifact(model_file, bundle, certificates_pem=signing_ca.ca_pem)
    assert not check.ok
    assert "does not chain to a trusted root" in check.reason


def test_a_certificate_signature_with_only_keys_trusted_fails(
    model_file: Path, signing_ca: SigningCA, key: KeyPair
) -> None:
    bundle = sign_artifact(
        model_file,
        signing_ca.leaf_key_pem,
        certificate_pem=signing_ca.leaf_cert_pem,
        chain_pem=signing_ca.ca_pem,
    )
    check = verify_with_trust(model_file, bundle, [trust_root("team", key.public_pem)])
    assert not check.ok and "no certificate is trusted" in check.reason


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        ("{not json", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"mediaType": "text/plain"}', "media type"),
        (
            json.dumps(
                {
                    "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                    "verificationMaterial": {"publicKey": {"hint": "ab"}},
                    "dsseEnvelope": {"payload": "!!!", "signatures": [{"sig": "x"}]},
                }
            ),
            "not a model-signing statement",
        ),
    ],
)
def test_a_corrupt_bundle_is_a_clear_error(
    model_file: Path, key: KeyPair, bundle: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_bundle(bundle)
    check = verify_artifact(model_file, bundle, public_key_pem=key.public_pem)
    assert not check.ok and message in check.reason


def test_ed25519_keys_are_refused_with_the_reason(model_file: Path) -> None:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(InvalidInput, match="elliptic-curve key on P-256"):
        sign_artifact(model_file, pem)


def test_a_private_key_is_not_a_trust_root(key: KeyPair) -> None:
    with pytest.raises(InvalidInput, match="private key"):
        trust_root("oops", key.private_pem)


def test_the_digest_covers_names_and_bytes(model_dir: Path) -> None:
    before = artifact_digest(model_dir)
    assert before.startswith("sha256:") and len(before) == 71
    (model_dir / "config.json").rename(model_dir / "settings.json")
    assert artifact_digest(model_dir) != before


def test_symlinks_and_missing_artifacts_are_refused(tmp_path: Path, model_dir: Path) -> None:
    with pytest.raises(InvalidInput, match="no model artifact"):
        artifact_digest(tmp_path / "missing")
    (model_dir / "link").symlink_to(model_dir / "config.json")
    with pytest.raises(InvalidInput, match="cannot hash"):
        artifact_digest(model_dir)
