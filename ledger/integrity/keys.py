"""The operator's Ed25519 signing key: a PKCS#8 PEM file the operator holds (never logged,
never stored in the ledger), its public half and its key id.

Only the public key and its id enter the ledger (``SigningKeys`` events). The key id is the
first 16 hex digits of SHA-256 over the raw 32-byte public key, so anyone holding the public
key can check an id. Files are written with mode 0600 and never overwritten.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import InvalidInput


def key_id_of(public_key: bytes) -> str:
    """The id of a raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class SigningKey:
    """A private key read from the operator's file (its repr shows only the key id)."""

    private: Ed25519PrivateKey
    public_key: bytes
    key_id: str

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"

    @classmethod
    def of(cls, private: Ed25519PrivateKey) -> SigningKey:
        public = public_bytes(private.public_key())
        return cls(private, public, key_id_of(public))

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_key).decode()

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def generate() -> SigningKey:
    return SigningKey.of(Ed25519PrivateKey.generate())


def write_new(key: SigningKey, path: Path) -> None:
    """Write ``key`` to a new file readable by its owner only (refuses to overwrite)."""
    pem = key.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())


def load(path: Path) -> SigningKey | None:
    """The key in ``path`` (None if there is no such file)."""
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise InvalidInput(f"cannot read the signing key file {path}: {err.strerror}") from err
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as err:
        raise InvalidInput(
            f"{path} is not an unencrypted PKCS#8 PEM private key", field="signing_key_path"
        ) from err
    if not isinstance(private, Ed25519PrivateKey):
        raise InvalidInput(f"{path} does not hold an Ed25519 key", field="signing_key_path")
    return SigningKey.of(private)
