"""Settings from the environment: where the database is, where local data lives, how tokens
are checked and whether this is production."""

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from thidua.errors import ThiduaError


class ConfigurationError(ThiduaError):
    code = "BAD_CONFIGURATION"


@dataclass(frozen=True)
class TokenSettings:
    """HS256 with a shared secret for development; RS256/ES256 keys from a JWKS for real use."""

    secret: str | None = None
    jwks_url: str | None = None
    jwks_file: Path | None = None
    issuer: str = "thidua"
    audience: str = "thidua"


@dataclass(frozen=True)
class Settings:
    """DATABASE_URL names a PostgreSQL server; without it an embedded one runs in data_dir."""

    database_url: str | None
    data_dir: Path
    production: bool = False
    tokens: TokenSettings = TokenSettings()
    introspection: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        url = env.get("DATABASE_URL") or None
        if url is not None and not url.startswith(("postgres://", "postgresql://")):
            raise ConfigurationError(
                "DATABASE_URL phải có dạng postgresql://người_dùng@máy:cổng/cơ_sở_dữ_liệu "
                "(DATABASE_URL must be a postgresql:// URL)."
            )
        data_dir = Path(env.get("THIDUA_DATA_DIR") or ".thidua").expanduser().resolve()
        production = env.get("THIDUA_ENV", "development") == "production"
        jwks_file = env.get("THIDUA_JWKS_FILE") or None
        tokens = TokenSettings(
            secret=env.get("THIDUA_JWT_SECRET") or None,
            jwks_url=env.get("THIDUA_JWKS_URL") or None,
            jwks_file=Path(jwks_file) if jwks_file else None,
            issuer=env.get("THIDUA_JWT_ISSUER") or "thidua",
            audience=env.get("THIDUA_JWT_AUDIENCE") or "thidua",
        )
        if production and not (tokens.jwks_url or tokens.jwks_file or tokens.secret):
            raise ConfigurationError(
                "Chế độ production cần khóa kiểm tra token: THIDUA_JWKS_URL, THIDUA_JWKS_FILE "
                "hoặc THIDUA_JWT_SECRET (production needs token keys)."
            )
        introspection = env.get("THIDUA_INTROSPECTION", "off" if production else "on") == "on"
        return cls(url, data_dir, production, tokens, introspection)

    def token_secret(self) -> str | None:
        """The HS256 secret: configured, or in development one kept in the data folder."""
        if self.tokens.secret or self.production:
            return self.tokens.secret
        path = self.data_dir / "dev-token-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(32))
        return path.read_text().strip()
