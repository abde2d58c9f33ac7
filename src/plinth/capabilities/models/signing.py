"""Signing and verifying model artifacts with OpenSSF model signing (``model-signing``).

Everything here is offline: a signature is made with an elliptic-curve private key
(P-256, P-384 or P-521; ``model-signing`` 1.1.1 supports no other key type), optionally
with an X.509 signing certificate and its chain. Sigstore keyless signing is not used.

A signature is a Sigstore bundle (JSON, media type
``application/vnd.dev.sigstore.bundle.v0.3+json``)
whose DSSE envelope carries an in-toto statement listing every file of the model and its
SHA-256 digest. A key-signed bundle names its key only by a hint, the SHA-256 of the
public key's PEM (SubjectPublicKeyInfo): that hint is the key fingerprint used throughout.

The artifact digest is Plinth's own, computed over the same manifest that
``model-signing`` hashes (per-file SHA-256, ``.git*`` paths ignored, symlinks refused):

    sha256:<hex of SHA-256 over the canonical JSON of [[file name, file sha256 hex], ...]>

sorted by file name; a single-file artifact has the one name ``"."``. Unlike the
statement's subject digest, it changes when a file is renamed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from model_signing import hashing
from model_signing import signing as ms_signing
from model_signing import verifying as ms_verifying

from plinth.core.digest import canonical_json
from plinth.core.errors import InvalidInput

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "Bundle",
    "SignatureCheck",
    "TrustRoot",
    "artifact_digest",
    "artifact_manifest",
    "key_fingerprint",
    "parse_bundle",
    "sign_artifact",
    "trust_root",
    "verify_artifact",
    "verify_with_trust",
]

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
_CURVES = ("secp256r1", "secp384r1", "secp521r1")


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of checking one signature: whether it holds, why, and who signed."""

    ok: bool
    reason: str
    signer: str = ""


@dataclass(frozen=True)
class TrustRoot:
    """A public key or CA certificate that model signatures may chain to."""

    name: str
    kind: str  # public-key | certificate
    pem: str
    fingerprint: str
    subject: str = ""


@dataclass(frozen=True)
class Bundle:
    """A parsed signature bundle: what it claims, before any cryptography is checked."""

    raw: dict[str, Any]
    kind: str  # public-key | certificate
    key_hint: str
    certificate_subject: str
    resources: tuple[tuple[str, str], ...]

    @property
    def claimed_signer(self) -> str:
        """Return who the bundle says signed it (not yet verified)."""
        if self.kind == "certificate":
            return self.certificate_subject
        return f"key sha256:{self.key_hint}"


def artifact_manifest(path: Path) -> list[tuple[str, str]]:
    """Return ``[(file name, sha256 hex)]`` of a model file or directory, sorted by name."""
    if not path.exists():
        raise InvalidInput(f"no model artifact at {path}")
    try:
        manifest = hashing.Config().hash(path)  # type: ignore[no-untyped-call]
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"cannot hash the model artifact at {path}: {exc}") from exc
    items = [(str(d.identifier), str(d.digest.digest_hex)) for d in manifest.resource_descriptors()]
    if not items:
        raise InvalidInput(f"the model artifact at {path} has no files")
    return sorted(items)


def artifact_digest(path: Path) -> str:
    """Return the artifact digest (``sha256:<hex>``, see the module docstring)."""
    return manifest_digest(artifact_manifest(path))


def manifest_digest(items: Sequence[tuple[str, str]]) -> str:
    """Return the digest of a manifest of ``(file name, sha256 hex)`` pairs."""
    body = canonical_json(sorted([name, sha] for name, sha in items))
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def key_fingerprint(public_key_pem: bytes) -> str:
    """Return a public key's fingerprint: the SHA-256 hex of its SubjectPublicKeyInfo PEM."""
    key = serialization.load_pem_public_key(public_key_pem)
    spki = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def _check_ec(key: object, what: str) -> None:
    if not isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        raise InvalidInput(
            f"{what} is a {type(key).__name__.lstrip('_')}: model signing needs an elliptic-curve "
            "key on P-256, P-384 or P-521 (Ed25519 and RSA are not supported by model-signing)"
        )
    if key.curve.name not in _CURVES:
        raise InvalidInput(f"{what} uses curve {key.curve.name}: use P-256, P-384 or P-521")


def trust_root(name: str, pem: str | bytes) -> TrustRoot:
    """Return a trust root from a PEM public key or CA certificate; InvalidInput otherwise."""
    data = pem.encode() if isinstance(pem, str) else pem
    text = data.decode("utf-8", errors="replace")
    if b"BEGIN CERTIFICATE" in data:
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            raise InvalidInput(f"trust root {name}: not a valid PEM certificate: {exc}") from exc
        return TrustRoot(
            name=name,
            kind="certificate",
            pem=text,
            fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
            subject=cert.subject.rfc4514_string(),
        )
    if b"PRIVATE KEY" in data:
        raise InvalidInput(f"trust root {name}: that is a private key; give the public key")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise InvalidInput(
            f"trust root {name}: neither a PEM public key nor a PEM certificate: {exc}"
        ) from exc
    _check_ec(key, f"trust root {name}")
    return TrustRoot(name=name, kind="public-key", pem=text, fingerprint=key_fingerprint(data))


def sign_artifact(
    path: Path,
    private_key_pem: bytes,
    *,
    certificate_pem: bytes | None = None,
    chain_pem: bytes | None = None,
    password: str | None = None,
) -> dict[str, Any]:
    """Sign the model at ``path``; return the signature bundle as JSON data.

    With ``certificate_pem`` the bundle carries the signing certificate and ``chain_pem``
    (the intermediates and root it chains to; required by ``model-signing``).
    """
    try:
        key = serialization.load_pem_private_key(
            private_key_pem, password.encode() if password else None
        )
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"cannot read the signing key: {exc}") from exc
    _check_ec(key, "the signing key")
    artifact_manifest(path)  # clear errors for missing, empty or symlinked artifacts
    with tempfile.TemporaryDirectory(prefix="plinth-sign-") as tmp:
        key_path = Path(tmp) / "key.pem"
        key_path.write_bytes(private_key_pem)
        out = Path(tmp) / "model.sig"
        config = ms_signing.Config()  # type: ignore[no-untyped-call]
        if certificate_pem is None:
            config.use_elliptic_key_signer(private_key=key_path, password=password)
        else:
            if not chain_pem:
                raise InvalidInput("certificate signing needs the certificate chain (CA PEM)")
            cert_path, chain_path = Path(tmp) / "cert.pem", Path(tmp) / "chain.pem"
            cert_path.write_bytes(certificate_pem)
            chain_path.write_bytes(chain_pem)
            try:
                config.use_certificate_signer(
                    private_key=key_path,
                    signing_certificate=cert_path,
                    certificate_chain=[chain_path],
                )
            except ValueError as exc:
                raise InvalidInput(f"cannot sign with this certificate: {exc}") from exc
        config.sign(path, out)
        loaded: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return loaded


def _load_json(bundle: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(bundle, Mapping):
        return dict(bundle)
    try:
        data = json.loads(bundle)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the signature bundle is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput("the signature bundle is not a JSON object")
    return data


def _resources(envelope: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    try:
        statement = json.loads(base64.b64decode(envelope["payload"], validate=True))
        items = statement["predicate"]["resources"]
        return tuple(sorted((str(r["name"]), str(r["digest"])) for r in items))
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise InvalidInput(
            f"the signature bundle's payload is not a model-signing statement: {exc!r}"
        ) from exc


def parse_bundle(bundle: str | bytes | Mapping[str, Any]) -> Bundle:
    """Parse a signature bundle and say what it claims; InvalidInput when it is malformed."""
    data = _load_json(bundle)
    if data.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise InvalidInput(
            f"the signature bundle has media type {data.get('mediaType')!r}; "
            f"expected {BUNDLE_MEDIA_TYPE} (a model-signing key or certificate signature)"
        )
    material = data.get("verificationMaterial")
    envelope = data.get("dsseEnvelope")
    if not isinstance(material, dict) or not isinstance(envelope, dict):
        raise InvalidInput("the signature bundle lacks verificationMaterial or dsseEnvelope")
    if not envelope.get("signatures"):
        raise InvalidInput("the signature bundle's envelope has no signature")
    resources = _resources(envelope)
    if isinstance(material.get("publicKey"), dict):
        hint = str(material["publicKey"].get("hint") or "")
        if not hint:
            raise InvalidInput("the key-signed bundle does not name its key (no hint)")
        return Bundle(data, "public-key", hint, "", resources)
    chain = (material.get("x509CertificateChain") or {}).get("certificates") or []
    if not chain:
        raise InvalidInput("the signature bundle names neither a public key nor a certificate")
    try:
        leaf = x509.load_der_x509_certificate(base64.b64decode(chain[0]["rawBytes"]))
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise InvalidInput(f"the bundle's signing certificate cannot be read: {exc!r}") from exc
    return Bundle(data, "certificate", "", leaf.subject.rfc4514_string(), resources)


def _run_verifier(path: Path, bundle: Bundle, roots: Sequence[TrustRoot]) -> SignatureCheck:
    with tempfile.TemporaryDirectory(prefix="plinth-verify-") as tmp:
        sig = Path(tmp) / "model.sig"
        sig.write_text(json.dumps(bundle.raw), encoding="utf-8")
        config = ms_verifying.Config()  # type: ignore[no-untyped-call]
        if bundle.kind == "public-key":
            key_path = Path(tmp) / "key.pub"
            key_path.write_text(roots[0].pem, encoding="utf-8")
            config.use_elliptic_key_verifier(public_key=key_path)
            signer = f"{roots[0].name} (key sha256:{roots[0].fingerprint})"
        else:
            chain = Path(tmp) / "roots.pem"
            chain.write_text("".join(r.pem for r in roots), encoding="utf-8")
            config.use_certificate_verifier(certificate_chain=[chain])
            signer = bundle.certificate_subject
        try:
            config.verify(path, sig)
        except Exception as exc:  # model-signing raises ValueError, OpenSSL and crypto errors
            return SignatureCheck(False, _explain(exc), bundle.claimed_signer)
    return SignatureCheck(True, f"signature by {signer} verifies", signer)


def _explain(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if text.startswith("Signature mismatch"):
        return (
            "the artifact's files do not match the signed manifest: "
            + text[len("Signature mismatch: ") :]
        )
    if type(exc).__name__ == "InvalidSignature":
        return "the signature does not verify with the trusted key (bundle altered or wrong key)"
    if type(exc).__name__ == "X509StoreContextError":
        return f"the signing certificate does not chain to a trusted root: {text}"
    return f"the signature does not verify: {text}"


def verify_with_trust(
    path: Path, bundle: str | bytes | Mapping[str, Any], trust: Sequence[TrustRoot]
) -> SignatureCheck:
    """Verify a model's signature against trust roots; never raises for a bad signature."""
    try:
        parsed = parse_bundle(bundle)
    except InvalidInput as exc:
        return SignatureCheck(False, exc.detail)
    if parsed.kind == "public-key":
        keys = [r for r in trust if r.kind == "public-key" and r.fingerprint == parsed.key_hint]
        if not keys:
            return SignatureCheck(
                False,
                f"signed by key sha256:{parsed.key_hint}, which is not a trusted model-signing key",
                parsed.claimed_signer,
            )
        return _run_verifier(path, parsed, keys[:1])
    cas = [r for r in trust if r.kind == "certificate"]
    if not cas:
        return SignatureCheck(
            False,
            f"signed by certificate {parsed.certificate_subject!r}, but no certificate is trusted",
            parsed.claimed_signer,
        )
    return _run_verifier(path, parsed, cas)


def verify_artifact(
    path: Path,
    bundle: str | bytes | Mapping[str, Any],
    *,
    public_key_pem: bytes | None = None,
    certificates_pem: bytes | None = None,
) -> SignatureCheck:
    """Verify a model's signature against one public key or a PEM bundle of CA certificates."""
    roots: list[TrustRoot] = []
    if public_key_pem is not None:
        roots.append(trust_root("given key", public_key_pem))
    if certificates_pem is not None:
        for i, cert in enumerate(x509.load_pem_x509_certificates(certificates_pem)):
            pem = cert.public_bytes(serialization.Encoding.PEM)
            roots.append(trust_root(f"given certificate {i + 1}", pem))
    if not roots:
        raise InvalidInput("give a public key or CA certificates to verify against")
    return verify_with_trust(path, bundle, roots)
