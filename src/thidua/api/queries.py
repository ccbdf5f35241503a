"""Queries: clusters, their years (members, criteria, pledge, meetings, proposals),
scorecards, standings now or as of a time or position, and the audit trail as a Relay
connection. Every field asks `allowed` first; scorecards batch through a DataLoader."""

import asyncio
import base64
import typing
from datetime import date, datetime
from typing import Any, Literal

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from thidua.api import ledger, types
from thidua.api.access import allowed, cluster_of, context, covered
from thidua.api.auth import permits
from thidua.api.context import Context
from thidua.api.errors import BadInput
from thidua.api.tokens import ALL_CLUSTERS
from thidua.domain.cluster_year import ClusterYear
from thidua.domain.drafts import Reader
from thidua.domain.errors import Forbidden, NotFound
from thidua.domain.results import YearResult as DomainYearResult
from thidua.domain.rights import Action, YearContext
from thidua.domain.standings import Standing as StandingRow
from thidua.projections.reads import AuditFilter

PAGE_CAP = 100


async def _year(ctx: Context, cluster: str, year: int) -> ClusterYear:
    """A cluster-year, loaded once per request."""

    async def load(keys: list[tuple[str, int]]) -> list[ClusterYear | NotFound]:
        found: list[ClusterYear | NotFound] = []
        for t, y in keys:
            try:
                found.append(await ctx.services.emulation.year(t, y))
            except NotFound as missing:
                found.append(missing)
        return found

    # Shielded: a field cancelled beside an error must not cancel its siblings' shared load.
    loading = ctx.loader("year", lambda: DataLoader(load)).load((cluster, year))
    loaded: ClusterYear = await asyncio.shield(loading)
    return loaded


CardKey = tuple[str, int, str, int | None]  # cluster, year, unit, position (None: now)


def _grouped(keys: list[CardKey]) -> dict[tuple[str, int, int | None], list[str]]:
    groups: dict[tuple[str, int, int | None], list[str]] = {}
    for cluster, year, unit, position in keys:
        groups.setdefault((cluster, year, position), []).append(unit)
    return groups


def _scorecards(ctx: Context) -> DataLoader[CardKey, "Scorecard"]:
    """Every scorecard a response asks for, read in two statements per cluster-year."""

    async def load(keys: list[CardKey]) -> list[Scorecard]:
        found: dict[CardKey, Scorecard] = {}
        for (cluster, year, position), units in _grouped(keys).items():
            cards = await ctx.services.reads.scorecards(cluster, year, units, position)
            for card in cards:
                fields = vars(types.Scorecard.of(card))
                found[(cluster, year, card.unit, position)] = Scorecard(
                    **fields, cluster=cluster, position=position
                )
        return [found[k] for k in keys]

    loader: DataLoader[Any, Scorecard] = ctx.loader("scorecards", lambda: DataLoader(load))
    return loader


def _findings(ctx: Context) -> DataLoader[CardKey, list[types.Finding]]:
    """Every scorecard's findings a response asks for, one transaction per cluster-year."""

    async def load(keys: list[CardKey]) -> list[list[types.Finding]]:
        found: dict[CardKey, list[types.Finding]] = {}
        for (cluster, year, position), units in _grouped(keys).items():
            cards = await ctx.services.reads.findings(cluster, year, units, position)
            for unit, findings in zip(units, cards, strict=True):
                found[(cluster, year, unit, position)] = [types.Finding.of(f) for f in findings]
        return [found[k] for k in keys]

    loader: DataLoader[Any, list[types.Finding]] = ctx.loader("findings", lambda: DataLoader(load))
    return loader


@strawberry.type(description="Phiếu chấm điểm của một đơn vị, mọi lớp điểm")
class Scorecard(types.Scorecard):
    cluster: strawberry.Private[str]
    position: strawberry.Private[int | None]

    @strawberry.field(
        description="Kết quả kiểm tra từng tiêu chí (điểm thẩm định), giải trình của đơn vị và "
        "quyết định của cơ quan thường trực, tại cùng thời điểm"
    )
    async def findings(self, info: strawberry.Info) -> list[types.Finding]:
        key = (self.cluster, self.year, self.unit, self.position)
        return await asyncio.shield(_findings(context(info)).load(key))


@strawberry.input(description="Lọc lịch sử thay đổi")
class AuditFilterInput:
    unit: str | None = None
    criterion: str | None = None
    actor: str | None = None
    subject: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@strawberry.type
class AuditEdge:
    cursor: str
    node: types.AuditEntry


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="Lịch sử thay đổi theo thứ tự ghi nhật ký (Relay connection)")
class AuditConnection:
    edges: list[AuditEdge]
    page_info: PageInfo


def connection(rows: list[dict[str, Any]], first: int, after_position: int) -> AuditConnection:
    """A page of `first` rows (one more was read, to tell whether another page follows)."""
    edges = [
        AuditEdge(cursor=cursor(r["position"]), node=types.AuditEntry.of(r)) for r in rows[:first]
    ]
    return AuditConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first,
            has_previous_page=after_position > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


def check_page(first: int) -> None:
    if not 0 < first <= PAGE_CAP:
        raise BadInput(f"Mỗi trang lấy từ 1 đến {PAGE_CAP} dòng (first).")


def cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"audit:{position}".encode()).decode()


BIGINT_MAX = 2**63 - 1  # a log position is a PostgreSQL bigint


def position_of(after: str | None) -> int:
    """The log position a cursor stands for: one `cursor` gave, or nothing else."""
    if after is None:
        return 0
    try:
        kind, position = base64.urlsafe_b64decode(after.encode()).decode().split(":")
        if kind != "audit" or not position.isdigit() or not position.isascii():
            raise ValueError(after)  # digits only: no sign, space, "_" or other scripts
        found = int(position)
        if found > BIGINT_MAX:
            raise ValueError(after)
        return found
    except ValueError as exc:  # UnicodeError and binascii.Error are ValueErrors
        raise BadInput("Con trỏ phân trang (after) không hợp lệ.") from exc


@strawberry.type(description="Thứ hạng của một đơn vị, kèm phiếu chấm nếu người xem có quyền")
class Standing(types.Standing):
    cluster: strawberry.Private[str]
    context: strawberry.Private[YearContext]
    position: strawberry.Private[int | None]

    @strawberry.field(description="Phiếu chấm của đơn vị tại cùng thời điểm")
    async def scorecard(self, info: strawberry.Info) -> Scorecard:
        ctx = context(info)
        await allowed(
            ctx, self.cluster, Action.READ_OWN_UNIT, self.context, self.unit, "scorecard", self.year
        )
        key = (self.cluster, self.year, self.unit, self.position)
        return await asyncio.shield(_scorecards(ctx).load(key))


def reader(ctx: Context, context: YearContext) -> Reader:
    """Whether the caller may read a unit's drafts: its own unit, the units it inspects,
    every unit for the secretariat, the city board and auditors. Every read of scores
    hands it to the service, which shapes its answer by it (`domain/drafts.py`): a unit's
    self-assessment is its draft until its head submits it."""
    viewer = ctx.caller()
    return lambda unit: permits(viewer, Action.READ_OWN_UNIT, context, unit)


def standings_of(
    rows: list[StandingRow],
    cluster: str,
    context: YearContext,
    position: int | None,
    layer: types.Layer | None,
) -> list[Standing]:
    """The rows asked for, of standings already shaped for the caller (`reader`)."""
    return [
        Standing(**vars(types.Standing.of(r)), cluster=cluster, context=context, position=position)
        for r in rows
        if layer is None or r.layer == layer.value
    ]


@strawberry.type(description="Một năm thi đua của cụm")
class Year:
    cluster: strawberry.Private[str]
    aggregate: strawberry.Private[ClusterYear]
    today: strawberry.Private[date]

    @strawberry.field
    def year(self) -> int:
        return self.aggregate.year

    @strawberry.field(description="Phiên bản của năm, dùng làm expectedVersion")
    def version(self) -> int:
        return self.aggregate.version

    @strawberry.field
    def status(self) -> str:
        return self.aggregate.status.value

    @strawberry.field(description="Cụm trưởng hôm nay (luân phiên có hiệu lực từ ngày của nó)")
    def leader(self) -> str:
        return self.aggregate.leadership_on(self.today)[0]

    @strawberry.field
    def deputies(self) -> list[str]:
        return list(self.aggregate.leadership_on(self.today)[1])

    @strawberry.field
    def former_leaders(self) -> list[str]:
        return sorted(self.aggregate.context(self.today).former_leaders)

    @strawberry.field(description="Thành viên; với `on`, chỉ những đơn vị là thành viên ngày đó")
    def members(self, on: date | None = None) -> list[types.Member]:
        current = self.aggregate.members_on(on) if on else None
        return [
            types.Member.of(m)
            for unit, m in sorted(self.aggregate.members.items())
            if current is None or unit in current
        ]

    @strawberry.field
    def rules(self) -> JSON:
        return JSON(self.aggregate.rules.to_json())

    @strawberry.field
    def criteria_versions(self) -> list[types.CriteriaVersion]:
        return [types.CriteriaVersion.of(c) for c in self.aggregate.criteria]

    @strawberry.field
    def inspections(self) -> list[types.Inspection]:
        return [
            types.Inspection(inspection_id=i, inspector=v["inspector"], units=list(v["units"]))
            for i, v in sorted(self.aggregate.inspections.items())
        ]

    @strawberry.field(description="Cuộc họp, điểm danh và kết quả bỏ phiếu (chỉ số phiếu)")
    def meetings(self) -> list[types.Meeting]:
        return types.meetings(self.aggregate)

    @strawberry.field(
        description="Đề nghị khen thưởng, ngày gửi thành phố, quyết định và việc thu hồi"
    )
    def proposals(self) -> list[types.Proposal]:
        return types.proposals(self.aggregate)

    @strawberry.field(description="Các lần gửi kết quả và hồ sơ về thành phố, theo thứ tự")
    def sendings(self) -> list[types.Sending]:
        return [types.Sending.of(s) for s in self.aggregate.sendings]

    @strawberry.field(description="Lần gửi kết quả về thành phố gần nhất")
    def sending(self) -> types.Sending | None:
        found = self.aggregate.sendings
        return types.Sending.of(found[-1]) if found else None

    @strawberry.field(description="Các lần mở lại kết quả đã chốt, với lý do")
    def reopenings(self) -> list[types.Reopening]:
        return [
            types.Reopening(reason=r["reason"], result_version=r["result_version"])
            for r in self.aggregate.reopenings
        ]

    @strawberry.field(
        description="Thay đổi giữa hai phiên bản kết quả đã chốt: đơn vị đổi tổng điểm hoặc "
        "thứ hạng, lý do mở lại, và các điểm đã ghi giữa hai lần chốt (cơ quan thường trực, "
        "Ban TĐKT thành phố, kiểm toán viên)"
    )
    async def result_diff(
        self,
        info: strawberry.Info,
        from_: typing.Annotated[int, strawberry.argument(name="from")],
        to: int,
    ) -> "ResultDiff":
        ctx = context(info)
        year = self.aggregate.context(self.today)
        await allowed(ctx, self.cluster, Action.READ_YEAR, year, what="resultDiff")
        found = self.aggregate.diff(from_, to)
        return ResultDiff(
            **types.diff_fields(found),
            cluster=self.cluster,
            year=self.aggregate.year,
            units=found.changed_units(),
        )

    async def _published(
        self,
        info: strawberry.Info,
        kind: Literal["mid_year", "final"],
        version: int,
        recorded: DomainYearResult,
    ) -> DomainYearResult:
        """A recorded result as the caller may see it (`reader`)."""
        ctx = context(info)
        shown = reader(ctx, self.aggregate.context(self.today))
        year = self.aggregate.year
        return await ctx.services.reads.result(self.cluster, year, kind, version, recorded, shown)

    @strawberry.field(
        description="Kết quả sơ kết giữa năm; bản tự chấm chưa nộp lúc sơ kết chỉ hiện với "
        "người được đọc bản nháp của đơn vị"
    )
    async def mid_year_review(self, info: strawberry.Info) -> types.YearResult | None:
        review = self.aggregate.mid_year_review
        if review is None:
            return None
        return types.YearResult.of(await self._published(info, "mid_year", 1, review))

    @strawberry.field(description="Các phiên bản kết quả đã chốt, theo số phiên bản")
    async def results(self, info: strawberry.Info) -> list[types.ResultVersion]:
        found = sorted(self.aggregate.results.items())
        return [
            types.ResultVersion.of_version(
                version, await self._published(info, "final", version, result)
            )
            for version, result in found
        ]

    @strawberry.field(
        description="Một phiên bản kết quả đã chốt; không nêu `version`: phiên bản mới nhất"
    )
    async def result(
        self, info: strawberry.Info, version: int | None = None
    ) -> types.ResultVersion | None:
        kept = self.aggregate.results
        number = max(kept, default=0) if version is None else version
        found = kept.get(number)
        if found is None:
            return None
        shown = await self._published(info, "final", number, found)
        return types.ResultVersion.of_version(number, shown)

    @strawberry.field
    async def pledge(self, info: strawberry.Info) -> types.PledgeView | None:
        try:
            found = await context(info).services.emulation.pledge(self.cluster, self.aggregate.year)
        except NotFound:
            return None
        return types.PledgeView.of(found)

    @strawberry.field(
        description="Bảng xếp hạng hiện tại; `asOf`: như hồ sơ được ghi đến thời điểm đó; "
        "`atPosition`: tại một vị trí của nhật ký; `onDay`: theo những việc đã xảy ra đến hết "
        "ngày đó, dù được ghi lúc nào. Bản tự chấm chưa nộp chỉ hiện và chỉ được tính với "
        "người được đọc bản nháp của đơn vị"
    )
    async def standings(
        self,
        info: strawberry.Info,
        layer: types.Layer | None = None,
        as_of: datetime | None = None,
        at_position: int | None = None,
        on_day: date | None = None,
    ) -> list[Standing]:
        ctx = context(info)
        if sum(x is not None for x in (as_of, at_position, on_day)) > 1:
            raise BadInput("Chỉ nêu một trong ba: asOf, atPosition hoặc onDay.")
        position, year = at_position, self.aggregate.year
        now = self.aggregate.context(self.today)
        shown, reads = reader(ctx, now), ctx.services.reads
        if as_of is not None:
            position, rows = await reads.standings_as_of(self.cluster, year, as_of, shown)
        elif on_day is not None:
            rows = await reads.standings_on_day(self.cluster, year, on_day, shown)
        elif position is None:
            rows = await reads.standings(self.cluster, year, shown)
        else:
            rows = await reads.standings_at(self.cluster, year, position, shown)
        return standings_of(rows, self.cluster, now, position, layer)

    @strawberry.field(description="Phiếu chấm của một đơn vị, hiện tại hoặc tại một vị trí")
    async def scorecard(
        self, info: strawberry.Info, unit: str, at_position: int | None = None
    ) -> Scorecard:
        ctx = context(info)
        year = self.aggregate.context(self.today)
        number = self.aggregate.year
        await allowed(ctx, self.cluster, Action.READ_OWN_UNIT, year, unit, "scorecard", number)
        key = (self.cluster, self.aggregate.year, unit, at_position)
        return await asyncio.shield(_scorecards(ctx).load(key))


@strawberry.type(description="Thay đổi giữa hai phiên bản kết quả đã chốt")
class ResultDiff:
    cluster: strawberry.Private[str]
    year: strawberry.Private[int]
    units: strawberry.Private[list[str]]
    from_version: int
    to_version: int
    reopenings: list[types.Reopening] = strawberry.field(
        description="Các lần mở lại giữa hai phiên bản, với lý do"
    )
    layers: list[types.LayerDiff]

    @strawberry.field(description="Một lớp điểm (lớp xếp hạng là CITY)")
    def layer(self, layer: types.Layer) -> types.LayerDiff:
        return next(found for found in self.layers if found.layer == layer)

    @strawberry.field(
        description="Các điểm đã ghi giữa hai lần chốt, của các đơn vị có tổng điểm thay đổi, "
        "theo thứ tự nhật ký"
    )
    async def events(
        self, info: strawberry.Info, first: int = 50, after: str | None = None
    ) -> AuditConnection:
        ctx = context(info)
        check_page(first)
        positions = await ctx.services.reads.finalised_positions(self.cluster, self.year)
        ends = [positions.get(self.from_version), positions.get(self.to_version)]
        if None in ends or not self.units:  # a projection behind, or no total moved
            return connection([], first, 0)
        low, high = sorted(typing.cast(list[int], ends))
        where = AuditFilter(
            subject="score",
            year=self.year,
            units=tuple(self.units),
            after_position=max(low, position_of(after)),
            before_position=high,
        )
        rows = await ctx.services.reads.audit_history(self.cluster, where, first + 1)
        return connection(rows, first, position_of(after))


@strawberry.type(description="Một cụm thi đua")
class Cluster:
    code: str
    name: str

    @strawberry.field(description="Vị trí cuối của nhật ký sự kiện của cụm")
    async def position(self, info: strawberry.Info) -> int:
        return await context(info).services.reads.head(self.code)

    @strawberry.field
    async def year(self, info: strawberry.Info, year: int) -> Year | None:
        ctx = context(info)
        try:
            found = await _year(ctx, self.code, year)
        except NotFound:
            return None
        today = ctx.services.emulation.today()
        await allowed(
            ctx,
            self.code,
            Action.READ_PUBLISHED,
            found.context(today),
            what="year",
            year_number=year,
        )
        return Year(cluster=self.code, aggregate=found, today=today)

    @strawberry.field(description="Ai đã thay đổi gì, khi nào, vì sao")
    async def audit_trail(
        self,
        info: strawberry.Info,
        filter: AuditFilterInput | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> AuditConnection:
        ctx = context(info)
        await allowed(ctx, self.code, Action.READ_AUDIT, None, what="auditTrail")
        check_page(first)
        given = filter or AuditFilterInput()
        where = AuditFilter(**vars(given), after_position=position_of(after))
        rows = await ctx.services.reads.audit_history(self.code, where, first + 1)
        return connection(rows, first, where.after_position)

    @strawberry.field(
        description="Điểm kiểm tra mới nhất đã ký của nhật ký cụm; ký ngay nếu nhật ký đã dài thêm"
    )
    async def checkpoint(self, info: strawberry.Info) -> ledger.Checkpoint:
        return await ledger.checkpoint(context(info), self.code)

    @strawberry.field(description="Bằng chứng sự kiện ở một vị trí nằm trong cây có treeSize lá")
    async def inclusion_proof(
        self, info: strawberry.Info, position: int, tree_size: int | None = None
    ) -> ledger.InclusionProof:
        return await ledger.inclusion(context(info), self.code, position, tree_size)

    @strawberry.field(description="Bằng chứng cây toSize lá nối tiếp cây fromSize lá")
    async def consistency_proof(
        self, info: strawberry.Info, from_size: int, to_size: int | None = None
    ) -> ledger.ConsistencyProof:
        return await ledger.consistency(context(info), self.code, from_size, to_size)


@strawberry.type(description="Người đang gọi, theo token")
class Me:
    person: str
    name: str | None
    unit: str | None
    roles: list[str]
    clusters: list[str]


async def cluster_named(ctx: Context, code: str) -> Cluster:
    await covered(ctx, code, "cluster")
    return Cluster(code=code, name=await ctx.services.reads.cluster_name(code))


@strawberry.type(description="Người gọi bị từ chối vì token không có quyền với cụm đã nêu")
class AccessRefusal:
    subject: str
    cluster: str = strawberry.field(description="Mã cụm; '?' nếu không có cụm nào mang mã đó")
    code: str
    what: str = strawberry.field(description="Thao tác bị từ chối gần nhất")
    count: int
    first_at: datetime
    last_at: datetime


@strawberry.type
class Query:
    @strawberry.field
    def me(self, info: strawberry.Info) -> Me:
        caller = context(info).caller()
        return Me(
            person=caller.person,
            name=caller.name,
            unit=caller.unit,
            roles=[r.value for r in caller.roles],
            clusters=sorted(caller.clusters),
        )

    @strawberry.field(description="Cụm của điểm truy cập, hoặc cụm được nêu tại /graphql")
    async def cluster(self, info: strawberry.Info, code: str | None = None) -> Cluster:
        ctx = context(info)
        return await cluster_named(ctx, cluster_of(ctx, code))

    @strawberry.field(
        description="Các lần bị từ chối vì token không có quyền với cụm đã nêu, trong một ngày "
        "(kiểm toán viên và Ban TĐKT có quyền với mọi cụm)"
    )
    async def access_refusals(self, info: strawberry.Info, day: date) -> list[AccessRefusal]:
        ctx = context(info)
        principal = ctx.caller()
        await covered(ctx, ALL_CLUSTERS, "accessRefusals")
        if not permits(principal, Action.READ_AUDIT, YearContext(leader=None)):
            raise Forbidden("FORBIDDEN", "Chỉ kiểm toán viên và Ban TĐKT thành phố được xem.")
        rows = await ctx.services.emulation.access_refusals(day)
        return [AccessRefusal(**row) for row in rows]

    @strawberry.field(
        description="Khóa công khai ký các điểm kiểm tra của nhật ký (định dạng C2SP signed-note)"
    )
    def log_key(self, info: strawberry.Info) -> str:
        return context(info).services.ledger.public_key

    @strawberry.field(description="Các cụm mà token của bạn có quyền")
    async def clusters(self, info: strawberry.Info) -> list[Cluster]:
        ctx = context(info)
        if ctx.cluster is not None:
            return [await cluster_named(ctx, ctx.cluster)]
        codes = set(ctx.caller().clusters)
        if ALL_CLUSTERS in codes:
            codes = await ctx.services.reads.clusters()
        return [await cluster_named(ctx, c) for c in sorted(codes)]
