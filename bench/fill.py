"""A cluster-year of about N real domain events: 30 units, the city's criteria, every unit's
scorecard scored and corrected in all three layers through the aggregate's own `score`,
appended in chunks as a busy year would leave them."""

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from thidua.demo import CITY_BOARD, CITY_CRITERIA, TEMPLATE, ensure_template
from thidua.domain import commands as c
from thidua.domain.errors import RuleViolation
from thidua.domain.rights import Actor, Role
from thidua.domain.rules import YearRules
from thidua.domain.scorecard import Layer, Scorecard
from thidua.ledger.codec import EventCodec
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import Calendar, Envelope
from thidua.store import EventStore, Metadata

YEAR = 2025
UNITS = [f"dv-{i:02d}" for i in range(1, 31)]
CHUNK = 500  # events per append: a scorecard's burst of corrections
META = Metadata(actor="Cán bộ đo tải", role="member_officer", reason="đo tốc độ")


async def fill_year(store: EventStore, tenant: str, events: int) -> int:
    """A cluster-year with about `events` events; returns the log's head."""
    clock = Calendar(datetime(YEAR, 1, 10, 2, tzinfo=UTC))
    service = Emulation(store, clock)
    await ensure_template(service)
    board = CITY_BOARD.caller()
    registered = c.RegisterCluster(tenant, "Cụm thi đua đo tải")
    await service.handle(Envelope(CITY_LOG, board), registered)
    members = tuple(c.MemberGiven(u, f"Đơn vị {u}", date(YEAR, 1, 1)) for u in UNITS)
    opened = c.OpenYear(YEAR, members, UNITS[0], (UNITS[1],))
    await service.handle(Envelope(tenant, board), opened)
    secretary = Actor("Văn phòng cụm", Role.SECRETARIAT, UNITS[0])
    clock.on(date(YEAR, 2, 20))
    adopted = c.AdoptCriteria(YEAR, TEMPLATE, "2025.1", CITY_CRITERIA)
    await service.handle(Envelope(tenant, secretary.caller()), adopted)
    codec, rng, rules = EventCodec(), random.Random(7), YearRules()
    scorable = sorted(CITY_CRITERIA.scorable().items())
    cards = {u: Scorecard(year=YEAR, unit=u) for u in UNITS}
    versions = dict.fromkeys(UNITS, 0)
    written, at = (await store.head(tenant))[0], datetime(YEAR, 3, 1, 2, tzinfo=UTC)
    while written < events:
        unit = rng.choice(UNITS)
        card = cards[unit]
        while len(card.pending_events) < CHUNK:
            code, criterion = rng.choice(scorable)
            top = criterion.max_points or Decimal(5)
            points = Decimal(rng.randint(0, int(top * 4))) / 4
            layer = rng.choices(list(Layer), weights=(6, 3, 1))[0]
            at += timedelta(seconds=20)
            try:
                card.score(layer, CITY_CRITERIA, code, points, "Đạt", ["Báo cáo"], at, rules)
            except RuleViolation:
                continue
        pending = card.collect_events()
        await store.append(
            tenant, card.id, versions[unit], [codec.encode(e) for e in pending], META
        )
        versions[unit] += len(pending)
        written += len(pending)
    return (await store.head(tenant))[0]
