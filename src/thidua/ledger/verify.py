"""The offline verifier: checks an evidence file alone, with the log's public key and any
checkpoints the auditor kept. It reads no database and opens no connection.

It checks, in order: the checkpoint's signature (and the witnesses' the auditor names);
every event's hashes and that positions run without a gap; the tree rebuilt from the
events against the signed checkpoint; every kept checkpoint against the log (a log that
went back or forked is named); then the year's standings and results recomputed from the
events with the domain's own code, against what the server published.
"""

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from thidua.domain.standings import standings_year
from thidua.ledger import note
from thidua.ledger.chain import event_hash
from thidua.ledger.evidence import Header
from thidua.ledger.merkle import Frontier, ProofError, leaf_hash, verify_consistency
from thidua.ledger.recompute import Difference, check_results, compare_standings, recompute
from thidua.ledger.records import RecordedEvent


@dataclass(frozen=True)
class Problem:
    what: str  # in words an auditor reads
    where: str  # a position, a size, a unit...


@dataclass
class Report:
    checked: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, what: str, where: str) -> None:
        self.problems.append(Problem(what, where))


@dataclass(frozen=True)
class Kept:
    """A checkpoint the auditor kept from earlier, as a signed note."""

    name: str  # where it came from (a file name), to say which one
    text: str


def verify(
    header: Header,
    events: Iterable[RecordedEvent],
    log_key: str,
    kept: Sequence[Kept] = (),
    witness_keys: Sequence[str] = (),
) -> Report:
    report = Report()
    checkpoint = _checkpoint(header, log_key, witness_keys, report)
    opened = _opened(kept, log_key, header, report) if checkpoint else {}
    roots: dict[int, bytes] = {}
    sizes = {old.size for old in opened.values()} | {header.upto}
    year_events = _chain(header, events, roots, sizes, report)
    if checkpoint is not None:
        _against_checkpoint(header, checkpoint, roots, report)
        _kept(header, checkpoint, roots, opened, report)
    if header.year is not None and header.published:
        _recomputed(header, year_events, report)
    return report


def _checkpoint(
    header: Header, log_key: str, witness_keys: Sequence[str], report: Report
) -> note.Checkpoint | None:
    try:
        opened = note.open_note(header.checkpoint, [note.parse_verifier(log_key)])
        checkpoint = note.Checkpoint.parse(opened.text)
    except note.NoteError as exc:
        report.problem(f"điểm kiểm tra không được khóa của nhật ký ký hợp lệ: {exc}", "checkpoint")
        return None
    if not checkpoint.origin.endswith("/" + header.cluster):
        report.problem(f"điểm kiểm tra thuộc nhật ký khác ({checkpoint.origin})", "checkpoint")
        return None
    report.checked.append(f"chữ ký điểm kiểm tra {checkpoint.origin} @ {checkpoint.size}")
    for key in witness_keys:
        _cosigned(header.checkpoint, checkpoint, key, report)
    return checkpoint


def _cosigned(signed: str, checkpoint: note.Checkpoint, key: str, report: Report) -> None:
    """The witness's cosignature is among the checkpoint's signature lines, and verifies."""
    name = key.split("+")[0]
    try:
        witness = note.parse_verifier(key)
        lines = [s.line() for s in note.parse_note(signed)[1] if s.name == witness.name]
    except note.NoteError as exc:
        report.problem(f"khóa nhân chứng không đọc được: {exc}", name)
        return
    for line in lines:
        with contextlib.suppress(note.NoteError):
            note.verify_cosignature(checkpoint, line.rstrip("\n"), witness)
            report.checked.append(f"chữ ký đồng xác nhận của nhân chứng {name}")
            return
    report.problem("thiếu chữ ký đồng xác nhận hợp lệ của nhân chứng này", name)


def _chain(
    header: Header,
    events: Iterable[RecordedEvent],
    roots: dict[int, bytes],
    sizes: set[int],
    report: Report,
) -> list[RecordedEvent]:
    """Every event's hashes, positions without a gap, the tree's roots at `sizes`."""
    try:
        tree = Frontier(header.after, header.frontier)
    except ProofError as exc:
        report.problem(f"phần đầu cây không hợp lệ: {exc}", f"vị trí {header.after}")
        return []
    previous, expected = header.previous_hash, header.after + 1
    kept: list[RecordedEvent] = []
    roots[tree.size] = tree.root()
    for event in events:
        if event.position != expected:
            report.problem(
                f"thiếu sự kiện: sau vị trí {expected - 1} là vị trí {event.position}",
                f"vị trí {expected}",
            )
            return kept
        if event.hash != event_hash(previous, event):
            report.problem("sự kiện bị sửa: mã băm không khớp nội dung", f"vị trí {expected}")
        tree.add(leaf_hash(event.hash))
        if tree.size in sizes:
            roots[tree.size] = tree.root()
        previous, expected = event.hash, expected + 1
        if header.year is not None and standings_year(event.stream_id) == header.year:
            kept.append(event)
    if expected - 1 != header.upto:
        report.problem(
            f"bản xuất dừng ở vị trí {expected - 1}, không phải {header.upto}",
            f"vị trí {expected}",
        )
    report.checked.append(f"{expected - 1 - header.after} sự kiện, mã băm từng sự kiện")
    return kept


def _against_checkpoint(
    header: Header, checkpoint: note.Checkpoint, roots: dict[int, bytes], report: Report
) -> None:
    """The events rebuild a tree that the signed checkpoint extends (or is)."""
    root = roots.get(header.upto)
    if root is None:
        return
    try:
        _consistent(header, header.upto, root, checkpoint)
        report.checked.append(f"cây Merkle {header.upto} khớp điểm kiểm tra {checkpoint.size}")
    except ProofError as exc:
        report.problem(
            f"các sự kiện không khớp điểm kiểm tra đã ký: {exc}",
            f"vị trí {header.after + 1}–{header.upto}",
        )


def _consistent(header: Header, size: int, root: bytes, checkpoint: note.Checkpoint) -> None:
    """The signed checkpoint extends the tree of `size` with this root, or ProofError
    saying in an auditor's words how it does not."""
    if size > checkpoint.size:
        raise ProofError(
            f"nhật ký đã bị lùi hoặc xóa: đã ký {size} sự kiện, nay còn {checkpoint.size}"
        )
    if size == checkpoint.size:
        if root != checkpoint.root:
            raise ProofError("lịch sử đã bị viết lại: hai gốc cây cho cùng một kích thước")
        return
    proof = header.consistency.get(size)
    if proof is None:
        raise ProofError(f"bản xuất không có bằng chứng nhất quán từ kích thước {size}")
    try:
        verify_consistency(size, checkpoint.size, root, checkpoint.root, proof)
    except ProofError as exc:
        raise ProofError(f"lịch sử đã bị viết lại ({exc})") from exc


def _opened(
    kept: Sequence[Kept], log_key: str, header: Header, report: Report
) -> dict[str, note.Checkpoint]:
    opened = {}
    verifier = note.parse_verifier(log_key)
    for item in kept:
        try:
            checkpoint = note.Checkpoint.parse(note.open_note(item.text, [verifier]).text)
        except note.NoteError as exc:
            report.problem(f"điểm kiểm tra đã lưu không hợp lệ: {exc}", item.name)
            continue
        if checkpoint.origin.endswith("/" + header.cluster):
            opened[item.name] = checkpoint
        else:
            report.problem(
                f"điểm kiểm tra đã lưu thuộc nhật ký khác ({checkpoint.origin})", item.name
            )
    return opened


def _kept(
    header: Header,
    checkpoint: note.Checkpoint,
    roots: dict[int, bytes],
    kept: dict[str, note.Checkpoint],
    report: Report,
) -> None:
    for name, old in kept.items():
        try:
            if old.size in roots:  # rebuilt here from the events themselves
                if roots[old.size] != old.root:
                    raise ProofError(
                        f"lịch sử đã bị viết lại: {old.size} sự kiện đầu khác những sự kiện "
                        "điểm kiểm tra đã ký"
                    )
            else:
                _consistent(header, old.size, old.root, checkpoint)
            report.checked.append(f"điểm kiểm tra đã lưu {name} ({old.size}) nhất quán")
        except ProofError as exc:
            report.problem(
                f"nhật ký không còn như điểm kiểm tra đã lưu ({old.size} sự kiện): {exc}", name
            )


def _recomputed(header: Header, events: list[RecordedEvent], report: Report) -> None:
    """The year's standings and frozen results computed again from its events with the
    domain's own code, against what the server published and what the events froze."""
    assert header.year is not None
    again = recompute(events, header.year)
    differences = compare_standings(header.published.get("standings", []), again.standings)
    differences += check_results(again.results)
    for difference in differences:
        report.problem(difference.text, _place(difference))
    if not differences:
        report.checked.append(
            f"bảng xếp hạng và {len(again.results)} kết quả đã chốt của năm {header.year}"
            " tính lại khớp"
        )


def _place(difference: Difference) -> str:
    parts = [difference.subject, difference.layer, difference.unit]
    return " / ".join(part for part in parts if part)


def lines(report: Report) -> Iterator[str]:
    for checked in report.checked:
        yield f"  đã kiểm: {checked}"
    for problem in report.problems:
        yield f"  LỖI [{problem.where}]: {problem.what}"
    yield "KẾT LUẬN: TOÀN VẸN (intact)" if report.ok else "KẾT LUẬN: CÓ SAI LỆCH (tampered)"
