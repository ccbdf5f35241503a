"""Which copy of the log answers a request: a streaming replica when it has read far
enough, else the primary.

- Only a cluster's queries may be read from a replica; mutations, subscriptions,
  downloads and the cross-cluster endpoint always use the primary.
- A replica serves only while its last check found it fit (`store/replicas.py`: it
  answers, still replays our primary, at most `max_lag` seconds behind).
- A caller may name the least position it must see (`at_least`: the position its own
  mutation committed): a replica serves only if its own copy of that cluster's log head
  and of every projection's checkpoint have reached it (`log_version`, one indexed
  lookup of that cluster); otherwise the primary serves.
- One request reads one server: the version that keys its kept answer and every read
  come from it, and a server's replay only moves forward, so an answer is never older
  than the version it is kept under.
"""

import asyncio
import itertools
from dataclasses import dataclass

from thidua.errors import UnknownTenant
from thidua.projections import checkpoints
from thidua.projections.runtime import PROJECTIONS
from thidua.service.emulation import Emulation
from thidua.service.reads import Reads
from thidua.service.versions import Version, reflected
from thidua.store.replicas import REPLICA_ERRORS, TIMEOUT, Replica, Replicas


@dataclass(frozen=True)
class Route:
    """Where one request reads: the services bound to that server, the cluster's version
    there, and the position its answer reflects."""

    reads: Reads
    emulation: Emulation
    version: Version
    replica: bool

    @property
    def position(self) -> int:
        return reflected(self.version, len(PROJECTIONS))


class ReadRoutes:
    def __init__(self, reads: Reads, emulation: Emulation, replicas: Replicas | None) -> None:
        self._reads = reads
        self._emulation = emulation
        self._replicas = replicas
        self._on: dict[Replica, tuple[Reads, Emulation]] = {
            r: (Reads(r.store), emulation.reading_from(r.store))
            for r in (replicas.replicas if replicas else ())
        }
        self._turns = itertools.count()  # replicas take turns

    def known(self, cluster: str, at_least: int = 0) -> Route | None:
        """The primary, if its version of the cluster is known without the database and
        reaches `at_least`."""
        version = self._reads.known_version(cluster)
        if version is None:
            return None
        route = Route(self._reads, self._emulation, version, replica=False)
        return route if route.position >= at_least else None

    async def route(self, cluster: str, at_least: int = 0, *, replica: bool = True) -> Route:
        """A replica that has reached `at_least` of the cluster (if `replica` allows
        one), else the primary; UnknownTenant when the primary has no such cluster."""
        if replica and self._replicas is not None:
            found = await self._on_replica(self._replicas, cluster, at_least)
            if found is not None:
                return found
        version = await self._reads.log_version(cluster, at_least)
        return Route(self._reads, self._emulation, version, replica=False)

    async def _on_replica(self, replicas: Replicas, cluster: str, at_least: int) -> Route | None:
        serving = replicas.serving()
        if not serving:
            return None
        replica = serving[next(self._turns) % len(serving)]
        try:
            async with asyncio.timeout(TIMEOUT):
                version = await checkpoints.log_version(replica.store, cluster)
        except UnknownTenant:
            return None  # not replayed yet, or no such cluster: the primary says which
        except REPLICA_ERRORS as exc:
            replicas.failed(replica, f"unreachable ({type(exc).__name__})")
            return None
        reads, emulation = self._on[replica]
        route = Route(reads, emulation, version, replica=True)
        return route if route.position >= at_least else None
