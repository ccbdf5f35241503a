"""The caller as the domain knows them, and the checks every resolver asks.

A token may cover several clusters and carry several roles; the cluster is checked first
(a cluster the token does not cover is refused before anything is read), then the role
rights of docs/domain.md, through the domain's own `authorise` with all of the caller's roles.
"""

from thidua.api.tokens import Principal
from thidua.domain.errors import Forbidden
from thidua.domain.rights import Action, Caller, YearContext, may


def caller(principal: Principal) -> Caller:
    return Caller(principal.person, tuple(principal.roles), principal.unit)


def check_cluster(principal: Principal, cluster: str) -> None:
    if not principal.covers(cluster):
        raise Forbidden(
            "CLUSTER_NOT_COVERED",
            f"Tài khoản của bạn không có quyền với cụm thi đua '{cluster}'.",
        )


def possible_year(unit: str | None, target: str | None) -> YearContext:
    """A year in which the actor's unit leads, inspects the target and is a member: for a
    right no year changes (reading the audit trail), any year will do."""
    units = frozenset(u for u in (unit, target) if u)
    pair = frozenset({(unit, target)}) if unit and target else frozenset()
    return YearContext(leader=unit, former_leaders=units, members=units, inspected_by=pair)


def permits(
    principal: Principal, action: Action, year: YearContext, unit: str | None = None
) -> bool:
    """Whether any of the caller's roles may, without refusing (to filter what is shown)."""
    return any(may(actor, action, year, unit) for actor in caller(principal).actors())
