"""What every resolver gets: the services (commands and reads), the verified caller, the
cluster in the URL, the request id and the request's DataLoaders."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from strawberry.dataloader import DataLoader

from thidua.api.tokens import Principal, Unauthenticated
from thidua.service.emulation import Emulation
from thidua.service.evidence import Evidence
from thidua.service.ledger import Ledger
from thidua.service.reads import Reads
from thidua.service.replicas import ReadRoutes
from thidua.telemetry import request as served


@dataclass
class Services:
    reads: Reads
    emulation: Emulation
    ledger: Ledger
    evidence: Evidence
    routes: ReadRoutes  # which copy of the log serves a cluster's query


@dataclass
class Context:
    services: Services
    cluster: str | None  # from /clusters/{code}/graphql; None at /graphql
    principal: Principal | None = None  # set once the token is verified
    request_id: str = field(default_factory=served.request_id)  # the web layer's, for the log
    connection_params: dict[str, Any] | None = None  # graphql-transport-ws connection_init
    loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)
    # The log position the answer reflects (a query) or committed (a mutation), if known.
    position: int | None = None

    def caller(self) -> Principal:
        if self.principal is None:
            raise Unauthenticated("Cần đăng nhập: gửi token trong tiêu đề Authorization.")
        return self.principal

    def committed(self, cluster: str, positions: Sequence[int]) -> None:
        """A command of this request committed these positions in a cluster's log: the
        answer carries the last, if that is the endpoint's cluster."""
        if cluster == self.cluster and positions:
            self.position = max(self.position or 0, *positions)

    def loader(self, name: str, make: Any) -> DataLoader[Any, Any]:
        """One DataLoader per name per request, so keys batch across resolvers."""
        if name not in self.loaders:
            self.loaders[name] = make()
        return self.loaders[name]
