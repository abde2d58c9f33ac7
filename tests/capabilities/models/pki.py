"""Real keys and a real CA for model-signing tests, and the tables the registry needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import plinth.capabilities.audit.models as audit_models
import plinth.capabilities.identity.models as identity_models
import plinth.capabilities.models.models as model_tables
from plinth.infrastructure.store.db import Base, Database
from plinth.integration.events.models import OutboxEvent

__all__ = ["TABLES", "KeyPair", "SigningCA", "make_ca", "make_key", "registry_store"]

TABLES = [
    Base.metadata.tables[t.__tablename__]
    for t in (
        audit_models.AuditRecord,
        audit_models.AuditHead,
        OutboxEvent,  # every audit record stages its CloudEvent
        identity_models.TeamRow,
        model_tables.ModelRow,
        model_tables.ModelVersionRow,
        model_tables.ModelTrust,
    )
]


@dataclass(frozen=True)
class KeyPair:
    """An EC key pair as PEM."""

    private_pem: bytes
    public_pem: bytes


@dataclass(frozen=True)
class SigningCA:
    """A CA certificate and a code-signing leaf issued by it."""

    ca_pem: bytes
    leaf_key_pem: bytes
    leaf_cert_pem: bytes


def make_key() -> KeyPair:
    """Return a fresh P-256 key pair."""
    key = ec.generate_private_key(ec.SECP256R1())
    return KeyPair(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def make_ca(common_name: str = "Plinth Test CA") -> SigningCA:
    """Return a self-signed CA and a code-signing certificate for the ``ml-research`` signer."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ml-research signer")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return SigningCA(
        ca.public_bytes(serialization.Encoding.PEM),
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        leaf.public_bytes(serialization.Encoding.PEM),
    )


def registry_store(url: str) -> Database:
    """Return a store at ``url`` with the registry's tables created (no migrations needed)."""
    db = Database(url)
    Base.metadata.create_all(db.engine, tables=TABLES)
    return db
