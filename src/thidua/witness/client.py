"""The product's side of c2sp.org/tlog-witness: submit a signed checkpoint with its consistency
proof to one witness, and take back its cosignature only once it verifies."""

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from thidua.ledger.note import (
    Checkpoint,
    NoteError,
    Verifier,
    parse_note,
    parse_signature_line,
    verify_cosignature,
)

SIZE_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
_SIZE = re.compile(rb"(0|[1-9][0-9]*)\n")


class WitnessError(Exception):
    """A witness that refused, could not be reached or answered what cannot be trusted."""

    def __init__(self, url: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.status = status


@dataclass(frozen=True)
class Cosigned:
    """The witness's cosignature lines over the checkpoint, each verified with its key."""

    lines: tuple[str, ...]
    timestamp: int  # the latest of their times


@dataclass(frozen=True)
class Conflict:
    """409: the witness last cosigned a tree of this size; send a proof from it."""

    size: int


def request_body(signed_checkpoint: str, old: int, proof: Sequence[bytes]) -> bytes:
    proof_lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    return f"old {old}\n{proof_lines}\n{signed_checkpoint}".encode()


async def add_checkpoint(
    url: str,
    signed_checkpoint: str,
    old: int,
    proof: Sequence[bytes],
    witness: Verifier,
    *,
    http: httpx.AsyncClient | None = None,
) -> Cosigned | Conflict:
    """POST <url>/add-checkpoint. `old` is the size the witness is believed to hold, `proof`
    the consistency proof from it (empty from 0). Raises `WitnessError` on any other
    answer, or a cosignature that does not verify with the witness's key; `NoteError` if
    `signed_checkpoint` is not a signed checkpoint."""
    if len(proof) > MAX_PROOF_LINES:
        raise WitnessError(url, f"a consistency proof has at most {MAX_PROOF_LINES} hashes")
    checkpoint = Checkpoint.parse(parse_note(signed_checkpoint)[0])
    body = request_body(signed_checkpoint, old, proof)
    endpoint = url.rstrip("/") + "/add-checkpoint"
    try:
        if http is None:
            async with httpx.AsyncClient(timeout=10) as own:
                response = await own.post(endpoint, content=body)
        else:  # the caller's client, kept alive across witnesses and checkpoints
            response = await http.post(endpoint, content=body)
    except httpx.HTTPError as exc:
        raise WitnessError(url, f"cannot reach the witness: {exc!r}") from exc
    if response.status_code == 409:
        return _conflict(url, response)
    if response.status_code != 200:
        raise WitnessError(url, f"refused: {response.text.strip()[:500]}", response.status_code)
    return _cosigned(url, response.text, checkpoint, witness)


def _conflict(url: str, response: httpx.Response) -> Conflict:
    kind = response.headers.get("content-type", "").partition(";")[0].strip()
    size = _SIZE.fullmatch(response.content)
    if kind != SIZE_TYPE or size is None:
        raise WitnessError(url, f"a 409 that is not a tree size: {response.text[:100]!r}", 409)
    return Conflict(int(size[1]))


def _cosigned(url: str, text: str, checkpoint: Checkpoint, witness: Verifier) -> Cosigned:
    """The lines by this witness's key, each verified; other keys' lines are ignored, as
    the specification asks, but at least one line must be this witness's."""
    if not text.endswith("\n") or not text.startswith("—"):
        raise WitnessError(url, f"an answer that is not signature lines: {text[:100]!r}")
    lines, times = [], []
    for line in text[:-1].split("\n"):
        try:
            signature = parse_signature_line(line)
            if (signature.name, signature.key_id) != (witness.name, witness.key_id):
                continue  # another key's line
            times.append(verify_cosignature(checkpoint, line, witness))
        except NoteError as exc:
            raise WitnessError(url, f"a cosignature that does not verify: {exc}") from exc
        lines.append(line + "\n")
    if not lines:
        raise WitnessError(url, f"no cosignature by {witness.name}+{witness.key_id:08x}")
    return Cosigned(tuple(lines), max(times))
