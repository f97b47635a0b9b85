"""The privacy layer: masking for every output, encryption at rest, keyed hashes for look-up.

Personal fields (name, phone, email, id number, address) are stored only as AES-GCM tokens,
with a keyed hash (HMAC-SHA256) beside phone, email and id number for exact look-up and
identity merge. Anything leaving Portrait goes through :func:`mask_value` unless the caller
holds the ``reveal_personal`` permission, and every clear view is written to the audit log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portrait.errors import WorkspaceError

KEY_ENV = "PORTRAIT_KEY"
_URL_SAFE = bytes.maketrans(b"+/", b"-_")
COMPOUND_SURNAMES = (
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "长孙",
    "宇文",
    "司徒",
    "夏侯",
    "令狐",
)


def new_key() -> bytes:
    """Return a fresh 256-bit workspace key."""
    return AESGCM.generate_key(bit_length=256)


def encode_key(key: bytes) -> str:
    """Return the key as the base64 text kept in the key file or PORTRAIT_KEY."""
    return base64.urlsafe_b64encode(key).decode("ascii")


def decode_key(text: str, where: str) -> bytes:
    """Parse a base64 key; a malformed key raises WorkspaceError naming where it came from."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        key = b""
    if len(key) != 32:
        raise WorkspaceError(f"{where}: not a valid Portrait key (expected 32 bytes, base64)")
    return key


class Vault:
    """Encrypts, decrypts and hashes personal values with one workspace key."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)
        self._hash_key = hmac.new(key, b"portrait/lookup-hash/v1", hashlib.sha256).digest()
        self._content_key = hmac.new(key, b"portrait/content-hash/v1", hashlib.sha256).digest()

    def encrypt(self, value: str | None) -> str | None:
        """Return an opaque token for ``value`` (random nonce: equal values give different tokens)."""
        return None if value is None else self._token(os.urandom(12), value)

    def _token(self, nonce: bytes, value: str) -> str:
        # URL-safe base64 of nonce + ciphertext (binascii and one translate: cheaper per value than base64's)
        sealed = nonce + self._aead.encrypt(nonce, value.encode("utf-8"), None)
        return "v1:" + binascii.b2a_base64(sealed, newline=False).translate(_URL_SAFE).decode("ascii")

    def encrypt_many(self, values: Iterable[str | None]) -> list[str | None]:
        """Encrypt a column of values (as :meth:`encrypt` does, with the nonces drawn in one call)."""
        values = list(values)
        nonces = os.urandom(12 * len(values))
        return [None if v is None else self._token(nonces[12 * i : 12 * i + 12], v) for i, v in enumerate(values)]

    def decrypt(self, token: str | None) -> str | None:
        """Return the clear value of a token made by :meth:`encrypt`."""
        if token is None:
            return None
        if not token.startswith("v1:"):
            raise WorkspaceError("a stored personal value is not a Portrait token; was the warehouse edited by hand?")
        raw = base64.urlsafe_b64decode(token[3:].encode("ascii"))
        try:
            return self._aead.decrypt(raw[:12], raw[12:], None).decode("utf-8")
        except InvalidTag:
            raise WorkspaceError(
                "cannot decrypt personal data with this key: set PORTRAIT_KEY to the key the workspace was made with"
            ) from None

    def content_hashes(self, digests: Iterable[str]) -> list[int]:
        """Keyed 64-bit hashes of row digests, so a stored content hash reveals nothing about personal values."""
        key = self._content_key
        return [int.from_bytes(hmac.new(key, d.encode(), hashlib.sha256).digest()[:8], "big") for d in digests]

    def pseudonym(self, text: str) -> str:
        """A keyed, irreversible stand-in for an identifier (e.g. an erased customer id in the audit log)."""
        return hmac.new(self._hash_key, f"pseudonym\x1f{text}".encode(), hashlib.sha256).hexdigest()[:12]

    def lookup_hash(self, field: str, value: str | None) -> str | None:
        """Return the keyed hash of a normalised phone/email/id number (None when empty)."""
        norm = normalize_personal(field, value)
        if not norm:
            return None
        return hmac.new(self._hash_key, f"{field}\x1f{norm}".encode(), hashlib.sha256).hexdigest()[:32]


def normalize_personal(field: str, value: str | None) -> str | None:
    """Normalise a personal value so equal people compare equal: digits of a phone, lower-case email."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        return None
    if field == "phone":
        digits = re.sub(r"\D", "", text)
        if digits.startswith("0086"):
            digits = digits[4:]
        elif digits.startswith("86") and len(digits) == 13:
            digits = digits[2:]
        return digits or None
    if field == "email":
        return text.lower()
    if field == "id_number":
        return text.replace(" ", "").upper()
    return text


def mask_name(name: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧阳**, Alice → A****."""
    name = name.strip()
    if not name:
        return name
    if re.search(r"[\u4e00-\u9fff]", name):
        keep = 2 if name.startswith(COMPOUND_SURNAMES) and len(name) > 2 else 1
        return name[:keep] + "*" * max(1, len(name) - keep)
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str) -> str:
    """13812345678 → 138****5678; short numbers keep only their last two digits."""
    digits = normalize_personal("phone", phone) or ""
    if len(digits) >= 7:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(0, len(digits) - 2) + digits[-2:]


def mask_email(email: str) -> str:
    """alice@example.com → a***@example.com."""
    local, _, domain = email.strip().partition("@")
    if not domain:
        return mask_name(local)
    return (local[:1] or "*") + "***@" + domain


def mask_id_number(id_number: str) -> str:
    """Keep the first 6 and last 4 characters of an id number."""
    text = id_number.strip()
    if len(text) <= 10:
        return "*" * len(text)
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


def mask_address(address: str) -> str:
    """Keep the first six characters (province/city) and hide the rest."""
    text = address.strip()
    return text[:6] + "****" if len(text) > 6 else text[:2] + "****"


MASKERS = {
    "user_name": mask_name,
    "phone": mask_phone,
    "email": mask_email,
    "id_number": mask_id_number,
    "address": mask_address,
}


def mask_value(field: str, value: str | None) -> str | None:
    """Return the masked form of a personal field's clear value."""
    if value is None:
        return None
    masker = MASKERS.get(field)
    return masker(value) if masker else value
