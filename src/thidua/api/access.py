"""Reading a cluster on behalf of the caller: which cluster, may they, and the refusal
recorded in that cluster's log when they may not."""

import contextlib
from typing import Any

import strawberry

from thidua.api.auth import act, check_cluster
from thidua.api.context import Context
from thidua.api.errors import BadInput
from thidua.domain.errors import DomainError
from thidua.domain.rights import Action, Actor, YearContext
from thidua.errors import UnknownTenant
from thidua.service.command import Command


def context(info: strawberry.Info) -> Context:
    found: Context = info.context
    return found


def tenant_of(ctx: Context, code: str | None = None) -> str:
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


async def record(
    ctx: Context, tenant: str, name: str, target: dict[str, Any], error: DomainError
) -> None:
    """A refused read or write, in the cluster's log, for its auditors."""
    principal = ctx.caller()
    actor = Actor(principal.person, principal.roles[0], principal.unit)
    command = Command(tenant, actor, request_id=ctx.request_id)
    with contextlib.suppress(UnknownTenant):  # no such cluster: nothing to record it in
        await ctx.services.emulation.record_refusal(command, name, target, error)


async def allowed(
    ctx: Context,
    tenant: str,
    action: Action,
    year: YearContext | None,
    unit: str | None = None,
    what: str = "read",
) -> Actor:
    """The caller's actor for this read; a refusal is recorded, then raised."""
    try:
        return act(ctx.caller(), tenant, action, year, unit)
    except DomainError as refusal:
        await record(ctx, tenant, what, {"action": action.value, "unit": unit or ""}, refusal)
        raise


async def covered(ctx: Context, tenant: str, what: str) -> None:
    """The cluster check alone, recorded when refused."""
    try:
        check_cluster(ctx.caller(), tenant)
    except DomainError as refusal:
        await record(ctx, tenant, what, {}, refusal)
        raise
