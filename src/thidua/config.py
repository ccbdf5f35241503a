"""Settings from the environment: where the database is, where local data lives, how tokens
are checked and whether this is production."""

import contextlib
import math
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from thidua.errors import ThiduaError
from thidua.ledger.note import NoteError, generate_key, parse_signer
from thidua.telemetry import logs, traces


class ConfigurationError(ThiduaError):
    code = "BAD_CONFIGURATION"


DEV_SECRET_FILE = "dev-token-secret"


@dataclass(frozen=True)
class TokenSettings:
    """HS256 with a shared secret for development; RS256/ES256 keys from a JWKS for real use."""

    secret: str | None = None
    jwks_url: str | None = None
    jwks_file: Path | None = None
    issuer: str = "thidua"
    audience: str = "thidua"


@dataclass(frozen=True)
class SignInSettings:
    """An OIDC provider the pages sign in with (authorization code with PKCE, as a public
    client in the browser): where to send the person, where the page exchanges the code,
    the client's id and the scopes. Without an authorize URL, pages take a token link."""

    authorize_url: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    scope: str = "openid profile"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "SignInSettings":
        found = cls(
            authorize_url=env.get("THIDUA_OIDC_AUTHORIZE_URL") or None,
            token_url=env.get("THIDUA_OIDC_TOKEN_URL") or None,
            client_id=env.get("THIDUA_OIDC_CLIENT_ID") or None,
            scope=env.get("THIDUA_OIDC_SCOPE") or "openid profile",
        )
        urls = [u for u in (found.authorize_url, found.token_url) if u]
        if (found.authorize_url or found.token_url or found.client_id) and not (
            len(urls) == 2 and found.client_id
        ):
            raise ConfigurationError(
                "Đăng nhập OIDC cần đủ THIDUA_OIDC_AUTHORIZE_URL, THIDUA_OIDC_TOKEN_URL và "
                "THIDUA_OIDC_CLIENT_ID (OIDC sign-in needs all three)."
            )
        if not all(u.startswith(("https://", "http://")) for u in urls):
            raise ConfigurationError(
                "THIDUA_OIDC_AUTHORIZE_URL và THIDUA_OIDC_TOKEN_URL phải là địa chỉ http(s) "
                "(must be http(s) URLs)."
            )
        return found


@dataclass(frozen=True)
class LogSettings:
    """The verifiable log: the name its checkpoints carry, the key that signs them (a
    signed-note signer key, given or, in development, kept in the data folder), the
    witnesses asked to cosign (URL and public key each) and how often due clusters are
    signed."""

    origin: str = "thidua.localhost"
    key: str | None = None
    key_file: Path | None = None
    witnesses: tuple[tuple[str, str], ...] = ()
    interval: float = 300.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "LogSettings":
        key_file = env.get("THIDUA_LOG_KEY_FILE") or None
        entries = env.get("THIDUA_WITNESSES", "").replace("\n", ";").split(";")
        witnesses = tuple(_witness(entry) for entry in entries if entry.strip())
        return cls(
            origin=env.get("THIDUA_LOG_ORIGIN") or "thidua.localhost",
            key=env.get("THIDUA_LOG_KEY") or None,
            key_file=Path(key_file) if key_file else None,
            witnesses=witnesses,
            interval=_seconds(env, "THIDUA_CHECKPOINT_INTERVAL", 300.0),
        )


def _witness(entry: str) -> tuple[str, str]:
    url, _, key = entry.strip().partition(" ")
    if not _is_http_url(url) or not key.strip():
        raise ConfigurationError(
            "THIDUA_WITNESSES: mỗi nhân chứng là 'URL KHÓA_CÔNG_KHAI', cách nhau bởi ';' "
            "(each witness is 'URL PUBLIC_KEY', separated by ';')."
        )
    return url, key.strip()


ENVIRONMENTS = ("development", "production")
POOL_SIZES = range(1, 1001)
# RFC 7518 §3.2: an HS256 key has at least 256 bits.
MIN_SECRET_LENGTH = 32


def _count(env: Mapping[str, str], name: str, default: int, allowed: range) -> int:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit() and int(text) in allowed):
        raise ConfigurationError(
            f"{name}={text!r} không hợp lệ: cần một số nguyên từ {allowed.start} đến "
            f"{allowed.stop - 1} (must be a whole number in that range)."
        )
    return int(text)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name) or ""
    try:
        value = float(text) if text else default
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigurationError(
            f"{name}={text!r} không hợp lệ: cần một số giây dương, ví dụ 300 "
            "(must be a positive number of seconds)."
        )
    return value


def _is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _database_url(env: Mapping[str, str]) -> str | None:
    url = _secret(env, "DATABASE_URL")
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not a number)
        valid = parts.scheme in ("postgres", "postgresql") and not any(c.isspace() for c in url)
    except ValueError:
        valid = False
    if not valid:
        raise ConfigurationError(
            "DATABASE_URL phải có dạng postgresql://người_dùng@máy:cổng/cơ_sở_dữ_liệu "
            "(DATABASE_URL must be a postgresql:// URL)."
        )
    return url


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """NAME, or the content of the file NAME_FILE names (container and Kubernetes secrets)."""
    value, file = env.get(name) or None, env.get(f"{name}_FILE") or None
    if value is not None or file is None:
        return value
    try:
        return Path(file).read_text("utf-8").strip() or None
    except OSError as exc:
        raise ConfigurationError(
            f"{name}_FILE: không đọc được tệp {file} (cannot read it): {exc.strerror}."
        ) from None


@dataclass(frozen=True)
class ReplicaSettings:
    """Streaming replicas of the primary that may serve clusters' queries, and how many
    seconds their replay may be behind (checked at most once a second)."""

    urls: tuple[str, ...] = ()
    max_lag: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "ReplicaSettings":
        entries = (_secret(env, "THIDUA_REPLICA_URL") or "").replace("\n", ";").split(";")
        urls = tuple(entry.strip() for entry in entries if entry.strip())
        if not all(url.startswith(("postgres://", "postgresql://")) for url in urls):
            raise ConfigurationError(
                "THIDUA_REPLICA_URL: mỗi bản sao là một địa chỉ postgresql://, cách nhau bởi ';' "
                "(each replica is a postgresql:// URL, separated by ';')."
            )
        try:
            max_lag = float(env.get("THIDUA_REPLICA_MAX_LAG") or 30)
        except ValueError:
            max_lag = math.nan
        if not 0 < max_lag < math.inf:
            raise ConfigurationError(
                "THIDUA_REPLICA_MAX_LAG phải là số giây lớn hơn 0 (must be seconds, more than 0)."
            )
        return cls(urls, max_lag)


@dataclass(frozen=True)
class TelemetrySettings:
    """How the instance is watched: its log lines' format and level, whether /metrics is
    served (and the bearer token it then asks for, if any), and where traces go."""

    log_format: str = "console"
    log_level: str = "INFO"
    metrics: bool = True
    metrics_token: str | None = None
    traces: str = "none"

    @classmethod
    def from_env(cls, env: Mapping[str, str], production: bool) -> "TelemetrySettings":
        log_format = _choice(
            env, "THIDUA_LOG_FORMAT", logs.FORMATS, "json" if production else "console"
        )
        level = _choice(env, "THIDUA_LOG_LEVEL", logs.LEVELS, "INFO", upper=True)
        metrics = _choice(env, "THIDUA_METRICS", ("on", "off"), "on") == "on"
        # The SDK's own switches: no exporter unless one is named or an endpoint given.
        default = "otlp" if _otlp_endpoint(env) else "none"
        exporter = _choice(env, "OTEL_TRACES_EXPORTER", traces.EXPORTERS, default)
        if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            exporter = "none"
        protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
        )
        if exporter == "otlp" and protocol != "http/protobuf":
            raise ConfigurationError(
                "OTEL_EXPORTER_OTLP_PROTOCOL: chỉ hỗ trợ http/protobuf "
                "(only http/protobuf is supported)."
            )
        token = env.get("THIDUA_METRICS_TOKEN") or None
        return cls(log_format, level, metrics, token, exporter)


def _otlp_endpoint(env: Mapping[str, str]) -> bool:
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def _choice(
    env: Mapping[str, str],
    name: str,
    allowed: tuple[str, ...],
    default: str,
    *,
    upper: bool = False,
) -> str:
    given = (env.get(name) or default).strip()
    given = given.upper() if upper else given.lower()
    if given not in allowed:
        raise ConfigurationError(
            f"{name}={env.get(name)!r} không hợp lệ: chỉ nhận {' hoặc '.join(allowed)} "
            f"(must be {' or '.join(allowed)})."
        )
    return given


@dataclass(frozen=True)
class Settings:
    """DATABASE_URL names a PostgreSQL server; without it an embedded one runs in data_dir."""

    database_url: str | None
    data_dir: Path
    production: bool = False
    tokens: TokenSettings = TokenSettings()
    introspection: bool = True
    log: LogSettings = LogSettings()
    replicas: ReplicaSettings = ReplicaSettings()
    sign_in: SignInSettings = SignInSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    # Connections each instance may hold to the primary (and to each replica): the
    # server's max_connections must cover every instance's pools.
    pool_size: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        url = _database_url(env)
        data_dir = Path(env.get("THIDUA_DATA_DIR") or ".thidua").expanduser().resolve()
        production = _choice(env, "THIDUA_ENV", ENVIRONMENTS, "development") == "production"
        jwks_file = env.get("THIDUA_JWKS_FILE") or None
        tokens = TokenSettings(
            secret=_secret(env, "THIDUA_JWT_SECRET"),
            jwks_url=env.get("THIDUA_JWKS_URL") or None,
            jwks_file=Path(jwks_file) if jwks_file else None,
            issuer=env.get("THIDUA_JWT_ISSUER") or "thidua",
            audience=env.get("THIDUA_JWT_AUDIENCE") or "thidua",
        )
        if tokens.jwks_url is not None and not _is_http_url(tokens.jwks_url):
            raise ConfigurationError(
                "THIDUA_JWKS_URL phải là một địa chỉ https://… (must be an http(s) URL)."
            )
        default = "off" if production else "on"
        introspection = _choice(env, "THIDUA_INTROSPECTION", ("on", "off"), default) == "on"
        settings = cls(
            url,
            data_dir,
            production,
            tokens,
            introspection,
            LogSettings.from_env(env),
            ReplicaSettings.from_env(env),
            SignInSettings.from_env(env),
            TelemetrySettings.from_env(env, production),
            _count(env, "THIDUA_POOL_SIZE", 10, POOL_SIZES),
        )
        if settings.log.key is not None:
            settings.log_key()  # a key given in the environment is checked at once
        if production:
            settings._check_production(env)
        return settings

    def _check_production(self, env: Mapping[str, str]) -> None:
        """What production refuses: the embedded server, no keys, the development secret."""
        if self.database_url is None:
            raise ConfigurationError(
                "Chế độ production không chạy PostgreSQL nhúng: hãy đặt DATABASE_URL "
                "(production needs DATABASE_URL)."
            )
        tokens = self.tokens
        if not (tokens.jwks_url or tokens.jwks_file or tokens.secret):
            raise ConfigurationError(
                "Chế độ production cần khóa kiểm tra token: THIDUA_JWKS_URL, THIDUA_JWKS_FILE "
                "hoặc THIDUA_JWT_SECRET (production needs token keys)."
            )
        if tokens.secret is not None and (
            len(tokens.secret) < MIN_SECRET_LENGTH or tokens.secret == self._dev_secret()
        ):
            raise ConfigurationError(
                f"Chế độ production không nhận khóa phát triển hay khóa ngắn hơn "
                f"{MIN_SECRET_LENGTH} ký tự làm THIDUA_JWT_SECRET (production refuses the "
                "development secret and short secrets)."
            )
        if not ((self.log.key or self.log.key_file) and env.get("THIDUA_LOG_ORIGIN")):
            raise ConfigurationError(
                "Chế độ production cần khóa ký nhật ký và tên nhật ký: THIDUA_LOG_KEY hoặc "
                "THIDUA_LOG_KEY_FILE, và THIDUA_LOG_ORIGIN (production needs the log's "
                "signing key and origin)."
            )

    def _dev_secret(self) -> str | None:
        try:
            return (self.data_dir / DEV_SECRET_FILE).read_text().strip()
        except OSError:
            return None

    def token_secret(self) -> str | None:
        """The HS256 secret: configured, or in development one kept in the data folder."""
        if self.tokens.secret or self.production:
            return self.tokens.secret
        path = self.data_dir / DEV_SECRET_FILE
        if not path.exists():
            _keep_once(path, secrets.token_urlsafe(32))
        return path.read_text().strip()

    def log_key(self) -> str:
        """The checkpoint signer key: configured, or in development one kept in the data
        folder (made on first use, named after the origin); refused if it is not one."""
        key = self._log_key_text()
        try:
            parse_signer(key)
        except NoteError as exc:
            raise ConfigurationError(
                f"Khóa ký nhật ký không hợp lệ (the log key is not a signer key: {exc}); "
                "cần dạng PRIVATE+KEY+tên+…"
            ) from None
        return key

    def _log_key_text(self) -> str:
        if self.log.key:
            return self.log.key
        path = self.log.key_file or self.data_dir / "log-signing-key"
        if not path.exists() and self.log.key_file is None:
            _keep_once(path, generate_key(self.log.origin)[0] + "\n")
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ConfigurationError(
                f"Không đọc được khóa ký nhật ký {path} (cannot read the log key): {exc}"
            ) from None


def _keep_once(path: Path, text: str) -> None:
    """Write a development secret that several processes may make at the same moment:
    whole in a private file first, then linked into place; the first one there is kept
    (a file half-written by another process is never read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as file:  # mkstemp: mode 0600
            file.write(text)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
