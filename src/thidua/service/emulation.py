"""The one pipeline every command runs through, and the aggregates as they stand.

`handle(envelope, command)`: in one transaction of the command's cluster, a retried
idempotency key returns the first result; the year the right depends on is loaded and
the caller authorised against it with all of its roles (`domain.rights.authorise`); the
command's handler decides; the expected version is checked; the events are appended,
guarded by every stream the decision read. A refusal changes nothing and is recorded in
the cluster's log under the command's own name; a concurrent change is decided again on
fresh state unless the caller named the version it expects.
"""

import asyncio
import contextlib
import copy
import random
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from typing import Any

from thidua.domain.cluster_year import ClusterYear
from thidua.domain.commands import Command
from thidua.domain.criteria import CriteriaTemplate
from thidua.domain.days import business_day, moment_of
from thidua.domain.errors import DomainError
from thidua.domain.pledge import Pledge
from thidua.domain.refusal import RefusedAttempt
from thidua.domain.results import YearResult, year_result
from thidua.domain.rights import Actor, YearContext, authorise
from thidua.domain.scorecard import Scorecard
from thidua.service.envelope import Envelope, Recorded, local_day, utc_now
from thidua.service.handlers import CITY_LOG, CITY_NAME, HANDLERS, UnitOfWork
from thidua.service.repository import Repository, read_version
from thidua.store.errors import ConcurrencyConflict
from thidua.store.eventstore import EventStore, Session
from thidua.telemetry import metrics

__all__ = ["CITY_LOG", "CITY_NAME", "Emulation"]

RETRIES = 12  # a conflict means another command landed first: decide again on its result


def log_of(envelope: Envelope, command: Command) -> str:
    """The cluster whose log takes the command: the city's own acts go to the city's."""
    return CITY_LOG if command.rights_year == "none" else envelope.cluster


def refused_as(envelope: Envelope, refusal: DomainError) -> Actor | None:
    """The role a refusal is recorded in: the one refused, else the caller's first."""
    actors = envelope.caller.actors()
    role = getattr(refusal, "role", None)
    return next((a for a in actors if a.role.value == role), actors[0] if actors else None)


class Emulation:
    def __init__(self, store: EventStore, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self._reads_from = store  # where aggregates are read for queries (`reading_from`)
        self.repo = Repository()
        self.clock = clock
        # Told of each command once it committed (the ledger signs at finalisation).
        self.committed: list[Callable[[str, Command], Awaitable[None]]] = []
        self._turns: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def today(self) -> date:
        return local_day(self.clock())

    # The one way a command runs.

    async def handle(self, envelope: Envelope, command: Command) -> Recorded:
        # One cluster's commands take turns here, so concurrent ones are decided on each
        # other's results instead of colliding; other instances' still retry on conflict.
        async with self._turn(log_of(envelope, command)):
            return await self._handle(envelope, command)

    def _turn(self, cluster: str) -> asyncio.Lock:
        """The cluster's queue; it lives while a command holds or awaits it."""
        turn = self._turns.get(cluster)
        if turn is None:
            turn = self._turns[cluster] = asyncio.Lock()
        return turn

    async def _handle(self, envelope: Envelope, command: Command) -> Recorded:
        at = self.clock()
        for attempt in range(RETRIES):
            try:
                recorded = await self._attempt(envelope, command, at)
            except DomainError as refused:
                await self.record_refusal(envelope, command, refused, at)
                raise
            except ConcurrencyConflict:
                if envelope.expected_version is not None or attempt == RETRIES - 1:
                    metrics.CONFLICTS.labels("refused").inc()
                    raise
                metrics.CONFLICTS.labels("retried").inc()
                # Jittered backoff, so writers of one stream stop colliding in lockstep.
                await asyncio.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))
                continue
            for told in self.committed:
                await told(log_of(envelope, command), command)
            return recorded
        raise AssertionError("unreachable")

    async def _attempt(self, envelope: Envelope, command: Command, at: datetime) -> Recorded:
        cluster = log_of(envelope, command)
        async with self.store.session(cluster) as session:
            if cluster == CITY_LOG:
                await session.ensure_tenant(CITY_NAME)  # the city's log, made on first use
            if envelope.idempotency_key is not None:
                prior = await session.recorded_for(envelope.idempotency_key)
                if prior is not None:
                    return Recorded(*prior)
            uow = self._unit_of_work(session, envelope, command, at)
            context = await self._rights_context(uow, command)
            uow.actor = authorise(envelope.caller, command.action, context, command.about)
            decided = await HANDLERS[type(command)](command, uow)
            if decided is None:
                return Recorded(f"cluster/{envelope.cluster}", 0, ())
            aggregate, guards = decided
            expected = envelope.expected_version
            if expected is not None and expected != read_version(aggregate):
                raise ConcurrencyConflict(aggregate.id, expected, read_version(aggregate))
            metadata = envelope.metadata(
                uow.actor, uow.at, getattr(command, "reason", None), command.command_name()
            )
            recorded = await self.repo.save(
                session, metadata, aggregate, guards, envelope.idempotency_key
            )
        if recorded.version == aggregate.version:
            self.repo.committed(cluster, aggregate)
        return recorded

    def _unit_of_work(
        self, session: Session, envelope: Envelope, command: Command, at: datetime
    ) -> UnitOfWork:
        """The command's day is the day it happened (checked), and its moment with it."""
        year = getattr(command, "year", None)
        reason = envelope.reason or getattr(command, "reason", None)
        day = business_day(command.occurred_on, local_day(at), year, reason)
        return UnitOfWork(self.store, session, self.repo, moment_of(day, at), day)

    async def _rights_context(self, uow: UnitOfWork, command: Command) -> YearContext:
        """The year whose leader, members and assignments decide the right."""
        if command.rights_year == "none":
            return YearContext(leader=None)
        year: int = getattr(command, "year")  # noqa: B009 - every other command names one
        if command.rights_year == "previous":
            previous = await uow.get(ClusterYear, ClusterYear.create_id(year - 1))
            return previous.context(uow.today) if previous else YearContext(leader=None)
        uow.loaded_year = await uow.cluster_year(year)
        return uow.loaded_year.context(uow.today)

    async def record_refusal(
        self, envelope: Envelope, command: Command, refusal: DomainError, at: datetime
    ) -> None:
        """The refused attempt, in its own stream: it always lands, and changes nothing."""
        cluster = log_of(envelope, command)
        await self.record(cluster, envelope, command.command_name(), command.target(), refusal, at)

    async def record(
        self,
        cluster: str,
        envelope: Envelope,
        name: str,
        target: dict[str, str],
        refusal: DomainError,
        at: datetime | None = None,
    ) -> None:
        """A refused command or read, in the cluster's log, for its auditors (a cluster
        that does not exist raises UnknownTenant: there is nothing to refuse on)."""
        attempt = RefusedAttempt(
            attempt_id=str(uuid.uuid4()),
            command=name,
            code=refusal.code,
            message=refusal.message,
            target=target,
        )
        metadata = envelope.metadata(refused_as(envelope, refusal), at or self.clock(), None, name)
        async with self.store.session(cluster) as session:
            await self.repo.save(session, metadata, attempt)

    async def note_uncovered(
        self, person: str, cluster: str, refusal: DomainError, what: str
    ) -> None:
        """A caller refused a cluster its token does not cover: counted for the
        deployment's auditors, never in that cluster's log."""
        await self.store.note_access_refusal(person, cluster, refusal.code, what)

    async def access_refusals(self, day: date) -> list[dict[str, Any]]:
        """The deployment's refusals of uncovered clusters on one day."""
        return [dict(r) for r in await self.store.access_refusals(day)]

    # The aggregates as they stand, for reads: the unit of work's own loaders, each in a
    # session of its own.

    def reading_from(self, store: EventStore) -> "Emulation":
        """This service with its aggregates read from another copy of the log (a replica);
        commands, and the refusals of reads, still go to the primary."""
        view = copy.copy(self)
        view._reads_from = store
        return view

    @contextlib.asynccontextmanager
    async def _reading(self, cluster: str) -> AsyncIterator[UnitOfWork]:
        at = self.clock()
        async with self._reads_from.session(cluster) as session:
            yield UnitOfWork(self._reads_from, session, self.repo, at, local_day(at))

    async def year(self, cluster: str, year: int) -> ClusterYear:
        async with self._reading(cluster) as uow:
            return await uow.cluster_year(year)

    async def pledge(self, cluster: str, year: int) -> Pledge:
        async with self._reading(cluster) as uow:
            return await uow.pledge(year)

    async def scorecard(self, cluster: str, year: int, unit: str) -> Scorecard:
        async with self._reading(cluster) as uow:
            return await uow.scorecard(year, unit)

    async def template(self, name: str) -> CriteriaTemplate:
        async with self._reading(CITY_LOG) as uow:  # the template opens its own session
            return await uow.template(name)

    async def standings(self, cluster: str, year: int, on: date | None = None) -> YearResult:
        cluster_year = await self.year(cluster, year)
        cards = {u: await self.scorecard(cluster, year, u) for u in cluster_year.members}
        return year_result(cluster_year, cards, on or self.today())
