"""The verifiable log as an auditor reaches it: the public key at its well-known address,
checkpoints and proofs over GraphQL, the evidence downloaded over HTTP or written by the
CLI, and the offline verifier run where no database or network can be reached."""

import base64
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api_client import Api, played, serving, token
from thidua.config import LogSettings
from thidua.domain.rights import Role
from thidua.ledger import note
from thidua.ledger.codec import NFCJSONTranscoder
from thidua.ledger.merkle import (
    ProofError,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

SIGNER, LOG_KEY = note.generate_key("thidua.test")
YEAR = 2025

CHECKPOINT = "{ cluster { checkpoint { origin size rootHash note witnesses } } }"
INCLUSION = """query ($p: Int!, $n: Int) {
  cluster { inclusionProof(position: $p, treeSize: $n) { leafIndex treeSize leafHash hashes } }
}"""
CONSISTENCY = """query ($m: Int!, $n: Int) {
  cluster { consistencyProof(fromSize: $m, toSize: $n) { fromSize toSize hashes } }
}"""

# Run inside the verifier's process: any socket, or any module that talks to a database
# or the network, stops it.
GUARD = """
import sys
FORBIDDEN = ("asyncpg", "psycopg", "httpx", "thidua.store", "thidua.db", "thidua.service")
def guard(event, args):
    if event.startswith("socket.") or event == "urllib.Request":
        raise RuntimeError(f"the verifier tried the network: {event}")
    if event == "import" and str(args[0]).startswith(FORBIDDEN):
        raise RuntimeError(f"the verifier imported {args[0]}")
sys.addaudithook(guard)
from thidua.ledger.cli import main
sys.exit(main(sys.argv[1:]))
"""


def b64(text: str) -> bytes:
    return base64.b64decode(text)


@pytest.fixture
async def api(dsn: str) -> Api:  # type: ignore[misc]
    async with serving(dsn, log=LogSettings(origin="thidua.test", key=SIGNER)) as api:
        yield api


def offline(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """thidua-verify with no database configured and the network refused."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-c", GUARD, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


async def test_checkpoints_and_proofs_over_graphql(api: Api) -> None:
    code = await played(api, 5)
    key = (await api.http.get("/.well-known/thidua-log-key")).text.strip()
    assert key == LOG_KEY
    auditor = token(api.dsn, "kiem.toan", [code], Role.AUDITOR)
    first = (await api.ok(CHECKPOINT, token=auditor, cluster=code))["cluster"]["checkpoint"]
    opened = note.open_note(first["note"], [note.parse_verifier(key)])
    checkpoint = note.Checkpoint.parse(opened.text)
    assert (checkpoint.origin, checkpoint.size) == (f"thidua.test/{code}", first["size"])
    assert checkpoint.size == (await api.store.head(code))[0]

    proof = (await api.ok(INCLUSION, {"p": 7}, token=auditor, cluster=code))["cluster"]
    found = proof["inclusionProof"]
    verify_inclusion(
        6,
        checkpoint.size,
        b64(found["leafHash"]),
        [b64(h) for h in found["hashes"]],
        checkpoint.root,
    )

    city = token(api.dsn, "ban.tdkt", [code], Role.CITY_BOARD)
    data = await api.ok(CONSISTENCY, {"m": 10}, token=city, cluster=code)
    found = data["cluster"]["consistencyProof"]
    assert (found["fromSize"], found["toSize"]) == (10, checkpoint.size)
    first_ten = [leaf_hash(e.hash) for e in await api.store.read_log(code, 0, 10)]
    hashes = [b64(h) for h in found["hashes"]]
    verify_consistency(10, checkpoint.size, root_of(first_ten), checkpoint.root, hashes)
    with pytest.raises(ProofError):
        verify_consistency(10, checkpoint.size, bytes(32), checkpoint.root, hashes)
    assert await api.refused(INCLUSION, {"p": checkpoint.size + 1}, token=city, cluster=code) == (
        "BAD_INPUT"
    )


@pytest.mark.parametrize("role", [Role.MEMBER_OFFICER, Role.SECRETARIAT, Role.DASHBOARD])
async def test_only_auditors_and_the_city_board_get_checkpoints(api: Api, role: Role) -> None:
    code = await played(api, 5)
    caller = token(api.dsn, "nguoi.khac", [code], role, unit="don-vi-1")
    assert await api.refused(CHECKPOINT, token=caller, cluster=code) == "FORBIDDEN"
    other = token(api.dsn, "kiem.toan", ["cum-khac"], Role.AUDITOR)
    assert await api.refused(CHECKPOINT, token=other, cluster=code) in {
        "CLUSTER_NOT_COVERED",
        "FORBIDDEN",
    }


async def test_a_year_downloaded_and_verified_offline(api: Api, tmp_path: Path) -> None:
    code = await played(api, 5)
    auditor = token(api.dsn, "kiem.toan", [code], Role.AUDITOR)
    kept = (await api.ok(CHECKPOINT, token=auditor, cluster=code))["cluster"]["checkpoint"]
    (tmp_path / "kept.txt").write_text(kept["note"], encoding="utf-8")
    (tmp_path / "log.key").write_text(LOG_KEY + "\n", encoding="utf-8")

    response = await api.http.get(
        f"/clusters/{code}/evidence",
        params={"year": YEAR},
        headers={"authorization": f"Bearer {auditor}"},
    )
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["content-encoding"] == "gzip"  # httpx accepts it, and unpacks
    (tmp_path / "evidence.jsonl").write_bytes(response.content)

    result = offline(
        tmp_path / "evidence.jsonl",
        "--key",
        tmp_path / "log.key",
        "--checkpoint",
        tmp_path / "kept.txt",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TOÀN VẸN" in result.stdout
    assert "tính lại khớp" in result.stdout

    member = token(api.dsn, "can.bo", [code], Role.MEMBER_OFFICER, unit="don-vi-1")
    refused = await api.http.get(
        f"/clusters/{code}/evidence",
        params={"year": YEAR},
        headers={"authorization": f"Bearer {member}"},
    )
    assert refused.status_code == 403


def thidua(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thidua", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


async def test_the_cli_writes_evidence_the_verifier_accepts(api: Api, tmp_path: Path) -> None:
    code = await played(api, 5)
    env = {
        **os.environ,
        "DATABASE_URL": api.dsn,
        "THIDUA_LOG_KEY": SIGNER,
        "THIDUA_LOG_ORIGIN": "thidua.test",
        "THIDUA_DATA_DIR": str(tmp_path),
    }
    out = tmp_path / "e.jsonl.gz"
    written = thidua(env, "audit", "export", "--cluster", code, "--year", "2025", "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    key = thidua(env, "audit", "key").stdout.strip()
    assert key == LOG_KEY
    result = offline(out, "--key", key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "năm 2025" in result.stdout

    # One score changed in the file: the event and the year's figures are named.
    header, *events = gzip.decompress(out.read_bytes()).decode().splitlines(keepends=True)
    scored = next(i for i, line in enumerate(events) if "Scored" in line)
    event = json.loads(events[scored])
    transcoder = NFCJSONTranscoder()
    payload = transcoder.decode(base64.b64decode(event["payload"]))
    payload["points"] -= 1
    event["payload"] = base64.b64encode(transcoder.encode(payload)).decode()
    events[scored] = json.dumps(event, ensure_ascii=False) + "\n"
    edited = tmp_path / "edited.jsonl"
    edited.write_text(header + "".join(events), encoding="utf-8")
    result = offline(edited, "--key", key)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"LỖI [vị trí {event['position']}]" in result.stdout
    assert "CÓ SAI LỆCH" in result.stdout
