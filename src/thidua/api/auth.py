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


def possible_year(unit: str | None, target: str | None) -> YearContext:
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

    A role that no year allows is refused at once. With the year's context the decision
    is final; without it (a command, which the service decides again on the year it
    loads, or a right no year changes, like reading the audit trail) a role is chosen
    that could do it.
    """
    check_cluster(principal, cluster)
    actors = [Actor(principal.person, role, principal.unit) for role in principal.roles]
    possible = possible_year(principal.unit, unit)
    capable = [a for a in actors if may(a, action, possible, unit)]
    if not capable:  # no year would allow it: refused in the role's own words
        authorise(actors[0], action, possible, unit)
    if year is None:
        return capable[0]  # the service decides on the year it loads, and records a refusal
    for actor in capable:
        if may(actor, action, year, unit):
            return actor
    authorise(capable[0], action, year, unit)
    raise AssertionError("authorise refuses what may does not allow")


def permits(
    principal: Principal, action: Action, year: YearContext, unit: str | None = None
) -> bool:
    """Whether any of the caller's roles may, without refusing (to filter what is shown)."""
    return any(
        may(Actor(principal.person, role, principal.unit), action, year, unit)
        for role in principal.roles
    )
