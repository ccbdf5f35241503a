"""The year's rules as one checked value: generated rules round-trip, any JSON is either
rules or INVALID_RULES (never another exception), and any rules accepted leave every
projection healthy on the real store.

The service is reached through the three helpers at the top (open a year, set its rules,
record a self score) and nothing else, so they are the only lines to change with it.
"""

import json
import math
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from thidua.demo import CITY_CRITERIA
from thidua.domain import commands as c
from thidua.domain.cluster_year import ClusterYear
from thidua.domain.criteria import Kind
from thidua.domain.errors import RuleViolation
from thidua.domain.membership import Membership
from thidua.domain.rights import Actor, Role
from thidua.domain.rules import Deadlines, FlagCondition, TieBreak, VoteBase, YearRules
from thidua.ledger.codec import EventCodec
from thidua.projections import reads
from thidua.projections.runtime import Projector
from thidua.service.emulation import CITY_LOG, Emulation
from thidua.service.envelope import Calendar, Envelope
from thidua.store import EventStore, Metadata

YEAR = 2025
UNITS = ["u1", "u2", "u3"]
CITY = Actor("Nguyễn Văn An", Role.CITY_BOARD)
SECRETARIAT = Actor("Cán bộ thường trực", Role.SECRETARIAT, "u1")

# The service, as the tests below use it ------------------------------------------------------


def sent(tenant: str, actor: Actor, reason: str | None = None) -> Envelope:
    return Envelope(tenant, actor.caller(), reason=reason)


async def open_year(service: Emulation, tenant: str, template: str) -> None:
    """A 2025 year of u1..u3 (u1 leads) with the city's criteria, opened on 1 January."""
    members = tuple(c.MemberGiven(u, f"Đơn vị {u}", date(YEAR, 1, 1)) for u in UNITS)
    opened = c.OpenYear(YEAR, members, "u1", ("u2",))
    await service.handle(sent(tenant, CITY, "Lập năm thi đua"), opened)
    adopted = c.AdoptCriteria(YEAR, template, CITY_CRITERIA.version, CITY_CRITERIA)
    await service.handle(sent(tenant, SECRETARIAT), adopted)


async def set_rules(service: Emulation, tenant: str, rules: YearRules) -> None:
    await service.handle(sent(tenant, SECRETARIAT, "Quy định của năm"), c.SetRules(YEAR, rules))


async def self_score(
    service: Emulation, tenant: str, unit: str, criterion: str, points: Decimal
) -> None:
    officer = Actor(f"Cán bộ {unit}", Role.MEMBER_OFFICER, unit)
    scored = c.SelfScore(YEAR, unit, criterion, points, "Đạt", ("Báo cáo",))
    await service.handle(sent(tenant, officer), scored)


# What every rules value must be, said independently of the code that checks it ---------------

# As years recorded them before the tie-break chain and the flag's conditions were rules.
DEFAULTS_AS_STORED_BEFORE = {
    "amendment_share": "3/10",
    "quorum": "2/3",
    "vote_threshold": "1/2",
    "vote_base": "all_members",
    "flag_quota": 1,
    "certificate_share": "3/10",
    "floor_a1_share": "4/5",
    "floor_deduction": "5",
    "score_step": "0.25",
    "deadlines": {
        "topic_registration": [3, 31],
        "self_scores": [12, 10],
        "results_to_city": [1, 15],
    },
}
DEFAULTS_AS_STORED = {
    **DEFAULTS_AS_STORED_BEFORE,
    "tie_break": ["part_a", "fewer_deductions", "earlier_submission", "vote_required"],
    "flag_requires": ["first", "vote_won", "new_model"],
}
KEYS = list(DEFAULTS_AS_STORED)
DEADLINE_KEYS = list(cast(dict[str, Any], DEFAULTS_AS_STORED["deadlines"]))


def assert_in_range(rules: YearRules) -> None:
    """The documented ranges."""
    for share in (rules.amendment_share, rules.certificate_share, rules.floor_a1_share):
        assert isinstance(share, Fraction)
        assert 0 <= share <= 1
    assert isinstance(rules.quorum, Fraction)
    assert 0 < rules.quorum <= 1
    assert isinstance(rules.vote_threshold, Fraction)
    assert Fraction(1, 2) <= rules.vote_threshold < 1
    assert isinstance(rules.vote_base, VoteBase)
    assert type(rules.flag_quota) is int
    assert 0 <= rules.flag_quota <= 5
    for points, most in ((rules.floor_deduction, 100), (rules.score_step, 10)):
        assert isinstance(points, Decimal)
        assert points.is_finite()
        assert 0 < points <= most
        assert (points * 100) % 1 == 0
    for month, day in (
        rules.deadlines.topic_registration,
        rules.deadlines.self_scores,
        rules.deadlines.results_to_city,
    ):
        assert type(month) is int
        assert type(day) is int
        date(2001, month, day)  # a day every year has
    assert isinstance(rules.tie_break, tuple)
    assert all(isinstance(step, TieBreak) for step in rules.tie_break)
    assert len(set(rules.tie_break)) == len(rules.tie_break)
    assert isinstance(rules.flag_requires, frozenset)
    assert rules.flag_requires
    assert all(isinstance(condition, FlagCondition) for condition in rules.flag_requires)


def stored_and_read(rules: YearRules) -> YearRules:
    """Through JSON text, as the log keeps it."""
    return YearRules.from_json(json.loads(json.dumps(rules.to_json())))


# Strategies ----------------------------------------------------------------------------------


def shares(
    low: Fraction = Fraction(0), high: Fraction = Fraction(1), *, above: bool, below: bool
) -> st.SearchStrategy[Fraction]:
    """From low to high, each end in or out; common shares, any, and long denominators."""
    exact = st.sampled_from([low, high, Fraction(1, 2), Fraction(2, 3), Fraction(3, 10)])
    some = st.fractions(min_value=low, max_value=high, max_denominator=10**6)
    long = st.integers(0, 2**60).map(lambda n: low + (high - low) * Fraction(n, 2**60))

    def inside(f: Fraction) -> Fraction:
        if not low <= f <= high or (above and f == low) or (below and f == high):
            return (low + high) / 2
        return f

    return st.one_of(exact, some, long).map(inside)


def points(most: int) -> st.SearchStrategy[Decimal]:
    """Positive, at most `most`, at most two decimals, in any of Decimal's spellings."""
    hundredths = st.integers(1, most * 100).map(lambda n: Decimal(n) / 100)
    spelled = st.sampled_from(
        [
            lambda d: d,
            lambda d: d.normalize(),  # 10 is "1E+1"
            lambda d: d.quantize(Decimal("0.01")),  # 5 is "5.00"
            lambda d: d.quantize(Decimal("0.0001")),  # 0.25 is "0.2500"
        ]
    )
    return st.builds(lambda d, spell: spell(d), hundredths, spelled)


month_days = st.dates(date(2001, 1, 1), date(2001, 12, 31)).map(lambda d: (d.month, d.day))

deadlines = st.builds(
    Deadlines, topic_registration=month_days, self_scores=month_days, results_to_city=month_days
)

year_rules = st.builds(
    YearRules,
    amendment_share=shares(above=False, below=False),
    quorum=shares(above=True, below=False),
    vote_threshold=shares(Fraction(1, 2), Fraction(1), above=False, below=True),
    vote_base=st.sampled_from(VoteBase),
    flag_quota=st.integers(0, 5),
    certificate_share=shares(above=False, below=False),
    floor_a1_share=shares(above=False, below=False),
    floor_deduction=points(100),
    score_step=points(10),
    deadlines=deadlines,
    tie_break=st.permutations(list(TieBreak)).flatmap(
        lambda steps: st.integers(0, len(steps)).map(lambda n: tuple(steps[:n]))
    ),
    flag_requires=st.sets(st.sampled_from(FlagCondition), min_size=1).map(frozenset),
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(KEYS + DEADLINE_KEYS),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.sampled_from(KEYS), children, max_size=4)
    ),
    max_leaves=12,
)

NEAR_MISSES: list[Any] = [
    *["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "1e999", "-1e999", "1E+2"],
    *["0", "-0", "-0.25", "0.125", "0.001", "10.01", "100.01", "1/0", "0/0", "-1/2", "3/2"],
    *["1/2", "2/3", "0.5", "1", "10", "100", "0.25", "5", " 1", "1 ", "1_0", "١", "½", "0x1"],
    *["", "1/", "/2", "1.", ".5", "+1", "1e", "1/2/3", "1.5/2", "1" * 300, "9" * 120 + "/1"],
    *[0.25, 0.5, 1.0, float("nan"), float("inf"), -0.0, 1e-300],
    *[True, False, None, 0, 1, 2, 5, 6, -1, 10, 11, 100, 101, 2**63, 10**30, -(10**30)],
    *[[2, 29], [2, 30], [2, 28], [4, 31], [12, 31], [1, 1], [13, 1], [0, 1], [1, 0], [12, 32]],
    *[[12, 10, 1], [12], [], [True, 1], [12, True], [12.0, 10], ["12", "10"], [10**30, 1]],
    *["12-10", {"month": 12, "day": 10}, {}, [[12, 10]], {"self_scores": [12, 10]}],
    *["all_members", "present", "ALL_MEMBERS", "Present", "absent"],
    *[["part_a"], ["part_a", "part_a"], ["vote_required", "part_a"], ["PART_A"], "part_a"],
    *[["fewer_deductions", "vote_required", "vote_required"], ["earlier_submission", 1]],
    *[["first"], ["first", "first"], [], ["vote_required"], ["new_model", "vote_won"], "first"],
]
near_misses = st.sampled_from(NEAR_MISSES) | json_values


@st.composite
def one_rule_changed(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """Valid stored rules with one key (a deadline's, maybe) set to a near miss, or an
    unknown key added; and the name a refusal must mention."""
    data = draw(year_rules).to_json()
    where = draw(st.sampled_from(["rule", "deadline", "unknown rule", "unknown deadline"]))
    if where == "rule":
        key = draw(st.sampled_from(KEYS))
        data[key] = draw(near_misses)
        return data, f"({key})" if key != "deadlines" else "(deadlines"  # or one of its own
    if where == "deadline":
        key = draw(st.sampled_from(DEADLINE_KEYS))
        data["deadlines"][key] = draw(near_misses)
        return data, f"(deadlines.{key})"
    name = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in KEYS + DEADLINE_KEYS))
    (data if where == "unknown rule" else data["deadlines"])[name] = draw(near_misses)
    return data, repr(name)


@st.composite
def some_keys(draw: st.DrawFn) -> dict[str, Any]:
    """Some of the known keys, each a near miss: several faults at once, or none."""
    return draw(st.dictionaries(st.sampled_from(KEYS), near_misses, max_size=4))


any_json = st.one_of(
    json_values,
    some_keys(),
    one_rule_changed().map(lambda pair: pair[0]),
    year_rules.map(YearRules.to_json),
)

EXPLORE = os.environ.get("THIDUA_RULES_EXAMPLES")
PURE = settings(max_examples=int(EXPLORE or 400), derandomize=EXPLORE is None, database=None)


# Pure ----------------------------------------------------------------------------------------


def test_the_defaults_are_stored_as_before() -> None:
    """Years recorded with the defaults read back as the defaults, those recorded before
    the tie-break chain and the flag's conditions were rules too."""
    assert YearRules().to_json() == DEFAULTS_AS_STORED
    assert YearRules.from_json(DEFAULTS_AS_STORED) == YearRules()
    assert YearRules.from_json(DEFAULTS_AS_STORED_BEFORE) == YearRules()
    assert YearRules.from_json({}) == YearRules()


def test_old_rules_without_the_chain_or_the_flag_conditions_keep_todays() -> None:
    old = {**DEFAULTS_AS_STORED_BEFORE, "flag_quota": 2, "floor_deduction": "3"}
    rules = YearRules.from_json(old)
    assert rules.tie_break == (
        TieBreak.PART_A,
        TieBreak.FEWER_DEDUCTIONS,
        TieBreak.EARLIER_SUBMISSION,
    )
    assert rules.flag_requires == {
        FlagCondition.FIRST,
        FlagCondition.VOTE_WON,
        FlagCondition.NEW_MODEL,
    }
    assert (rules.flag_quota, rules.floor_deduction) == (2, Decimal(3))
    year = ClusterYear.open(
        YEAR, [Membership(u, u, date(YEAR, 1, 1)) for u in UNITS], "u1", [], YearRules()
    )
    year._rules_set(rules=old)  # as a version before these rules recorded it
    assert year.rules == rules


@pytest.mark.parametrize(
    ("given", "chain"),
    [
        (["fewer_deductions", "part_a"], (TieBreak.FEWER_DEDUCTIONS, TieBreak.PART_A)),
        (["earlier_submission", "vote_required"], (TieBreak.EARLIER_SUBMISSION,)),
        (["vote_required"], ()),
        ([], ()),
    ],
)
def test_a_chain_is_read_in_its_order_and_always_ends_in_a_vote(
    given: list[str], chain: tuple[TieBreak, ...]
) -> None:
    rules = YearRules.from_json({"tie_break": given})
    assert rules.tie_break == chain
    assert rules.to_json()["tie_break"] == [step.value for step in chain] + ["vote_required"]


def test_flag_conditions_are_a_set_written_in_one_order() -> None:
    rules = YearRules.from_json({"flag_requires": ["new_model", "first"]})
    assert rules.flag_requires == {FlagCondition.FIRST, FlagCondition.NEW_MODEL}
    assert rules.to_json()["flag_requires"] == ["first", "new_model"]


@PURE
@given(year_rules)
def test_generated_rules_round_trip(rules: YearRules) -> None:
    assert_in_range(rules)
    read = stored_and_read(rules)
    assert read == rules
    assert read.to_json() == rules.to_json()  # the same text, not only the same value


def read(data: Any) -> YearRules | RuleViolation:
    """The rules, or the refusal; any other exception escapes and fails the test."""
    try:
        return YearRules.from_json(data)
    except RuleViolation as refused:
        return refused


@PURE
@given(any_json)
def test_any_json_is_rules_or_invalid_rules(data: Any) -> None:
    rules = read(data)
    if isinstance(rules, RuleViolation):
        assert rules.code == "INVALID_RULES"
        assert rules.message.startswith("Quy định của năm không hợp lệ: ")
    else:
        assert_in_range(rules)
        assert stored_and_read(rules) == rules


@PURE
@given(one_rule_changed())
def test_a_refusal_names_the_rule(changed: tuple[dict[str, Any], str]) -> None:
    data, named = changed
    rules = read(data)
    if isinstance(rules, RuleViolation):
        assert rules.code == "INVALID_RULES"
        assert named in rules.message
    else:
        assert not named.startswith("'"), "an unknown key was taken"


@pytest.mark.parametrize(
    ("given", "named"),
    [
        # What the finding saw taken, and what each did.
        ({"score_step": "0"}, "score_step"),  # every later score: division by zero
        ({"score_step": "NaN"}, "score_step"),  # every later score refused
        ({"floor_deduction": "NaN"}, "floor_deduction"),  # the standings projection stopped
        ({"flag_quota": -1}, "flag_quota"),
        ({"deadlines": {"self_scores": [2, 30]}}, "deadlines.self_scores"),
        ({"deadlines": {"self_scores": [12, 10, 1]}}, "deadlines.self_scores"),
        ({"quorum": 0.5}, "quorum"),  # a float is not exact
        ({"flag_quota": True}, "flag_quota"),
        ({"flag_quota": 1.0}, "flag_quota"),
        ({"quorum": "1/0"}, "quorum"),
        ({"quorum": "0"}, "quorum"),
        ({"vote_threshold": "1"}, "vote_threshold"),
        ({"vote_threshold": "0.4"}, "vote_threshold"),
        ({"certificate_share": "3/2"}, "certificate_share"),
        ({"amendment_share": "-1/10"}, "amendment_share"),
        ({"floor_a1_share": "Infinity"}, "floor_a1_share"),
        ({"floor_deduction": "0"}, "floor_deduction"),
        ({"floor_deduction": "100.01"}, "floor_deduction"),
        ({"score_step": "0.125"}, "score_step"),
        ({"score_step": "10.25"}, "score_step"),
        ({"flag_quota": 6}, "flag_quota"),
        ({"vote_base": "ALL_MEMBERS"}, "vote_base"),
        ({"deadlines": {"topic_registration": [2, 29]}}, "deadlines.topic_registration"),
        ({"deadlines": {"results_to_city": [13, 1]}}, "deadlines.results_to_city"),
        ({"deadlines": {"self_scores": [True, 10]}}, "deadlines.self_scores"),
        ({"deadlines": {"self_scores": "10/12"}}, "deadlines.self_scores"),
        ({"deadlines": {"due": [1, 1]}}, "'due'"),
        ({"deadlines": [[3, 31]]}, "(deadlines)"),
        ({"flag_qouta": 1}, "'flag_qouta'"),
        ({"tie_break": ["part_a", "part_a"]}, "tie_break"),  # a step twice
        ({"tie_break": ["vote_required", "part_a"]}, "tie_break"),  # the vote comes last
        ({"tie_break": ["total"]}, "tie_break"),  # the total is not a tie-break
        ({"tie_break": "part_a"}, "tie_break"),
        ({"flag_requires": []}, "flag_requires"),  # at least one condition
        ({"flag_requires": ["first", "first"]}, "flag_requires"),
        ({"flag_requires": ["floor"]}, "flag_requires"),  # the floor rule always holds
        ({"flag_requires": {"first": True}}, "flag_requires"),
        ([], "(rules)"),
        (None, "(rules)"),
    ],
)
def test_each_kind_of_fault_is_refused_by_name(given: Any, named: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        YearRules.from_json(given)
    assert refused.value.code == "INVALID_RULES"
    assert named in refused.value.message


@pytest.mark.parametrize(
    "made",
    [
        lambda: YearRules(score_step=Decimal(0)),
        lambda: YearRules(score_step=Decimal("NaN")),
        lambda: YearRules(score_step=cast(Decimal, 0.25)),
        lambda: YearRules(floor_deduction=Decimal("-5")),
        lambda: YearRules(quorum=Fraction(0)),
        lambda: YearRules(vote_threshold=Fraction(1)),
        lambda: YearRules(certificate_share=Fraction(101, 100)),
        lambda: YearRules(floor_a1_share=Fraction(1, 10**101)),
        lambda: YearRules(flag_quota=True),
        lambda: YearRules(flag_quota=-1),
        lambda: YearRules(vote_base=cast(VoteBase, "present")),
        lambda: YearRules(tie_break=(TieBreak.PART_A, TieBreak.PART_A)),
        lambda: YearRules(tie_break=cast(tuple[TieBreak, ...], ["part_a"])),
        lambda: YearRules(tie_break=cast(tuple[TieBreak, ...], ("part_a",))),
        lambda: YearRules(flag_requires=frozenset()),
        lambda: YearRules(flag_requires=cast(frozenset[FlagCondition], {FlagCondition.FIRST})),
        lambda: YearRules(flag_requires=cast(frozenset[FlagCondition], frozenset({"first"}))),
        lambda: Deadlines(self_scores=(2, 29)),
        lambda: Deadlines(self_scores=(2, 30)),
        lambda: Deadlines(self_scores=cast(tuple[int, int], (12, 10, 1))),
        lambda: Deadlines(self_scores=cast(tuple[int, int], [12, 10])),
    ],
)
def test_rules_check_themselves_when_made(made: Any) -> None:
    with pytest.raises(RuleViolation) as refused:
        made()
    assert refused.value.code == "INVALID_RULES"


def test_rules_recorded_before_the_checks_leave_the_earlier_rules() -> None:
    """A year whose log holds rules these checks refuse still loads: those rules could
    not be used, so the ones in force before stay, and new rules can be set."""
    half = YearRules(score_step=Decimal("0.5"))
    year = ClusterYear.open(
        YEAR, [Membership(u, u, date(YEAR, 1, 1)) for u in UNITS], "u1", [], half
    )
    unchecked = {**DEFAULTS_AS_STORED, "floor_deduction": "NaN", "score_step": "0"}
    year._rules_set(rules=unchecked)  # as a version without the checks recorded it
    year.set_rules(YearRules(flag_quota=2))
    events = year.collect_events()
    assert events[1].rules == unchecked  # type: ignore[attr-defined]

    replayed: Any = None
    for e in events[:2]:
        replayed = e.mutate(replayed)
    assert replayed.rules == half
    replayed = events[2].mutate(replayed)
    assert replayed.rules == YearRules(flag_quota=2)

    member = Membership("u1", "u1", date(YEAR, 1, 1)).to_json()
    opened = ClusterYear(  # as a version without the checks recorded it
        year=YEAR, members=[member], leader="u1", deputies=[], rules=unchecked, former_leaders=[]
    )
    assert opened.rules == YearRules()
    assert cast(ClusterYear, opened.collect_events()[0].mutate(None)).rules == YearRules()


# Against the real store ----------------------------------------------------------------------


@dataclass
class World:
    store: EventStore
    projector: Projector
    service: Emulation
    clock: Calendar
    template: str

    async def new_year(self) -> str:
        tenant = f"cum-r-{uuid.uuid4().hex[:10]}"
        await self.store.create_tenant(tenant, "Cụm thi đua thử quy định")
        self.clock.on(date(YEAR, 1, 1))
        await open_year(self.service, tenant, self.template)
        return tenant

    async def healthy(self, tenant: str) -> None:
        """What `thidua projections status` prints for the cluster: no lag, no rebuild due."""
        progress = [p for p in await self.projector.progress() if p.tenant == tenant]
        assert {p.projection for p in progress} == set(self.projector.projections)
        for p in progress:
            assert (p.lag, p.needs_rebuild, p.version) == (0, False, p.current_version), p

    async def self_total(self, tenant: str, unit: str) -> tuple[Decimal, date]:
        async with self.store.transaction(tenant) as conn:
            rows = await reads.standings(conn, tenant, YEAR)
        assert {r.unit for r in rows if r.layer == "self"} == set(UNITS)
        (row,) = [r for r in rows if r.layer == "self" and r.unit == unit]
        return row.total, row.on_day


@pytest.fixture(scope="module")
async def world(dsn: str) -> AsyncIterator[World]:
    """A store whose appends project inline, as the product runs, and the city's template."""
    store = await EventStore.open(dsn, max_size=5)
    projector = Projector(store)
    projector.attach()
    clock = Calendar(datetime(YEAR, 1, 1, 2, tzinfo=UTC))
    service = Emulation(store, clock)
    template = f"mau-quy-dinh-{uuid.uuid4().hex[:8]}"
    await service.handle(sent(CITY_LOG, CITY), c.PublishTemplate(template, CITY_CRITERIA))
    yield World(store, projector, service, clock, template)
    await store.close()


SCORABLE = sorted(CITY_CRITERIA.scorable().items())
STORE = settings(
    max_examples=int(EXPLORE or 40),
    derandomize=EXPLORE is None,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def some_rules_given(draw: st.DrawFn) -> dict[str, Any]:
    """Stored rules with some keys left out (they keep their defaults)."""
    data = draw(year_rules).to_json()
    kept = draw(st.sets(st.sampled_from(KEYS)))
    return {key: value for key, value in data.items() if key in kept}


@STORE
@given(
    given=st.one_of(
        year_rules.map(YearRules.to_json),
        some_rules_given(),
        one_rule_changed().map(lambda p: p[0]),
    ),
    data=st.data(),
)
async def test_any_rules_accepted_keep_every_projection_healthy(
    world: World, given: dict[str, Any], data: st.DataObject
) -> None:
    rules = read(given)
    event("refused" if isinstance(rules, RuleViolation) else "accepted")
    if isinstance(rules, RuleViolation):
        return  # refused before anything reaches the year
    tenant = await world.new_year()
    await set_rules(world.service, tenant, rules)

    deadline = rules.deadlines.self_scores_on(YEAR)
    day = data.draw(st.dates(date(YEAR, 1, 1), deadline), label="day")
    code, criterion = data.draw(st.sampled_from(SCORABLE), label="criterion")
    most = criterion.max_points if criterion.max_points is not None else Decimal(30)
    steps = data.draw(st.integers(0, math.floor(most / rules.score_step)), label="steps")
    points = rules.score_step * steps
    world.clock.on(day)
    await self_score(world.service, tenant, "u2", code, points)

    await world.healthy(tenant)
    total, on_day = await world.self_total(tenant, "u2")
    assert on_day == day
    if criterion.kind is Kind.DEDUCTION:
        assert total == -points
    elif criterion.kind is Kind.BONUS:
        assert total == min(points, CITY_CRITERIA.bonus_cap)
    else:
        assert total == points


async def test_rules_recorded_before_the_checks_do_not_stop_the_year(world: World) -> None:
    """The finding's log: rules with a NaN floor once stopped the standings. Recorded
    before the checks, they now leave the earlier rules in force and every projection
    moving; new rules can be set after them."""
    tenant = await world.new_year()
    codec, stream = EventCodec(), f"year/{YEAR}"
    year: Any = None
    for record in await world.store.read_stream(tenant, stream):
        year = cast(Any, codec.decode(record)).mutate(year)
    year._rules_set(rules={**DEFAULTS_AS_STORED, "floor_deduction": "NaN"})
    await world.store.append(
        tenant,
        stream,
        year.version - 1,
        [codec.encode(e) for e in year.collect_events()],
        Metadata(
            actor="Cán bộ thường trực",
            role=Role.SECRETARIAT.value,
            unit="u1",
            occurred_at=world.clock(),  # as the service recorded every event, then as now
        ),
    )
    world.clock.on(date(YEAR, 3, 2))
    await self_score(world.service, tenant, "u2", "F2", Decimal(5))
    await world.healthy(tenant)
    assert await world.self_total(tenant, "u2") == (Decimal(-5), date(YEAR, 3, 2))

    await set_rules(world.service, tenant, YearRules(score_step=Decimal("0.5")))
    await self_score(world.service, tenant, "u2", "A1", Decimal("20.5"))
    await world.healthy(tenant)
    assert (await world.self_total(tenant, "u2"))[0] == Decimal("15.5")
