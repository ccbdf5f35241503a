"""`thidua demo` registers the clusters of docs/domain.md and plays their year, once."""

import json
import os
import subprocess
import sys

from thidua.domain.cluster_year import Status
from thidua.domain.proposals import Award
from thidua.domain.scorecard import Layer
from thidua.service.emulation import Emulation
from thidua.store import EventStore
from thidua.store.audit import verify_chain


def thidua_demo(dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thidua", "demo"],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": dsn},
        timeout=120,
        check=False,
    )


async def test_demo_plays_a_year_in_each_cluster_once(dsn: str, store: EventStore) -> None:
    first = thidua_demo(dsn)
    assert first.returncode == 0, first.stderr
    assert await store.tenant_name("cum-xii") == "Cụm thi đua số XII"
    assert await store.tenant_name("cum-8") == "Cụm thi đua số 8 (các quận trung tâm)"
    assert await store.tenant_name("cum-4") == "Cụm thi đua số 4 (Mặt trận và các đoàn thể)"

    service = Emulation(store)
    xii = await service.year("cum-xii", 2025)
    assert len(xii.members) == 10
    assert xii.status is Status.FINALISED
    assert xii.criteria[0]["amended"] == ["A3", "C2"]
    assert xii.mid_year_review is not None
    first_place = xii.current_result().layers[Layer.CITY].ranking.first
    awards = {p.award: p.units for p in xii.proposals.values()}
    assert awards[Award.FLAG] == (first_place,)
    assert len(awards[Award.CERTIFICATE]) == 3  # 30% of 10 members
    assert xii.leader == "buu-dien-hn"  # the deputy took over at the year-end meeting
    assert xii.former_leaders == ["bhxh-hn"]
    pledge = await service.pledge("cum-xii", 2025)
    assert len(pledge.signatures) == 10

    inspected = await service.scorecard("cum-xii", 2025, "cuc-thue-hn")
    assert inspected.points(Layer.VERIFIED)["A2"] < inspected.points(Layer.SELF)["A2"]
    log = await store.read_log("cum-xii", 0, 10_000)
    refused = [json.loads(e.payload) for e in log if e.stream_id.startswith("refused/")]
    assert [r["code"] for r in refused] == ["OWN_UNIT_INSPECTION"]
    assert (await verify_chain(store, "cum-xii")).ok

    again = thidua_demo(dsn)
    assert again.returncode == 0, again.stderr
    assert "0 newly registered" in again.stdout
    assert len(await store.read_log("cum-xii", 0, 10_000)) == len(log)
