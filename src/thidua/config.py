"""Settings from the environment: where the database is and where local data lives."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from thidua.errors import ThiduaError


class ConfigurationError(ThiduaError):
    code = "BAD_CONFIGURATION"


@dataclass(frozen=True)
class Settings:
    """DATABASE_URL names a PostgreSQL server; without it an embedded one runs in data_dir."""

    database_url: str | None
    data_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        url = env.get("DATABASE_URL") or None
        if url is not None and not url.startswith(("postgres://", "postgresql://")):
            raise ConfigurationError(
                "DATABASE_URL phải có dạng postgresql://người_dùng@máy:cổng/cơ_sở_dữ_liệu "
                "(DATABASE_URL must be a postgresql:// URL)."
            )
        data_dir = Path(env.get("THIDUA_DATA_DIR") or ".thidua").expanduser().resolve()
        return cls(database_url=url, data_dir=data_dir)
