"""The command table: each command has a handler, a mutation and a right some role holds;
each is checked when it is made; a caller with several roles acts in any that may."""

import dataclasses
import unicodedata
from datetime import date
from decimal import Decimal

import graphql
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thidua.api.auth import possible_year
from thidua.api.schema import build_schema
from thidua.domain import commands as c
from thidua.domain.errors import Forbidden, InvalidInput
from thidua.domain.rights import Action, Actor, Caller, Role, YearContext, authorise, may
from thidua.service.handlers import HANDLERS


def every_command(cls: type[c.Command] = c.Command) -> set[type[c.Command]]:
    """Every concrete command class (Score is the shape the four scoring commands share)."""
    found: set[type[c.Command]] = set()
    for sub in cls.__subclasses__():
        found |= every_command(sub)
        if sub is not c.Score:
            found.add(sub)
    return found


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


SCHEMA = graphql.build_schema(str(build_schema()))


def test_every_command_is_in_the_table_with_a_handler() -> None:
    assert every_command() == set(c.COMMANDS)
    assert set(HANDLERS) == set(c.COMMANDS)


def test_the_schemas_mutations_are_the_commands() -> None:
    assert SCHEMA.mutation_type is not None
    mutations = SCHEMA.mutation_type.fields
    assert set(mutations) == {cls.command_name() for cls in c.COMMANDS}
    for cls in c.COMMANDS:
        field = mutations[cls.command_name()]
        assert set(field.args) == {"input", "options"}, cls
        given_type = graphql.get_named_type(field.args["input"].type)
        assert given_type.name == f"{cls.__name__}Input"
        assert isinstance(given_type, graphql.GraphQLInputObjectType)
        names = {camel(f.name) for f in dataclasses.fields(cls)}
        assert set(given_type.fields) == names, cls


@pytest.mark.parametrize("cls", c.COMMANDS, ids=lambda cls: cls.command_name())
def test_some_role_holds_each_commands_right(cls: type[c.Command]) -> None:
    year = possible_year("u1", "u2")
    holders = [
        role
        for role in Role
        for unit in ("u1", None)
        for target in ("u1", "u2", None)  # its own unit, the one it inspects, none
        if may(Actor("x", role, unit), cls.action, year, target)
    ]
    assert holders, cls


def test_a_caller_with_several_roles_acts_in_any_that_may() -> None:
    """The secretariat's unit does not lead this year but inspects u3: it verifies u3 as
    the inspector; verifying u1 it is refused in the words that say the most, whatever
    the order of its roles, and the refusal names the role it speaks for."""
    year = YearContext(
        leader="u1",
        members=frozenset({"u1", "u2", "u3"}),
        inspected_by=frozenset({("u2", "u3")}),
    )
    caller = Caller("Chị Lan", (Role.SECRETARIAT, Role.CROSS_INSPECTOR), "u2")
    assert authorise(caller, Action.VERIFY_SCORE, year, "u3").role is Role.CROSS_INSPECTOR
    for roles in (
        (Role.SECRETARIAT, Role.CROSS_INSPECTOR),
        (Role.CROSS_INSPECTOR, Role.SECRETARIAT),
    ):
        with pytest.raises(Forbidden) as refused:
            authorise(Caller("Chị Lan", roles, "u2"), Action.VERIFY_SCORE, year, "u1")
        assert (refused.value.code, refused.value.role) == (
            "NOT_ASSIGNED_INSPECTOR",
            "cross_inspector",
        )
    with pytest.raises(Forbidden) as refused:
        authorise(caller, Action.MANAGE_YEAR, year)
    assert refused.value.code == "NOT_THE_LEADER"
    head = Caller("Anh Minh", (Role.MEMBER_OFFICER, Role.MEMBER_HEAD), "u2")
    assert authorise(head, Action.SUBMIT_SELF_ASSESSMENT, year, "u2").role is Role.MEMBER_HEAD
    assert authorise(head, Action.SELF_SCORE, year, "u2").role is Role.MEMBER_OFFICER
    with pytest.raises(Forbidden) as refused:
        authorise(Caller("Không ai", ()), Action.READ_PUBLISHED, year)
    assert refused.value.code == "NO_ROLE"


def score(**changes: object) -> c.SelfScore:
    fields: dict[str, object] = {
        "year": 2025,
        "unit": "dv-1",
        "criterion": "A1",
        "points": Decimal("12.5"),
        "explanation": "Hoàn thành",
        "evidence": ("Báo cáo số 12",),
    }
    return c.SelfScore(**(fields | changes))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"unit": "dv-1\n"}, "BAD_CODE"),
        ({"explanation": "dòng\x07"}, "BAD_CHARACTER"),
        ({"unit": ""}, "BAD_CODE"),
        ({"criterion": "A 1"}, "BAD_CODE"),
        ({"explanation": "x" * 5_001}, "TOO_LONG"),
        ({"explanation": "có\ud800"}, "BAD_CHARACTER"),
        ({"explanation": "NUL\x00"}, "BAD_CHARACTER"),
        ({"evidence": ("a",) * 51}, "TOO_MANY"),
        ({"points": Decimal("NaN")}, "OUT_OF_RANGE"),
        ({"points": Decimal("1E+999999")}, "OUT_OF_RANGE"),
        ({"points": Decimal("1.125")}, "TOO_PRECISE"),
        ({"year": 1999}, "OUT_OF_RANGE"),
        ({"year": True}, "BAD_VALUE"),
        ({"unit": None}, "MISSING_VALUE"),
    ],
)
def test_a_command_refuses_what_it_cannot_be(changes: dict[str, object], code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        score(**changes)
    assert refused.value.code == code


def test_a_command_keeps_text_in_nfc_and_lists_as_tuples() -> None:
    decomposed = unicodedata.normalize("NFD", "Hoàn thành xuất sắc")
    made = score(explanation=decomposed, evidence=["Báo cáo"])
    assert made.explanation == unicodedata.normalize("NFC", decomposed)
    assert made.evidence == ("Báo cáo",)
    assert made.target() == {
        "year": "2025",
        "unit": "dv-1",
        "criterion": "A1",
        "points": "12.5",
        "layer": "self",
    }


@settings(max_examples=300, deadline=None)
@given(text=st.text(), unit=st.text(max_size=70), points=st.decimals())
def test_any_value_makes_a_clean_command_or_a_coded_refusal(
    text: str, unit: str, points: Decimal
) -> None:
    try:
        made = score(explanation=text, unit=unit, points=points)
    except InvalidInput as refused:
        codes = {"BAD_CHARACTER", "TOO_LONG", "BAD_CODE", "OUT_OF_RANGE", "TOO_PRECISE"}
        assert refused.code in codes  # noqa: PT017 - each generated value, not one raise
        return
    assert unicodedata.is_normalized("NFC", made.explanation)
    assert all(unicodedata.category(ch) not in ("Cs", "Co", "Cn") for ch in made.explanation)
    assert made.unit.isascii()
    assert made.points.is_finite()


def test_reopening_needs_a_reason_and_dates_stay_in_range() -> None:
    with pytest.raises(InvalidInput) as refused:
        c.Reopen(2025, "   ")
    assert refused.value.code == "REASON_REQUIRED"
    with pytest.raises(InvalidInput) as refused:
        c.JoinMember(2025, "dv-9", "Sở mới", date(1900, 1, 1))
    assert refused.value.code == "OUT_OF_RANGE"
