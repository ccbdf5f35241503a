"""Two times on every fact: the day it happened, given by whoever records it and checked,
and the moment the log took it. Rights, deadlines and standings follow the day it happened.

A whole year typed in after the fact (the paper records of 2025 entered in 2026) gives the
same standings, ranking, results and proposals as the same year played live, and its audit
trail shows both times for each fact.
"""

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from thidua.demo import CITY_BOARD, DEMO, LATE, YEAR, ensure_template, play_year
from thidua.domain import commands as c
from thidua.domain.days import local_day
from thidua.domain.errors import DomainError, Forbidden
from thidua.domain.pledge import TopicKind
from thidua.domain.rights import Actor, Role
from thidua.projections import reads
from thidua.projections.runtime import Projector
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import Calendar, Envelope
from thidua.store import EventStore

LATER = datetime(YEAR + 1, 3, 2, 3, tzinfo=UTC)  # when the paper year is typed in


@pytest.fixture(scope="module")
async def projected(dsn: str) -> AsyncIterator[EventStore]:
    """A store whose appends project inline, as the product runs."""
    store = await EventStore.open(dsn, max_size=10)
    Projector(store).attach()
    yield store
    await store.close()


async def played(store: EventStore, after_the_fact: bool) -> str:
    """Cluster XII's year under a fresh code: live, or typed in on 2 March of the next year."""
    code = f"cum-b-{uuid.uuid4().hex[:8]}"
    clock = Calendar(LATER if after_the_fact else datetime(YEAR, 1, 5, 2, tzinfo=UTC))
    service = Emulation(store, clock)
    await ensure_template(service)
    city = Envelope(CITY_LOG, CITY_BOARD.caller())
    await service.handle(city, c.RegisterCluster(code, "Cụm thi đua nhập sau"))
    await play_year(service, clock, replace(DEMO[0], code=code), after_the_fact)
    return code


def plain(value: Any) -> Any:
    """A result as stored, the submission moment cut to its day (a paper record has no hour)."""
    if isinstance(value, dict):
        return {k: (v[:10] if k == "submitted_at" and v else plain(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


async def standings(store: EventStore, code: str) -> list[tuple[Any, ...]]:
    async with store.transaction(code) as conn:
        rows = await reads.standings(conn, code, YEAR)
    return sorted(
        (r.layer, r.unit, r.rank, r.total, r.decided_by, r.on_day, r.complete) for r in rows
    )


async def on_day(store: EventStore, code: str, day: date) -> list[tuple[Any, ...]]:
    async with store.transaction(code) as conn:
        rows = await reads.standings_on_day(conn, code, YEAR, day)
    return sorted((r.layer, r.unit, r.rank, r.complete, r.total) for r in rows)


async def test_a_year_entered_after_the_fact_is_the_year_played_live(
    projected: EventStore,
) -> None:
    live, typed = await played(projected, False), await played(projected, True)
    service = Emulation(projected, Calendar(LATER))
    live_year, typed_year = await service.year(live, YEAR), await service.year(typed, YEAR)

    assert await standings(projected, typed) == await standings(projected, live)
    assert plain(typed_year.current_result().to_json()) == plain(
        live_year.current_result().to_json()
    )
    assert typed_year.proposals == live_year.proposals
    assert typed_year.leadership_on(date(YEAR + 1, 1, 8)) == live_year.leadership_on(
        date(YEAR + 1, 1, 8)
    )

    # As of any day, the typed year shows what the live year showed on that day.
    for day in (date(YEAR, 3, 1), date(YEAR, 11, 30), date(YEAR, 12, 10), date(YEAR, 12, 31)):
        assert await on_day(projected, typed, day) == await on_day(projected, live, day), day
    before = await on_day(projected, typed, date(YEAR, 11, 24))  # before any self score
    assert {total for *_, total in before} == {Decimal(0)}

    # Both times, for each fact: the day it happened and the moment it was typed in.
    async with projected.transaction(typed) as conn:
        trail = await conn.fetch(
            "SELECT event_type, occurred_at, recorded_at, reason, command FROM audit_history"
            " WHERE tenant_id = $1 ORDER BY position",
            typed,
        )
    signed = [r for r in trail if r["event_type"] == "Signed"]
    assert signed
    for row in signed:
        assert local_day(row["occurred_at"]) == date(YEAR, 2, 20)
        assert local_day(row["recorded_at"]) >= local_day(LATER)
        assert (row["reason"], row["command"]) == (LATE, "signPledge")


# The checks on a day given.


@pytest.fixture
async def year_of(projected: EventStore) -> tuple[Emulation, str, Calendar]:
    """A live cluster, its year played to its end, on 20 January of the next year."""
    code = await played(projected, False)
    clock = Calendar(datetime(YEAR + 1, 1, 20, 2, tzinfo=UTC))
    return Emulation(projected, clock), code, clock


def as_unit(code: str, unit: str, role: Role, reason: str | None = None) -> Envelope:
    return Envelope(code, Actor(f"Cán bộ {unit}", role, unit).caller(), reason=reason)


async def refused(service: Emulation, envelope: Envelope, command: c.Command) -> str:
    with pytest.raises(DomainError) as refusal:
        await service.handle(envelope, command)
    return refusal.value.code


UNITS = [u for u, _ in DEMO[0].units]
LEADER_2026 = UNITS[1]  # the demo rotates the leadership to its first deputy on 8 January


async def test_a_day_given_is_checked(year_of: tuple[Emulation, str, Calendar]) -> None:
    service, code, _ = year_of
    secretariat = as_unit(code, LEADER_2026, Role.SECRETARIAT)
    meeting = c.ConveneMeeting(YEAR, "hop-bo-sung", "Họp bổ sung", date(YEAR + 1, 1, 15))
    assert await refused(
        service, secretariat, replace(meeting, occurred_on=date(YEAR + 1, 1, 21))
    ) == ("FUTURE_DAY")
    assert await refused(
        service, secretariat, replace(meeting, occurred_on=date(YEAR - 2, 1, 1))
    ) == ("OUTSIDE_YEAR")
    assert await refused(
        service, secretariat, replace(meeting, occurred_on=date(YEAR + 1, 1, 2))
    ) == ("LATE_REASON_REQUIRED")
    late = as_unit(code, LEADER_2026, Role.SECRETARIAT, "Biên bản họp nhận muộn")
    await service.handle(late, replace(meeting, occurred_on=date(YEAR + 1, 1, 15)))
    # A tally cannot have been counted before the meeting was held.
    tally = c.RecordTally(YEAR, "hop-bo-sung", 1, 0, 0, occurred_on=date(YEAR + 1, 1, 14))
    assert await refused(service, late, tally) == "BEFORE_ITS_CAUSE"


async def test_deadlines_follow_the_day_it_happened(
    year_of: tuple[Emulation, str, Calendar],
) -> None:
    """A topic registered on paper on 30 March and typed in later is on time; one
    registered on 1 April is late, whenever it is typed in."""
    service, code, clock = year_of
    clock.now = datetime(YEAR, 4, 20, 2, tzinfo=UTC)
    unit = UNITS[3]
    officer = as_unit(code, unit, Role.MEMBER_OFFICER, "Hồ sơ đăng ký bằng giấy")
    title = "Chuyên đề: cải cách thủ tục hành chính"
    on_time = c.RegisterTopic(
        YEAR, unit, "chuyen-de-1", TopicKind.TOPIC, title, occurred_on=date(YEAR, 3, 30)
    )
    await service.handle(officer, on_time)
    late = replace(on_time, topic_id="chuyen-de-2", occurred_on=date(YEAR, 4, 1))
    assert await refused(service, officer, late) == "TOPIC_DEADLINE_PASSED"


async def test_a_rotation_takes_effect_on_its_day(
    year_of: tuple[Emulation, str, Calendar],
) -> None:
    """Agreed on 20 January for 1 February: until then the leader leads; from then on,
    the new one does, and the old one keeps reading the year it led."""
    service, code, clock = year_of
    old, new = LEADER_2026, UNITS[4]
    rotation = c.RotateLeadership(YEAR, new, date(YEAR + 1, 2, 1), (UNITS[2],))
    await service.handle(as_unit(code, old, Role.SECRETARIAT), rotation)
    year = await service.year(code, YEAR)
    assert year.leadership_on(date(YEAR + 1, 1, 31))[0] == old
    assert year.leadership_on(date(YEAR + 1, 2, 1))[0] == new

    adjust = c.VerifyScore(YEAR, UNITS[5], "A1", Decimal(20), "Điều chỉnh sau kiểm tra")
    with pytest.raises(Forbidden) as refusal:  # the incoming leader, before its day
        await service.handle(as_unit(code, new, Role.SECRETARIAT), adjust)
    assert refusal.value.code == "NOT_THE_LEADER"
    assert year.context(date(YEAR + 1, 1, 20)).leader == old

    clock.on(date(YEAR + 1, 2, 1))
    now = (await service.year(code, YEAR)).context(local_day(clock()))
    assert now.leader == new
    assert old in now.former_leaders


def test_a_unit_that_left_reads_its_own_past_and_so_does_the_unit_it_merged_into() -> None:
    """Merged into u2 on 1 July: u3 keeps reading its own records of the year and the
    published results, no one else's; u2 reads u3's records; u3 writes nothing more."""
    from thidua.domain.cluster_year import ClusterYear
    from thidua.domain.membership import Membership
    from thidua.domain.rights import Action, may
    from thidua.domain.rules import YearRules

    members = [Membership(u, f"Đơn vị {u}", date(YEAR, 1, 1)) for u in ("u1", "u2", "u3", "u4")]
    year = ClusterYear.open(YEAR, members, "u1", [], YearRules())
    year.leave("u3", date(YEAR, 7, 1), merged_into="u2")
    after = year.context(date(YEAR, 9, 1))
    officer = Actor("Cán bộ u3", Role.MEMBER_OFFICER, "u3")
    assert may(officer, Action.READ_OWN_UNIT, after, "u3")
    assert may(officer, Action.READ_PUBLISHED, after)
    assert not may(officer, Action.READ_OWN_UNIT, after, "u4")
    assert not may(officer, Action.SELF_SCORE, after, "u3")
    heir = Actor("Cán bộ u2", Role.MEMBER_OFFICER, "u2")
    assert may(heir, Action.READ_OWN_UNIT, after, "u3")
    assert not may(Actor("Cán bộ u4", Role.MEMBER_OFFICER, "u4"), Action.READ_OWN_UNIT, after, "u3")
    before = year.context(date(YEAR, 6, 30))
    assert not may(heir, Action.READ_OWN_UNIT, before, "u3")  # not yet merged
