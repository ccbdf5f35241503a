"""The demo clusters of DOMAIN.md, registered on a fresh database (and left alone after)."""

from thidua.store import EventStore
from thidua.store.errors import TenantExists

DEMO_CLUSTERS = {
    "cum-xii": "Cụm thi đua số XII",
    "cum-8": "Cụm thi đua số 8 (các quận trung tâm)",
    "cum-4": "Cụm thi đua số 4 (Mặt trận và các đoàn thể)",
}


async def load_demo(store: EventStore) -> list[str]:
    """Register the demo clusters that are missing; return the codes registered now."""
    registered = []
    for code, name in DEMO_CLUSTERS.items():
        try:
            await store.create_tenant(code, name)
        except TenantExists:
            continue
        registered.append(code)
    return registered
