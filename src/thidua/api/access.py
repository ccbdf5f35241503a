"""Reading or writing a cluster on behalf of the caller: which cluster, may they, and
where a refusal is recorded.

A caller whose token does not cover the cluster is refused before anything is read, and
counted for the deployment's auditors, never in that cluster's log (which no outsider
may grow). A covered caller refused a read is recorded in the cluster's log.
"""

from typing import Any

import strawberry

from thidua.api.auth import caller, check_cluster, possible_year
from thidua.api.context import Context
from thidua.api.errors import BadInput
from thidua.domain.errors import DomainError, Forbidden
from thidua.domain.rights import Action, Actor, Caller, YearContext, authorise
from thidua.service.envelope import Envelope


def context(info: strawberry.Info) -> Context:
    found: Context = info.context
    return found


def caller_of(ctx: Context) -> Caller:
    return caller(ctx.caller())


def cluster_of(ctx: Context, code: str | None = None) -> str:
    """The cluster an operation is about: the URL's, or the one named at /graphql."""
    if ctx.cluster is not None:
        if code is not None and code != ctx.cluster:
            raise BadInput(f"Điểm truy cập này chỉ phục vụ cụm '{ctx.cluster}'.")
        return ctx.cluster
    if code is None:
        raise BadInput(
            "Cần nêu mã cụm thi đua, hoặc dùng điểm truy cập /clusters/{mã cụm}/graphql."
        )
    return code


async def covered(ctx: Context, cluster: str, what: str) -> None:
    """The cluster check alone; a refusal is counted for the deployment's auditors."""
    principal = ctx.caller()
    try:
        check_cluster(principal, cluster)
    except Forbidden as refusal:
        await ctx.services.emulation.note_uncovered(principal.person, cluster, refusal, what)
        raise


async def allowed(
    ctx: Context,
    cluster: str,
    action: Action,
    year: YearContext | None,
    unit: str | None = None,
    what: str = "read",  # the field read, as the API names it
    year_number: int | None = None,  # the year read, so auditors filter its refusals
) -> Actor:
    """The caller's actor for this read; a refusal is recorded, then raised. Without the
    year's context, a right no year changes (the audit trail) is decided on any year."""
    await covered(ctx, cluster, what)
    who = caller_of(ctx)
    try:
        return authorise(who, action, year or possible_year(who.unit, unit), unit)
    except DomainError as refusal:
        target: dict[str, Any] = {"action": action.value, "unit": unit or ""}
        if year_number is not None:
            target["year"] = str(year_number)
        envelope = Envelope(cluster, who, request_id=ctx.request_id)
        await ctx.services.emulation.record(cluster, envelope, what, target, refusal)
        raise
