"""The witness over a real socket (uvicorn, and the console script in a subprocess), driven
by the product's client: it cosigns a log that grows and refuses one that forks, goes back,
is signed by another key or is not its to witness, as c2sp.org/tlog-witness says."""

import asyncio
import base64
import os
import socket
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from thidua.ledger.merkle import (
    EMPTY_ROOT,
    Node,
    consistency_ranges,
    leaf_hash,
    node_hash,
    range_hash,
)
from thidua.ledger.note import (
    COSIGNATURE_V1,
    Checkpoint,
    Signer,
    Verifier,
    generate_key,
    open_note,
    parse_signer,
    parse_verifier,
    sign_note,
    verify_cosignature,
)
from thidua.witness import main as cli
from thidua.witness.app import create_app
from thidua.witness.client import Conflict, Cosigned, WitnessError, add_checkpoint
from thidua.witness.core import LogKey, Witness
from thidua.witness.state import StateError, StateFile, TreeHead

PREFIX = "thidua.example.vn"
ORIGIN = f"{PREFIX}/cum-xii"


class Tree:
    """A log's leaves and every perfect subtree's hash, as the product stores them."""

    def __init__(self, size: int, fork_at: int | None = None) -> None:
        entries = [f"entry {i}" if i != fork_at else "rewritten" for i in range(size)]
        self.nodes = {Node(0, i): leaf_hash(e.encode()) for i, e in enumerate(entries)}
        level = 0
        while (1 << (level + 1)) <= size:
            for index in range(size >> (level + 1)):
                left, right = (
                    self.nodes[Node(level, 2 * index)],
                    self.nodes[Node(level, 2 * index + 1)],
                )
                self.nodes[Node(level + 1, index)] = node_hash(left, right)
            level += 1

    def root(self, size: int) -> bytes:
        return range_hash(0, size, self.nodes.__getitem__)

    def proof(self, old: int, size: int) -> list[bytes]:
        return [range_hash(b, e, self.nodes.__getitem__) for b, e in consistency_ranges(old, size)]


TREE = Tree(40)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Setup:
    def __init__(self, tmp: Path) -> None:
        self.log = parse_signer(generate_key(PREFIX)[0])
        self.witness_key = parse_signer(
            generate_key("witness.so-noi-vu.example.vn", COSIGNATURE_V1)[0]
        )
        self.state = tmp / "state.json"

    @property
    def verifier(self) -> Verifier:
        return self.witness_key.verifier()

    def signed(
        self, size: int, root: bytes | None = None, origin: str = ORIGIN, by: Signer | None = None
    ) -> str:
        checkpoint = Checkpoint(origin, size, TREE.root(size) if root is None else root)
        return sign_note(checkpoint.body(), by or self.log)

    def witness(self) -> Witness:
        return Witness(
            self.witness_key, [LogKey(PREFIX, self.log.verifier())], StateFile(self.state)
        )


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


@asynccontextmanager
async def serving(witness: Witness) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(witness), port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def submit(
    url: str, setup: Setup, note: str, old: int, proof: list[bytes]
) -> Cosigned | Conflict:
    return await add_checkpoint(url, note, old, proof, setup.verifier)


async def refused(url: str, setup: Setup, note: str, old: int, proof: list[bytes]) -> int | None:
    with pytest.raises(WitnessError) as error:
        await submit(url, setup, note, old, proof)
    return error.value.status


async def test_a_growing_log_is_cosigned_and_recorded(setup: Setup) -> None:
    async with serving(setup.witness()) as url:
        first = await submit(url, setup, setup.signed(8), 0, [])
        assert isinstance(first, Cosigned)
        note = setup.signed(13)
        grown = await submit(url, setup, note, 8, TREE.proof(8, 13))
    assert isinstance(grown, Cosigned)
    checkpoint = Checkpoint.parse(open_note(note, [setup.log.verifier()]).text)
    assert verify_cosignature(checkpoint, grown.lines[0], setup.verifier) == grown.timestamp
    both = open_note(note + grown.lines[0], [setup.log.verifier(), setup.verifier])
    assert len(both.verified) == 2
    head = StateFile(setup.state).get(ORIGIN)
    assert head is not None
    assert (head.size, head.root) == (13, TREE.root(13))


async def test_a_wrong_old_size_gets_the_recorded_size(setup: Setup) -> None:
    async with serving(setup.witness()) as url:
        await submit(url, setup, setup.signed(8), 0, [])
        assert await submit(url, setup, setup.signed(13), 5, TREE.proof(5, 13)) == Conflict(8)
        assert await submit(url, setup, setup.signed(13), 0, []) == Conflict(8)
        async with httpx.AsyncClient() as http:
            body = f"old 3\n\n{setup.signed(13)}"
            raw = await http.post(f"{url}/add-checkpoint", content=body)
        assert raw.status_code == 409
        assert raw.headers["content-type"] == "text/x.tlog.size"
        assert raw.text == "8\n"
        retried = await submit(url, setup, setup.signed(13), 8, TREE.proof(8, 13))
    assert isinstance(retried, Cosigned)


async def test_forks_and_rollbacks_are_refused_and_nothing_is_recorded(setup: Setup) -> None:
    forked = Tree(40, fork_at=11)
    async with serving(setup.witness()) as url:
        await submit(url, setup, setup.signed(13), 0, [])
        before = setup.state.read_bytes()
        # The same size with another root: two histories of one log.
        assert await refused(url, setup, setup.signed(13, forked.root(13)), 13, []) == 422
        # A smaller tree: from the recorded size, old exceeds the size; from its own, a conflict.
        assert await refused(url, setup, setup.signed(10), 13, []) == 400
        assert await submit(url, setup, setup.signed(10), 10, []) == Conflict(13)
        # A larger tree that rewrote leaf 11: its proof from 13 does not reach the recorded root.
        assert (
            await refused(url, setup, setup.signed(20, forked.root(20)), 13, forked.proof(13, 20))
            == 422
        )
        # The right tree with a proof from elsewhere, or none.
        assert await refused(url, setup, setup.signed(20), 13, TREE.proof(12, 20)) == 422
        assert await refused(url, setup, setup.signed(20), 13, []) == 422
        assert setup.state.read_bytes() == before
        still = await submit(url, setup, setup.signed(20), 13, TREE.proof(13, 20))
    assert isinstance(still, Cosigned)
    assert setup.state.read_bytes() != before


async def test_the_empty_tree(setup: Setup) -> None:
    async with serving(setup.witness()) as url:
        assert await refused(url, setup, setup.signed(0, TREE.root(1)), 0, []) == 422
        assert isinstance(await submit(url, setup, setup.signed(0, EMPTY_ROOT), 0, []), Cosigned)
        assert await refused(url, setup, setup.signed(5), 0, TREE.proof(1, 5)) == 422
        assert isinstance(await submit(url, setup, setup.signed(5), 0, []), Cosigned)


async def test_a_checkpoint_not_signed_by_the_logs_key_is_forbidden(setup: Setup) -> None:
    impostor = parse_signer(generate_key(PREFIX)[0])  # the log's name, another key
    async with serving(setup.witness()) as url:
        assert await refused(url, setup, setup.signed(8, by=impostor), 0, []) == 403
        genuine = setup.signed(8)
        forged = genuine[:-10] + ("A" if genuine[-10] != "A" else "B") + genuine[-9:]
        assert await refused(url, setup, forged, 0, []) == 403
    assert not setup.state.exists()


async def test_an_unknown_origin_is_not_found(setup: Setup) -> None:
    async with serving(setup.witness()) as url:
        for origin in ["other.example.vn/cum-xii", f"{PREFIX}x/cum-xii", "thidua.example"]:
            assert await refused(url, setup, setup.signed(8, origin=origin), 0, []) == 404
        assert isinstance(await submit(url, setup, setup.signed(8, origin=PREFIX), 0, []), Cosigned)


async def test_one_key_signs_every_cluster_and_each_is_witnessed_apart(setup: Setup) -> None:
    other = f"{PREFIX}/cum-iii"
    async with serving(setup.witness()) as url:
        await submit(url, setup, setup.signed(13), 0, [])
        assert isinstance(await submit(url, setup, setup.signed(3, origin=other), 0, []), Cosigned)
        assert await submit(url, setup, setup.signed(20, origin=other), 0, []) == Conflict(3)
    heads = StateFile(setup.state).heads
    assert {o: h.size for o, h in heads.items()} == {ORIGIN: 13, other: 3}


async def test_concurrent_requests_cannot_roll_the_log_back(setup: Setup) -> None:
    async with serving(setup.witness()) as url:
        await submit(url, setup, setup.signed(8), 0, [])
        answers = await asyncio.gather(
            *(
                submit(url, setup, setup.signed(size), 8, TREE.proof(8, size))
                for size in (10, 13, 20)
            )
        )
    assert sum(isinstance(a, Cosigned) for a in answers) == 1
    winner = next(
        size for size, a in zip((10, 13, 20), answers, strict=True) if isinstance(a, Cosigned)
    )
    assert [a for a in answers if isinstance(a, Conflict)] == [Conflict(winner)] * 2
    head = StateFile(setup.state).get(ORIGIN)
    assert head is not None
    assert head.size == winner


@pytest.mark.parametrize(
    "body",
    [
        "old 0\n{note}",  # no blank line... the note's own blank line is found: not a checkpoint
        "old 00\n\n{note}",
        "old -1\n\n{note}",
        "old 0 \n\n{note}",
        "new 0\n\n{note}",
        "old 8\nnot base64\n\n{note}",
        "old 8\n" + base64.b64encode(bytes(31)).decode() + "\n\n{note}",
        "old 8\n" + (base64.b64encode(bytes(32)).decode() + "\n") * 64 + "\n{note}",
        "old 9\n\n{note}",  # old exceeds the checkpoint's size
        "old 0\n\n{bad_checkpoint}",
        "old 0\n\n{note_without_signature}",
    ],
)
async def test_malformed_requests_are_bad_requests(setup: Setup, body: str) -> None:
    bad_checkpoint = sign_note(
        f"{ORIGIN}\n08\n{base64.b64encode(TREE.root(8)).decode()}\n", setup.log
    )
    text = body.format(
        note=setup.signed(8),
        bad_checkpoint=bad_checkpoint,
        note_without_signature=Checkpoint(ORIGIN, 8, TREE.root(8)).body(),
    )
    async with serving(setup.witness()) as url, httpx.AsyncClient() as http:
        answer = await http.post(f"{url}/add-checkpoint", content=text.encode())
    assert answer.status_code == 400, answer.text
    assert answer.text.startswith("Yêu cầu sai định dạng")
    assert not setup.state.exists()


async def test_oversized_and_non_post_requests(setup: Setup) -> None:
    async with serving(setup.witness()) as url, httpx.AsyncClient() as http:
        assert (await http.post(f"{url}/add-checkpoint", content=b"x" * 70_000)).status_code == 413
        assert (await http.get(f"{url}/add-checkpoint")).status_code == 405


async def test_a_cosignature_by_another_key_is_not_taken(setup: Setup) -> None:
    async with serving(setup.witness()) as url:
        other = parse_verifier(generate_key(setup.verifier.name, COSIGNATURE_V1)[1])
        with pytest.raises(WitnessError, match="no cosignature by"):
            await add_checkpoint(url, setup.signed(8), 0, [], other)


async def test_an_unreachable_witness_is_an_error(setup: Setup) -> None:
    with pytest.raises(WitnessError, match="cannot reach"):
        await add_checkpoint(
            f"http://127.0.0.1:{free_port()}", setup.signed(8), 0, [], setup.verifier
        )


def test_init_writes_a_private_key_and_key_prints_its_verifier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "witness.key"
    assert cli.main(["init", "--name", "witness.example.vn", "--key", str(path)]) == 0
    printed = capsys.readouterr().out.strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    signer = parse_signer(path.read_text())
    assert signer.kind == COSIGNATURE_V1
    assert parse_verifier(printed) == signer.verifier()
    assert cli.main(["key", "--key", str(path)]) == 0
    assert capsys.readouterr().out.strip() == printed
    assert cli.main(["init", "--name", "other", "--key", str(path)]) == 2
    assert parse_signer(path.read_text()) == signer  # not overwritten


def test_serve_refuses_a_log_key_it_cannot_use(tmp_path: Path) -> None:
    key = tmp_path / "witness.key"
    cli.main(["init", "--name", "w.example", "--key", str(key)])
    witness_vkey = parse_signer(key.read_text()).verifier().text()
    for option in ["no-equals-sign", f"{PREFIX}=garbage", f"{PREFIX}={witness_vkey}"]:
        with pytest.raises(SystemExit) as exited:
            cli.main(["serve", "--key", str(key), "--state", str(tmp_path / "s"), "--log", option])
        assert exited.value.code == 2


async def _start(setup: Setup, key: Path, port: int) -> asyncio.subprocess.Process:
    """`thidua-witness serve` as an operator runs it, once it accepts connections."""
    command = [sys.executable, "-m", "thidua.witness.main", "serve", "--key", str(key)]
    command += ["--state", str(setup.state), "--port", str(port)]
    command += ["--log", f"{PREFIX}={setup.log.verifier().text()}"]
    process = await asyncio.create_subprocess_exec(*command, env={**os.environ})
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return process
    process.kill()
    raise AssertionError("the witness did not start")


async def _stop(process: asyncio.subprocess.Process) -> None:
    process.terminate()
    assert await process.wait() in (0, -15)


async def test_the_state_survives_a_restart(setup: Setup, tmp_path: Path) -> None:
    key = tmp_path / "witness.key"
    key.write_text(setup.witness_key.text() + "\n")
    key.chmod(0o600)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = await _start(setup, key, port)
    try:
        assert isinstance(await submit(url, setup, setup.signed(13), 0, []), Cosigned)
    finally:
        await _stop(process)
    process = await _start(setup, key, port)
    try:
        assert await submit(url, setup, setup.signed(20), 0, []) == Conflict(13)
        forked = Tree(40, fork_at=2)
        assert (
            await refused(url, setup, setup.signed(20, forked.root(20)), 13, forked.proof(13, 20))
            == 422
        )
        assert isinstance(
            await submit(url, setup, setup.signed(20), 13, TREE.proof(13, 20)), Cosigned
        )
    finally:
        await _stop(process)


def test_a_state_that_cannot_be_read_stops_the_witness(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    for text in ["garbage", "[]", '{"logs": {"o": {"size": -1, "root": ""}}}', '{"logs": 1}']:
        path.write_text(text)
        with pytest.raises(StateError):
            StateFile(path)


def test_a_save_replaces_the_file_and_leaves_nothing_behind(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "state.json")
    state.save(ORIGIN, TreeHead(8, TREE.root(8)))
    state.save(ORIGIN, TreeHead(13, TREE.root(13)))
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert StateFile(tmp_path / "state.json").heads == {ORIGIN: TreeHead(13, TREE.root(13))}
