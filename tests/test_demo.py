"""`thidua demo` registers the clusters of DOMAIN.md, once."""

import os
import subprocess
import sys

from thidua.store import EventStore


def thidua_demo(dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thidua", "demo"],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": dsn},
        timeout=120,
        check=False,
    )


async def test_demo_registers_the_three_clusters_once(dsn: str, store: EventStore) -> None:
    first = thidua_demo(dsn)
    assert first.returncode == 0, first.stderr
    assert await store.tenant_name("cum-xii") == "Cụm thi đua số XII"
    assert await store.tenant_name("cum-8") == "Cụm thi đua số 8 (các quận trung tâm)"
    assert await store.tenant_name("cum-4") == "Cụm thi đua số 4 (Mặt trận và các đoàn thể)"

    again = thidua_demo(dsn)
    assert again.returncode == 0, again.stderr
    assert "0 newly registered" in again.stdout
