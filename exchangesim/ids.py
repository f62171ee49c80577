"""Opaque identifiers shaped like Exchange's.

Exchange ids, change keys and sync states are base64 blobs that clients must treat as
opaque. Ours are too, but they carry just enough structure (a kind byte, a checksum) for the
simulator to tell a malformed id (ErrorInvalidIdMalformed) from a well-formed id that names
nothing (ErrorItemNotFound), and a forged sync state from a real one.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
import zlib

# Leading bytes of an EWS ItemId/FolderId blob on Exchange 2010+ ("AAMkA..." in base64).
_ID_PREFIX = b"\x00\x03\x24\x00"
KIND_ITEM = 1
KIND_FOLDER = 2
KIND_OCCURRENCE = 3
_STATE_MAGIC = b"XSS1"


class MalformedId(ValueError):
    """The text is not an id this server could ever have issued."""


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        raise MalformedId(text) from e


def new_uid() -> bytes:
    """16 random bytes: ids must not be guessable from one another, like Exchange's."""
    return os.urandom(16)


def make_id(kind: int, mailbox_uid: bytes, uid: bytes, extra: bytes = b"") -> str:
    body = _ID_PREFIX + bytes([kind]) + mailbox_uid + uid + extra
    return _b64(body + struct.pack(">I", zlib.crc32(body)))


def parse_id(text: str) -> tuple[int, bytes, bytes, bytes]:
    """Return (kind, mailbox_uid, uid, extra) or raise MalformedId."""
    raw = _unb64(text)
    if len(raw) < 4 + 1 + 32 + 4 or not raw.startswith(_ID_PREFIX):
        raise MalformedId(text)
    body, crc = raw[:-4], raw[-4:]
    if struct.pack(">I", zlib.crc32(body)) != crc:
        raise MalformedId(text)
    kind = body[4]
    return kind, body[5:21], body[21:37], body[37:]


def occurrence_id(mailbox_uid: bytes, master_uid: bytes, original_start_epoch: int) -> str:
    return make_id(
        KIND_OCCURRENCE, mailbox_uid, master_uid, struct.pack(">q", original_start_epoch)
    )


def occurrence_start(extra: bytes) -> int:
    if len(extra) != 8:
        raise MalformedId("occurrence")
    return int(struct.unpack(">q", extra)[0])


def change_key(kind_tag: bytes, uid: bytes, version: int) -> str:
    """A change key that differs for every version of an item, as Exchange's does.

    Exchange's keys start with a 4-byte little-endian length and a predecessor-change-list
    blob; clients only compare them for equality, so a tag + uid + version is enough.
    """
    return _b64(kind_tag + uid[:8] + struct.pack(">Q", version))


def change_key_version(text: str | None) -> int | None:
    """The version a change key names, or None when it cannot be one of ours."""
    if not text:
        return None
    try:
        raw = _unb64(text)
    except MalformedId:
        return None
    if len(raw) != 4 + 8 + 8:
        return None
    return int(struct.unpack(">Q", raw[-8:])[0])


def make_sync_state(folder_uid: bytes, position: int) -> str:
    body = _STATE_MAGIC + folder_uid + struct.pack(">Q", position)
    return _b64(body + struct.pack(">I", zlib.crc32(body)))


def parse_sync_state(text: str) -> tuple[bytes, int]:
    """Return (folder_uid, position) or raise MalformedId."""
    raw = _unb64(text)
    if len(raw) != 4 + 16 + 8 + 4 or not raw.startswith(_STATE_MAGIC):
        raise MalformedId(text)
    body, crc = raw[:-4], raw[-4:]
    if struct.pack(">I", zlib.crc32(body)) != crc:
        raise MalformedId(text)
    return body[4:20], int(struct.unpack(">Q", body[20:28])[0])
