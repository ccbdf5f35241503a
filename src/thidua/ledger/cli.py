"""thidua-verify: check an evidence file alone, offline.

    thidua-verify EVIDENCE --key LOG_KEY [--checkpoint FILE ...] [--witness KEY ...]

LOG_KEY is the log's public key (the text `thidua audit key` prints, or a file holding it);
each --checkpoint is a signed checkpoint kept from earlier; each --witness a witness's
public key whose cosignature must be on the checkpoint. Exit 0: intact; 1: a difference
was found (each is named); 2: the files could not be read.
"""

import argparse
import gzip
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from thidua.ledger import evidence, verify
from thidua.ledger.note import NoteError


def _text(value: str) -> str:
    """A key given inline or as a file."""
    path = Path(value)
    return path.read_text(encoding="utf-8").strip() if path.is_file() else value.strip()


def read_kept(path: Path) -> str:
    """A kept checkpoint: the note ends at its last signature's newline, whatever blank
    lines an editor or a copy added after it."""
    return path.read_text(encoding="utf-8").rstrip("\r\n") + "\n"


def _open(path: Path) -> TextIO:
    """The evidence file, gzip-compressed or not."""
    with path.open("rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    if compressed:
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="thidua-verify", description=__doc__.split("\n")[0])
    root.add_argument("evidence", type=Path, help="the evidence file (.jsonl)")
    root.add_argument("--key", required=True, help="the log's public key, or a file with it")
    root.add_argument("--checkpoint", action="append", default=[], type=Path)
    root.add_argument("--witness", action="append", default=[], help="a witness's public key")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        kept = [verify.Kept(p.name, read_kept(p)) for p in args.checkpoint]
        with _open(args.evidence) as source:
            header, events = evidence.read(source)
            report = verify.verify(
                header, events, _text(args.key), kept, [_text(w) for w in args.witness]
            )
    except (OSError, EOFError, UnicodeDecodeError, evidence.EvidenceError, NoteError) as exc:
        print(
            f"thidua-verify: không đọc được bằng chứng (cannot read the evidence): {exc}",
            file=sys.stderr,
        )
        return 2
    print(
        f"Cụm {header.cluster}, vị trí {header.after + 1}–{header.upto}"
        + (f", năm {header.year}" if header.year else "")
    )
    for line in verify.lines(report):
        print(line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
