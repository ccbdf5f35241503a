"""The witness's decision on an add-checkpoint request (c2sp.org/tlog-witness), apart from
HTTP: parse, find the log's key, check its signature, check the proof against what it last
cosigned, record, cosign. Every refusal carries the status the specification names."""

import asyncio
import base64
import binascii
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from thidua.ledger.merkle import EMPTY_ROOT, HASH_SIZE, ProofError, verify_consistency
from thidua.ledger.note import (
    COSIGNATURE_V1,
    ED25519,
    Checkpoint,
    InvalidSignature,
    NoteError,
    Signer,
    UnverifiedNote,
    Verifier,
    cosign,
    open_note,
    parse_verifier,
)
from thidua.witness.state import StateFile, TreeHead

MAX_PROOF_LINES = 63  # the specification's bound: a proof for any 64-bit tree size
_OLD = re.compile(rb"old (0|[1-9][0-9]*)")
log = logging.getLogger("thidua.witness")


class Refused(Exception):
    """A request the witness does not cosign: the HTTP status and a message people read
    (Vietnamese); on 409, the size the witness last cosigned."""

    def __init__(self, status: int, message: str, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.size = size


@dataclass(frozen=True)
class LogKey:
    """A log's key and the origins it signs: the prefix itself and everything under
    prefix + "/" (one deployment signs every cluster's checkpoint with one key)."""

    prefix: str
    verifier: Verifier

    def covers(self, origin: str) -> bool:
        return origin == self.prefix or origin.startswith(self.prefix + "/")


def parse_log_key(text: str) -> LogKey:
    """PREFIX=VKEY, as `--log` takes it (a vkey holds no "=": 33 bytes need no padding)."""
    prefix, equals, vkey = text.partition("=")
    if not equals or not prefix:
        raise NoteError(f"expected PREFIX=VKEY, got {text!r}")
    verifier = parse_verifier(vkey)
    if verifier.kind != ED25519:
        raise NoteError(f"the key for {prefix!r} is not a log's Ed25519 key (type 0x01)")
    return LogKey(prefix, verifier)


@dataclass(frozen=True)
class AddCheckpoint:
    old: int
    proof: tuple[bytes, ...]
    note: bytes


def _bad(reason: str) -> Refused:
    return Refused(400, f"Yêu cầu sai định dạng: {reason}.")


def _proof_line(line: bytes) -> bytes:
    try:
        value = base64.b64decode(line, validate=True)
    except binascii.Error:
        value = b""
    if len(value) != HASH_SIZE:
        raise _bad("mỗi dòng bằng chứng là một hash 32 byte viết base64")
    return value


def parse_request(body: bytes) -> AddCheckpoint:
    """`old <size>`, up to 63 base64 proof lines, a blank line, the signed checkpoint."""
    head, blank, note = body.partition(b"\n\n")
    if not blank:
        raise _bad("thiếu dòng trống trước checkpoint")
    first, *proof = head.split(b"\n")
    old = _OLD.fullmatch(first)
    if old is None or int(old[1]) > 2**63 - 1:
        raise _bad("dòng đầu phải là «old <kích thước>», số thập phân không có số 0 đứng đầu")
    if len(proof) > MAX_PROOF_LINES:
        raise _bad(f"bằng chứng nhất quán quá {MAX_PROOF_LINES} dòng")
    return AddCheckpoint(int(old[1]), tuple(_proof_line(line) for line in proof), note)


def _origin(note: bytes) -> str:
    return note.partition(b"\n")[0].decode("utf-8", "replace")


class Witness:
    """Cosigns a log's checkpoints while each extends the last one it cosigned; one request
    at a time decides and records, so two requests can never roll a log back."""

    def __init__(
        self,
        signer: Signer,
        logs: Sequence[LogKey],
        state: StateFile,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if signer.kind != COSIGNATURE_V1:
            raise NoteError("the witness signs with a cosignature key (type 0x04)")
        self.signer = signer
        self.logs = tuple(logs)
        self.state = state
        self.clock = clock
        self._lock = asyncio.Lock()

    def keys_for(self, origin: str) -> list[Verifier]:
        """The keys of the longest prefix that covers the origin: several keys on one prefix
        allow a rotation, a longer prefix overrides a shorter one."""
        covering = [key for key in self.logs if key.covers(origin)]
        longest = max((len(key.prefix) for key in covering), default=0)
        return [key.verifier for key in covering if len(key.prefix) == longest]

    async def add_checkpoint(self, body: bytes) -> str:
        """The cosignature line for the request's checkpoint, or `Refused`."""
        request = parse_request(body)
        checkpoint = self._signed_checkpoint(request.note)
        if request.old > checkpoint.size:
            raise _bad(f"old {request.old} lớn hơn kích thước checkpoint {checkpoint.size}")
        if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
            raise Refused(422, "Cây rỗng phải có hash gốc của chuỗi rỗng.")
        async with self._lock:  # check and record atomically (the spec's rollback race)
            head = TreeHead(checkpoint.size, checkpoint.root)
            self._check_consistency(checkpoint.origin, request, head)
            if self.state.get(checkpoint.origin) != head:
                await asyncio.to_thread(self.state.save, checkpoint.origin, head)
            return cosign(checkpoint, self.signer, int(self.clock()))

    def _signed_checkpoint(self, note: bytes) -> Checkpoint:
        origin = _origin(note)
        keys = self.keys_for(origin)
        if not keys:
            raise Refused(404, f"Nhân chứng này không theo dõi nhật ký «{origin}».")
        try:
            return Checkpoint.parse(open_note(note, keys).text)
        except (UnverifiedNote, InvalidSignature) as exc:
            log.warning("%s: checkpoint refused, %s", origin, exc)
            raise Refused(
                403, f"Checkpoint của «{origin}» không có chữ ký hợp lệ của khóa đã cấu hình."
            ) from exc
        except NoteError as exc:
            raise _bad(f"checkpoint không hợp lệ ({exc})") from exc

    def _check_consistency(self, origin: str, request: AddCheckpoint, head: TreeHead) -> None:
        known = self.state.get(origin) or TreeHead(0, EMPTY_ROOT)
        if request.old != known.size:
            raise Refused(409, f"{known.size}\n", size=known.size)
        if request.old == 0:  # the empty tree is consistent with every tree
            if request.proof:
                raise Refused(422, "Từ kích thước 0 không cần bằng chứng nhất quán.")
            return
        try:
            verify_consistency(known.size, head.size, known.root, head.root, request.proof)
        except ProofError as exc:
            log.warning("%s: possible fork or rollback at %d: %s", origin, head.size, exc)
            raise Refused(
                422,
                f"Bằng chứng nhất quán từ {known.size} đến {head.size} không hợp lệ: "
                "nhật ký có thể đã bị viết lại hoặc rẽ nhánh; không ký xác nhận.",
            ) from exc
