"""The one authorisation function every resolver asks, and the actor a command runs as.

A token may cover several clusters and carry several roles; the cluster is checked first
(a cluster the token does not cover is refused before anything is read), then the role
rights of DOMAIN.md, through the domain's own `may`.
"""

from thidua.api.tokens import Principal
from thidua.domain.errors import Forbidden
from thidua.domain.rights import Action, Actor, YearContext, authorise, may


def check_cluster(principal: Principal, cluster: str) -> None:
    if not principal.covers(cluster):
        raise Forbidden(
            "CLUSTER_NOT_COVERED",
            f"Tài khoản của bạn không có quyền với cụm thi đua '{cluster}'.",
        )


def _possible(unit: str | None, target: str | None) -> YearContext:
    """A year in which the actor's unit leads, inspects the target and is a member."""
    units = frozenset(u for u in (unit, target) if u)
    pair = frozenset({(unit, target)}) if unit and target else frozenset()
    return YearContext(leader=unit, former_leaders=units, members=units, inspected_by=pair)


def act(
    principal: Principal,
    cluster: str,
    action: Action,
    year: YearContext | None = None,
    unit: str | None = None,
) -> Actor:
    """The actor to run as: the first of the token's roles that may do the action.

    With the year's context the decision is final; without it (a command, which the
    service decides again on the year it loads) a role is chosen that could do it.
    """
    check_cluster(principal, cluster)
    actors = [Actor(principal.person, role, principal.unit) for role in principal.roles]
    context = year or _possible(principal.unit, unit)
    for actor in actors:
        if may(actor, action, context, unit):
            return actor
    if year is None:
        return actors[0]  # the service refuses it with the year's own words, and records it
    authorise(actors[0], action, year, unit)
    raise AssertionError("authorise refuses what may does not allow")
