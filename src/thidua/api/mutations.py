"""Mutations, made from the command table: one per command of the domain, named after it.

Each takes the command's fields as one input (`SelfScoreInput` for `SelfScore`, built from
the dataclass's own fields) and the shared `CommandOptions` (idempotency key, expected
version, reason). The input becomes the command value, which checks itself; the service's
pipeline does the rest. A refusal is an error with a stable `extensions.code`.
"""

import dataclasses
import types as pytypes
import typing
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from thidua.api.access import caller_of, cluster_of, context, covered
from thidua.api.context import Context
from thidua.api.queries import Year, _year
from thidua.domain.checks import Field, checked_text, hints_of
from thidua.domain.commands import COMMANDS, Command
from thidua.domain.criteria import Kind
from thidua.domain.errors import InvalidInput, NotFound, RuleViolation
from thidua.domain.pledge import TopicKind
from thidua.domain.rules import YearRules
from thidua.service.envelope import Envelope
from thidua.service.handlers import CITY_LOG

REASON = Field("text", 5_000)

strawberry.enum(TopicKind, name="TopicKind", description="Chuyên đề thi đua hoặc mô hình mới")
strawberry.enum(Kind, name="CriterionKind", description="Tiêu chí cơ bản, điểm thưởng, điểm trừ")


@strawberry.type(description="Nơi các sự kiện của lệnh được ghi, và năm thi đua sau lệnh")
class CommandResult:
    cluster: str
    year_number: strawberry.Private[int | None]
    stream_id: str
    version: int = strawberry.field(description="Phiên bản mới: expectedVersion của lần sau")
    positions: list[int]

    @strawberry.field
    async def year(self, info: strawberry.Info) -> Year | None:
        if self.year_number is None:
            return None
        ctx = context(info)
        ctx.loaders.pop("year", None)  # the year as it stands after this command
        try:
            found = await _year(ctx, self.cluster, self.year_number)
        except NotFound:
            return None
        return Year(cluster=self.cluster, aggregate=found, today=ctx.services.emulation.today())


@strawberry.input(description="Tuỳ chọn chung của mọi lệnh")
class CommandOptions:
    idempotency_key: str | None = strawberry.field(
        default=None, description="Khoá chống ghi trùng khi gửi lại cùng một lệnh"
    )
    expected_version: int | None = strawberry.field(
        default=None, description="Phiên bản mong đợi của đối tượng lệnh thay đổi"
    )
    reason: str | None = strawberry.field(default=None, description="Lý do, ghi vào nhật ký")

    def envelope(self, cluster: str, ctx: Context) -> Envelope:
        """The options in the envelope (the store checks the key, whose index it owns)."""
        return Envelope(
            cluster,
            caller_of(ctx),
            reason=None if self.reason is None else checked_text(self.reason, REASON, "reason"),
            idempotency_key=self.idempotency_key,
            expected_version=self.expected_version,
            request_id=ctx.request_id,
        )


# From the command's field types to the input's, and from the input back to the command.


def _parts(hint: Any) -> tuple[Any, bool]:
    """The type under Annotated and Optional, and whether None is allowed."""
    if typing.get_origin(hint) is Annotated:
        return _parts(typing.get_args(hint)[0])
    if typing.get_origin(hint) in (typing.Union, pytypes.UnionType):
        (rest,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return _parts(rest)[0], True
    return hint, False


def _graphql(hint: Any) -> Any:
    found, optional = _parts(hint)
    if typing.get_origin(found) is tuple:
        found = list[_graphql(typing.get_args(found)[0])]  # type: ignore[misc]
    elif found is YearRules:
        found = JSON
    elif dataclasses.is_dataclass(found):
        found = input_of(found)  # type: ignore[arg-type]
    return found | None if optional else found


def _value(hint: Any, given: Any) -> Any:
    found, _ = _parts(hint)
    if given is None:
        return None
    if typing.get_origin(found) is tuple:
        return tuple(_value(typing.get_args(found)[0], v) for v in given)
    if found is YearRules:
        return _rules(given)
    if dataclasses.is_dataclass(found):
        hints = hints_of(typing.cast(type[Any], found))
        fields = {f.name: _value(hints[f.name], getattr(given, f.name)) for f in _fields(found)}
        return typing.cast(Any, found)(**fields)
    return given


def _rules(given: Any) -> YearRules:
    """Rules as sent: malformed ones are bad input, refused before anything is read."""
    if not isinstance(given, dict):
        raise InvalidInput("INVALID_RULES", "Quy định của năm (rules) phải là một đối tượng JSON.")
    try:
        return YearRules.from_json(given)
    except RuleViolation as refused:
        raise InvalidInput(refused.code, refused.message) from refused


def _described(cls: type[Any]) -> str | None:
    """The first line of a class's own docstring (not the one dataclasses makes)."""
    doc = (cls.__dict__.get("__doc__") or "").strip().split("\n")[0]
    return None if not doc or doc.startswith(cls.__name__ + "(") else doc


def _fields(cls: Any) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if f.init]


_INPUTS: dict[type[Any], type[Any]] = {}


def input_of(cls: type[Any]) -> type[Any]:
    """The GraphQL input of a command or of one of its parts, from its dataclass fields
    (made once: GraphQL knows each input by its name)."""
    if cls not in _INPUTS:
        _INPUTS[cls] = _input(cls)
    return _INPUTS[cls]


def _input(cls: type[Any]) -> type[Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    namespace: dict[str, Any] = {"__annotations__": {}}
    for f in _fields(cls):
        namespace["__annotations__"][f.name] = _graphql(hints[f.name])
        default = f.default
        if default is dataclasses.MISSING and _parts(hints[f.name])[1]:
            default = None  # a value that may be null may be left out
        if default is not dataclasses.MISSING:
            given = list(default) if isinstance(default, tuple) else default
            namespace[f.name] = strawberry.field(default_factory=lambda d=given: d)
    made = type(f"{cls.__name__.removesuffix('Given')}Input", (), namespace)
    return strawberry.input(made, description=_described(cls))


async def run(
    info: strawberry.Info, command: Command, options: CommandOptions | None
) -> CommandResult:
    ctx = context(info)
    cluster = CITY_LOG if command.rights_year == "none" else cluster_of(ctx)
    await covered(ctx, cluster, command.command_name())
    envelope = (options or CommandOptions()).envelope(cluster, ctx)
    done = await ctx.services.emulation.handle(envelope, command)
    ctx.committed(cluster, done.positions)
    return CommandResult(
        cluster=getattr(command, "code", cluster),
        year_number=getattr(command, "year", None),
        stream_id=done.stream_id,
        version=done.version,
        positions=list(done.positions),
    )


def mutation_of(cls: type[Command]) -> Any:
    """The mutation of one command: its input in, the command value to the pipeline."""
    given = input_of(cls)

    async def resolve(
        info: strawberry.Info,
        input: given,  # type: ignore[valid-type]
        options: CommandOptions | None = None,
    ) -> CommandResult:
        hints = hints_of(cls)
        fields = {f.name: _value(hints[f.name], getattr(input, f.name)) for f in _fields(cls)}
        return await run(info, cls(**fields), options)

    return strawberry.mutation(
        resolver=resolve, name=cls.command_name(), description=_described(cls)
    )


Mutation = strawberry.type(
    type("Mutation", (), {cls.command_name(): mutation_of(cls) for cls in COMMANDS}),
    description="Mỗi lệnh của năm thi đua là một mutation cùng tên",
)
