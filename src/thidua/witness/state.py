"""What the witness remembers: per origin, the size and root it last cosigned, in a JSON
file replaced atomically, so a crash leaves the old state or the new one, never half."""

import base64
import binascii
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thidua.ledger.merkle import HASH_SIZE


class StateError(ValueError):
    """A state file that cannot be read: the witness must not start from a guess."""


@dataclass(frozen=True)
class TreeHead:
    size: int
    root: bytes


def _head(origin: str, entry: Any) -> TreeHead:
    try:
        size, root = entry["size"], base64.b64decode(entry["root"], validate=True)
    except (KeyError, TypeError, binascii.Error) as exc:
        raise StateError(f"trạng thái của «{origin}» hỏng (malformed state)") from exc
    if type(size) is not int or size < 0 or len(root) != HASH_SIZE:
        raise StateError(f"trạng thái của «{origin}» hỏng (malformed state)")
    return TreeHead(size, root)


class StateFile:
    """The last cosigned tree head of each log; `save` returns once it is on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.heads = self._load()

    def _load(self) -> dict[str, TreeHead]:
        if not self.path.exists():  # a new witness: it has cosigned nothing yet
            return {}
        try:
            logs = json.loads(self.path.read_bytes())["logs"]
            return {origin: _head(origin, entry) for origin, entry in logs.items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateError(
                f"không đọc được trạng thái nhân chứng {self.path} (cannot read the state): {exc}"
            ) from exc

    def get(self, origin: str) -> TreeHead | None:
        return self.heads.get(origin)

    def save(self, origin: str, head: TreeHead) -> None:
        heads = {**self.heads, origin: head}
        logs = {
            o: {"size": h.size, "root": base64.b64encode(h.root).decode()}
            for o, h in sorted(heads.items())
        }
        self._replace(json.dumps({"logs": logs}, indent=1, ensure_ascii=False).encode())
        self.heads = heads  # only once the new state is durable

    def _replace(self, data: bytes) -> None:
        """Write a temporary file beside the state, fsync it, rename it over the state,
        then fsync the directory so the rename itself survives a power cut."""
        folder = self.path.parent
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
