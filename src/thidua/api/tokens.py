"""Signed JWTs: who is calling, in which roles, for which unit and clusters.

Claims follow OIDC (`sub`, `name`, `iss`, `aud`, `exp`) plus three of ours: `roles`,
`clusters` (cluster codes, or "*" for the city's view of all) and `unit`. Development signs
with HS256 and a shared secret; real deployments verify RS256/ES256 against a JWKS.
"""

import math
import time
from dataclasses import dataclass
from typing import Any

import jwt

from thidua.api.limits import MAX_ITEMS, text_refusal
from thidua.config import Settings
from thidua.domain.checks import CLUSTER_CODE
from thidua.domain.rights import Role
from thidua.errors import ThiduaError

ASYMMETRIC = ["RS256", "ES256"]
ALL_CLUSTERS = "*"


class Unauthenticated(ThiduaError):
    code = "UNAUTHENTICATED"


CLAIM_LENGTH = 200  # characters in `sub`, `name`, `unit`
TOKEN_LENGTH = 16_384  # characters in a bearer token
BAD_CLAIMS = "Token mang thông tin người dùng không đúng dạng; vui lòng đăng nhập lại."


def _text(claims: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A text claim: absent (or null) unless required, else a short storable string."""
    value = claims.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or text_refusal(value, CLAIM_LENGTH):
        raise Unauthenticated(BAD_CLAIMS)
    return value


def _strings(claims: dict[str, Any], name: str) -> list[str]:
    """A list claim of non-empty strings, at least one."""
    value = claims.get(name)
    if not isinstance(value, list) or not value or len(value) > MAX_ITEMS:
        raise Unauthenticated("Token không nêu vai trò hoặc cụm thi đua của người dùng.")
    if not all(isinstance(v, str) and v for v in value):
        raise Unauthenticated(BAD_CLAIMS)
    return value


def _seconds(exp: Any) -> float | None:
    """`exp` as a float; a date past what a float holds is no expiry in practice."""
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return None
    try:
        return float(exp)
    except OverflowError:
        return math.inf


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    person: str
    name: str | None
    roles: tuple[Role, ...]
    clusters: frozenset[str]
    unit: str | None = None
    expires: float | None = None  # the token's `exp`, seconds since the epoch

    def covers(self, cluster: str) -> bool:
        return cluster in self.clusters or ALL_CLUSTERS in self.clusters

    def expired(self, now: float | None = None) -> bool:
        return self.expires is not None and self.expires <= (time.time() if now is None else now)

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> "Principal":
        """Every claim we read, checked for its type: a token that says something we
        cannot read is refused (401), never half-understood."""
        try:
            roles = tuple(Role(r) for r in _strings(claims, "roles"))
        except ValueError as exc:
            raise Unauthenticated("Token mang một vai trò không tồn tại.") from exc
        clusters = _strings(claims, "clusters")
        if not all(c == ALL_CLUSTERS or CLUSTER_CODE.fullmatch(c) for c in clusters):
            raise Unauthenticated(BAD_CLAIMS)
        expires = claims.get("exp")  # a number: PyJWT checked it
        return cls(
            person=_text(claims, "sub", required=True) or "",
            name=_text(claims, "name"),
            roles=roles,
            clusters=frozenset(clusters),
            unit=_text(claims, "unit"),
            expires=_seconds(expires),
        )


VERIFIED_KEPT = 10_000  # tokens known verified, the oldest forgotten first


class TokenVerifier:
    """Checks a bearer token's signature, expiry, issuer and audience."""

    def __init__(self, settings: Settings) -> None:
        self.tokens = settings.tokens
        self.secret = settings.token_secret()
        self._verified: dict[str, tuple[Principal, float]] = {}  # token -> who, until when
        self.jwks_client = jwt.PyJWKClient(self.tokens.jwks_url) if self.tokens.jwks_url else None
        self.jwks = (
            jwt.PyJWKSet.from_json(self.tokens.jwks_file.read_text())
            if self.tokens.jwks_file
            else None
        )

    def _key(self, token: str) -> tuple[Any, list[str]]:
        header = jwt.get_unverified_header(token)
        if header.get("alg") == "HS256":
            if self.secret is None:
                raise Unauthenticated("Máy chủ không nhận token ký bằng khóa dùng chung.")
            return self.secret, ["HS256"]
        if self.jwks_client is not None:
            return self.jwks_client.get_signing_key_from_jwt(token).key, ASYMMETRIC
        if self.jwks is not None:
            found = [k for k in self.jwks.keys if k.key_id == header.get("kid")]
            if found:
                return found[0].key, ASYMMETRIC
        raise Unauthenticated("Không tìm thấy khóa để kiểm tra chữ ký của token.")

    def verify(self, token: str) -> Principal:
        """The token's principal; a token already verified is known until it expires (its
        signature is checked once, not on every request it comes with)."""
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        principal, expires = self._verify(token)
        self._verified[token] = (principal, expires)
        if len(self._verified) > VERIFIED_KEPT:
            self._verified.pop(next(iter(self._verified)))  # the oldest kept
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        if len(token) > TOKEN_LENGTH:
            raise Unauthenticated("Token không hợp lệ hoặc chữ ký không đúng.")
        try:
            key, algorithms = self._key(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.tokens.audience,
                issuer=self.tokens.issuer,
                options={"require": ["exp", "sub"]},
            )
            return Principal.from_claims(claims), float(claims["exp"])
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("Token đã hết hạn; vui lòng đăng nhập lại.") from exc
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
            # TypeError: a key of another kind; RecursionError: JSON nested past the stack
            raise Unauthenticated("Token không hợp lệ hoặc chữ ký không đúng.") from exc


def development_token(
    settings: Settings,
    sub: str,
    clusters: list[str],
    roles: list[Role],
    unit: str | None = None,
    ttl: int = 8 * 3600,
    name: str | None = None,
) -> str:
    """An HS256 token signed with the development secret (`thidua token`)."""
    secret = settings.token_secret()
    if secret is None:
        raise Unauthenticated("Chưa cấu hình THIDUA_JWT_SECRET nên không thể ký token.")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "roles": [r.value for r in roles],
        "clusters": clusters,
        "iss": settings.tokens.issuer,
        "aud": settings.tokens.audience,
        "iat": now,
        "exp": now + ttl,
    }
    if unit:
        claims["unit"] = unit
    if name:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm="HS256")
