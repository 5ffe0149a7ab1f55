"""Secrets Baton must use again (webhook signing keys), encrypted at rest.

The encryption key is derived from ``BATON_SECRET_KEY`` with HKDF, one key per purpose, so the
same secret key never encrypts two kinds of data with the same key. Fernet (AES-128-CBC with an
HMAC-SHA256 tag) authenticates what it decrypts: a row edited in the database, or one written
under another secret key, fails loudly instead of yielding a wrong key.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class UndecryptableSecret(RuntimeError):
    """A stored secret does not decrypt: BATON_SECRET_KEY changed since it was written."""


class SecretBox:
    def __init__(self, secret_key: str, purpose: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"baton:{purpose}".encode()
        ).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise UndecryptableSecret(
                "a stored secret does not decrypt; was BATON_SECRET_KEY changed?"
            ) from None

    def __repr__(self) -> str:
        return "SecretBox(<hidden>)"
