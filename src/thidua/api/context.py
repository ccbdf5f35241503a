"""What every resolver gets: the services (commands and reads), the verified caller, the
cluster in the URL, the request id and the request's DataLoaders."""

from dataclasses import dataclass, field
from typing import Any

from strawberry.dataloader import DataLoader

from thidua.api.tokens import Principal, Unauthenticated
from thidua.service.emulation import Emulation
from thidua.service.evidence import Evidence
from thidua.service.ledger import Ledger
from thidua.service.reads import Reads
from thidua.telemetry import request as served


@dataclass
class Services:
    reads: Reads
    emulation: Emulation
    ledger: Ledger
    evidence: Evidence


@dataclass
class Context:
    services: Services
    cluster: str | None  # from /clusters/{code}/graphql; None at /graphql
    principal: Principal | None = None  # set once the token is verified
    request_id: str = field(default_factory=served.request_id)  # the web layer's, for the log
    connection_params: dict[str, Any] | None = None  # graphql-transport-ws connection_init
    loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)

    def caller(self) -> Principal:
        if self.principal is None:
            raise Unauthenticated("Cần đăng nhập: gửi token trong tiêu đề Authorization.")
        return self.principal

    def loader(self, name: str, make: Any) -> DataLoader[Any, Any]:
        """One DataLoader per name per request, so keys batch across resolvers."""
        if name not in self.loaders:
            self.loaders[name] = make()
        return self.loaders[name]
