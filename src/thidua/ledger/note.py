"""Signed notes, checkpoints and witness cosignatures, as the C2SP specifications define them,
so that tools written for other transparency logs read and check ours:

- c2sp.org/signed-note: a text ending in a newline, a blank line, then signature lines
  `— <key name> base64(key ID || signature)`; Ed25519 keys are written as Go's
  golang.org/x/mod/sumdb/note writes them (`PRIVATE+KEY+<name>+<id>+<key>` and
  `<name>+<id>+<key>`, the key being base64(type byte || 32 bytes));
- c2sp.org/tlog-checkpoint: the note text a log signs, origin, size and root hash;
- c2sp.org/tlog-cosignature (cosignature/v1): a witness's timestamped Ed25519 signature over
  a checkpoint, signature type 0x04.
"""

import base64
import binascii
import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature as _BadSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01  # a signature over the note text
COSIGNATURE_V1 = 0x04  # a timestamped signature over "cosignature/v1", the time and the text
KEY_TYPES = (ED25519, COSIGNATURE_V1)
MAX_SIGNATURES = 100  # as Go's reader: a note cannot make a verifier parse forever
MAX_TIMESTAMP = 2**63 - 1
MAX_SIZE = 2**63 - 1  # tree sizes as the Go tools hold them (int64)
DASH = "— "  # em dash U+2014, then a space
_COSIGNATURE_LENGTH = 8 + 64  # timestamp, then the Ed25519 signature
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_KEY_ID = re.compile(r"[0-9a-f]{8}")


class NoteError(ValueError):
    """A key, note or checkpoint that is malformed or does not verify."""


class UnverifiedNote(NoteError):
    """No signature on the note is by a known key: its text must be ignored."""

    def __init__(self, unverified: "tuple[Signature, ...]") -> None:
        super().__init__("note has no signature by a known key")
        self.unverified = unverified


class InvalidSignature(NoteError):
    """A signature by a known key that does not verify: the whole note is refused."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise NoteError(f"{what} is not base64") from exc


def valid_name(name: str) -> bool:
    """Key names are non-empty, with no Unicode space and no plus sign."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, kind: int, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || type || public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class Verifier:
    """A public key that checks signatures on notes: a log's (type 0x01) or a witness's
    (type 0x04, whose signatures carry their time)."""

    name: str
    kind: int
    public_key: bytes

    def __post_init__(self) -> None:
        if not valid_name(self.name):
            raise NoteError(f"invalid key name {self.name!r}")
        if self.kind not in KEY_TYPES:
            raise NoteError(f"unknown key type 0x{self.kind:02x}")
        if len(self.public_key) != 32:
            raise NoteError("an Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.kind, self.public_key)

    def text(self) -> str:
        """The vkey: <name>+<hex key ID>+base64(type || public key)."""
        return f"{self.name}+{self.key_id:08x}+{_b64(bytes([self.kind]) + self.public_key)}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether the signature (without its key ID) is this key's over the note text."""
        if self.kind == COSIGNATURE_V1:
            if len(signature) != _COSIGNATURE_LENGTH:
                return False
            timestamp = int.from_bytes(signature[:8], "big")
            if timestamp > MAX_TIMESTAMP:
                return False
            text, signature = cosignature_message(text, timestamp), signature[8:]
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except _BadSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key that signs notes; its text is a secret to keep in a 0600 file."""

    name: str
    kind: int
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not valid_name(self.name):
            raise NoteError(f"invalid key name {self.name!r}")
        if self.kind not in KEY_TYPES:
            raise NoteError(f"unknown key type 0x{self.kind:02x}")
        if len(self.seed) != 32:
            raise NoteError("an Ed25519 private key is a 32-byte seed")

    def verifier(self) -> Verifier:
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return Verifier(self.name, self.kind, public)

    def text(self) -> str:
        """PRIVATE+KEY+<name>+<hex key ID>+base64(type || seed), the ID of the public key."""
        key = _b64(bytes([self.kind]) + self.seed)
        return f"PRIVATE+KEY+{self.name}+{self.verifier().key_id:08x}+{key}"

    def sign(self, text: bytes, timestamp: int | None = None) -> bytes:
        """The signature (without key ID); a cosigner's starts with its time (now unless
        given)."""
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        if self.kind == ED25519:
            return private.sign(text)
        when = int(time.time()) if timestamp is None else timestamp
        if not 0 <= when <= MAX_TIMESTAMP:
            raise NoteError(f"timestamp {when} is out of range")
        return when.to_bytes(8, "big") + private.sign(cosignature_message(text, when))


def generate_key(name: str, kind: int = ED25519) -> tuple[str, str]:
    """A new key pair: (signer key text, verifier key text)."""
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    signer = Signer(name, kind, seed)
    return signer.text(), signer.verifier().text()


def _key_parts(text: str, what: str) -> tuple[str, int, int, bytes]:
    """name, key ID, type and key material of `<name>+<hex id>+<base64 key>`."""
    parts = text.split("+", 2)  # the base64 may hold plus signs; a name holds none
    if len(parts) != 3 or not _KEY_ID.fullmatch(parts[1]):
        raise NoteError(f"malformed {what}: expected <name>+<8 hex digits>+<base64 key>")
    name, hex_id, encoded = parts
    if not valid_name(name):
        raise NoteError(f"malformed {what}: invalid key name {name!r}")
    raw = _unb64(encoded, f"the {what}'s key")
    if len(raw) != 33:
        raise NoteError(f"malformed {what}: the key is not a type byte and 32 bytes")
    return name, int(hex_id, 16), raw[0], raw[1:]


def parse_verifier(text: str) -> Verifier:
    """A vkey, its key ID checked against its name, type and key."""
    name, claimed, kind, key = _key_parts(text.strip(), "verifier key")
    verifier = Verifier(name, kind, key)
    if verifier.key_id != claimed:
        raise NoteError("the verifier key's ID does not match its name and key")
    return verifier


def parse_signer(text: str) -> Signer:
    """A signer key, its key ID checked against the public key it derives."""
    text = text.strip()
    if not text.startswith("PRIVATE+KEY+"):
        raise NoteError("malformed signer key: expected PRIVATE+KEY+<name>+<id>+<key>")
    name, claimed, kind, seed = _key_parts(text.removeprefix("PRIVATE+KEY+"), "signer key")
    signer = Signer(name, kind, seed)
    if signer.verifier().key_id != claimed:
        raise NoteError("the signer key's ID does not match its name and key")
    return signer


@dataclass(frozen=True)
class Signature:
    """One signature line: the key's name and ID, and the base64 as written."""

    name: str
    key_id: int
    value: str

    def line(self) -> str:
        return f"{DASH}{self.name} {self.value}\n"

    def raw(self) -> bytes:
        """The signature without its key ID."""
        return _unb64(self.value, "the signature")[4:]


@dataclass(frozen=True)
class OpenedNote:
    text: str
    verified: tuple[Signature, ...]  # by known keys, each key once
    unverified: tuple[Signature, ...]  # by unknown keys, ignored


def _check_text(data: bytes) -> str:
    """UTF-8 with no ASCII control character other than newline."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteError("malformed note: not valid UTF-8") from exc
    if any(c < " " and c != "\n" for c in text):
        raise NoteError("malformed note: a control character other than newline")
    return text


def parse_signature_line(line: str) -> Signature:
    """`— <name> <base64(key ID || signature)>`, without its newline."""
    if not line.startswith(DASH):
        raise NoteError("malformed note: a signature line must start with an em dash")
    name, _, value = line.removeprefix(DASH).partition(" ")
    if not valid_name(name) or not value:
        raise NoteError("malformed note: a signature line is <name> <base64>")
    raw = _unb64(value, "malformed note: a signature")
    if len(raw) < 5:
        raise NoteError("malformed note: a signature is a key ID and at least one byte")
    return Signature(name, int.from_bytes(raw[:4], "big"), value)


def parse_note(message: bytes | str) -> tuple[str, list[Signature]]:
    """The text and signature lines of a signed note, unverified; refuses a malformed one."""
    data = message.encode("utf-8", "surrogatepass") if isinstance(message, str) else message
    whole = _check_text(data)
    split = whole.rfind("\n\n")  # the text may hold blank lines: the last one separates
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, block = whole[: split + 1], whole[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("malformed note: no signature, or the last one has no newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    return text, [parse_signature_line(line) for line in lines]


def _by_key(known: Iterable[Verifier]) -> dict[tuple[str, int], Verifier]:
    keys: dict[tuple[str, int], Verifier] = {}
    for verifier in known:
        other = keys.setdefault((verifier.name, verifier.key_id), verifier)
        if other != verifier:
            raise NoteError(f"two known keys are {verifier.name}+{verifier.key_id:08x}")
    return keys


def open_note(message: bytes | str, known: Iterable[Verifier]) -> OpenedNote:
    """Verifies a signed note against known keys, as signed-note says: signatures by
    unknown keys are ignored, every signature by a known key must verify, and at least one
    must be there."""
    text, signatures = parse_note(message)
    keys = _by_key(known)
    verified: dict[tuple[str, int], Signature] = {}
    unverified: dict[Signature, None] = {}  # ordered, each line once
    for signature in signatures:
        verifier = keys.get((signature.name, signature.key_id))
        if verifier is None:
            unverified[signature] = None
        elif verifier.verify(text.encode(), signature.raw()):
            verified.setdefault((signature.name, signature.key_id), signature)
        else:
            raise InvalidSignature(f"invalid signature by {signature.name}+{signature.key_id:08x}")
    if not verified:
        raise UnverifiedNote(tuple(unverified))
    return OpenedNote(text, tuple(verified.values()), tuple(unverified))


def signature_line(signer: Signer, text: str, timestamp: int | None = None) -> str:
    """One signature line over a note text (a cosigner's at `timestamp`, or now)."""
    key = signer.verifier().key_id
    raw = key.to_bytes(4, "big") + signer.sign(text.encode(), timestamp)
    return Signature(signer.name, key, _b64(raw)).line()


def sign_note(text: str, *signers: Signer) -> str:
    """The signed note: the text (ending in a newline), a blank line, a line per signer."""
    if not text.endswith("\n"):
        raise NoteError("malformed note: the text must end in a newline")
    _check_text(text.encode("utf-8", "surrogatepass"))
    if not signers:
        raise NoteError("a signed note needs at least one signer")
    return text + "\n" + "".join(signature_line(signer, text) for signer in signers)


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head as c2sp.org/tlog-checkpoint writes it: the note text a log signs."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        lines = (self.origin, *self.extensions)
        if any(not line or "\n" in line for line in lines):
            raise NoteError("the origin and extension lines are non-empty single lines")
        if not 0 <= self.size <= MAX_SIZE:
            raise NoteError(f"tree size {self.size} is out of range")
        if len(self.root) != 32:
            raise NoteError("a root hash is 32 bytes")

    def body(self) -> str:
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> "Checkpoint":
        """The checkpoint in a note's text; refuses anything but the canonical form."""
        if not text.endswith("\n"):
            raise NoteError("malformed checkpoint: the text must end in a newline")
        _check_text(text.encode("utf-8", "surrogatepass"))
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("malformed checkpoint: origin, size and root hash are required")
        origin, size, root, *extensions = lines
        if not _DECIMAL.fullmatch(size):
            raise NoteError("malformed checkpoint: the size is a decimal with no leading zero")
        if int(size) > MAX_SIZE:
            raise NoteError("malformed checkpoint: the size is too large")
        checkpoint = cls(origin, int(size), _unb64(root, "the root hash"), tuple(extensions))
        if checkpoint.body() != text:  # e.g. a root hash written with stray bits
            raise NoteError("malformed checkpoint: not in canonical form")
        return checkpoint


def cosignature_message(body: bytes, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: the header line, the time line, the checkpoint's text."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body


def cosign(checkpoint: Checkpoint, witness: Signer, timestamp: int | None = None) -> str:
    """The witness's cosignature line over the checkpoint, at `timestamp` (or now)."""
    if witness.kind != COSIGNATURE_V1:
        raise NoteError("a cosignature needs a witness key (type 0x04)")
    return signature_line(witness, checkpoint.body(), timestamp)


def verify_cosignature(checkpoint: Checkpoint, line: str, witness: Verifier) -> int:
    """The time of the witness's cosignature line over the checkpoint; refuses a line by
    another key, a signature that does not verify and a zero time (tlog-witness)."""
    if witness.kind != COSIGNATURE_V1:
        raise NoteError("a cosignature is verified with a witness key (type 0x04)")
    signature = parse_signature_line(line.removesuffix("\n"))
    if (signature.name, signature.key_id) != (witness.name, witness.key_id):
        raise NoteError(f"not a cosignature by {witness.name}+{witness.key_id:08x}")
    raw = signature.raw()
    if not witness.verify(checkpoint.body().encode(), raw):
        raise InvalidSignature(f"invalid cosignature by {witness.name}+{witness.key_id:08x}")
    timestamp = int.from_bytes(raw[:8], "big")
    if timestamp == 0:
        raise NoteError("a cosignature without its time")
    return timestamp
