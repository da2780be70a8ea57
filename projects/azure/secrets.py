"""The training key of an Azure import, encrypted at rest while its job needs it.

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) under a key derived from
SECRET_KEY: a database dump or a broker's queue never holds the key in plain text, and the
job row forgets it when the job ends.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

_CONTEXT = b"customvision.azure-import-key"


def _fernet() -> Fernet:
    digest = hashlib.sha256(_CONTEXT + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(key: str) -> str:
    return _fernet().encrypt(key.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        raise ValueError("The stored key can't be read (SECRET_KEY changed?).") from None
