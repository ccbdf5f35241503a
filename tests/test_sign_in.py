"""The pages' OIDC sign-in settings: all three of authorize URL, token URL and client id, or
none (then pages take a sign-in link); a half-configured provider stops the server."""

import pytest

from thidua.config import ConfigurationError, Settings

PROVIDER = "https://dang-nhap.example.vn/realms/thidua/protocol/openid-connect"


def test_a_configured_provider_reaches_the_settings() -> None:
    settings = Settings.from_env(
        {
            "THIDUA_OIDC_AUTHORIZE_URL": f"{PROVIDER}/auth",
            "THIDUA_OIDC_TOKEN_URL": f"{PROVIDER}/token",
            "THIDUA_OIDC_CLIENT_ID": "thidua-trang",
        }
    )
    assert settings.sign_in.authorize_url == f"{PROVIDER}/auth"
    assert settings.sign_in.token_url == f"{PROVIDER}/token"
    assert settings.sign_in.client_id == "thidua-trang"
    assert settings.sign_in.scope == "openid profile"
    assert Settings.from_env({}).sign_in.authorize_url is None


@pytest.mark.parametrize(
    "env",
    [
        {"THIDUA_OIDC_AUTHORIZE_URL": f"{PROVIDER}/auth"},
        {"THIDUA_OIDC_CLIENT_ID": "thidua-trang", "THIDUA_OIDC_TOKEN_URL": f"{PROVIDER}/token"},
        {
            "THIDUA_OIDC_AUTHORIZE_URL": "javascript:alert(1)",
            "THIDUA_OIDC_TOKEN_URL": f"{PROVIDER}/token",
            "THIDUA_OIDC_CLIENT_ID": "thidua-trang",
        },
    ],
)
def test_a_half_configured_provider_is_refused_in_vietnamese(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="THIDUA_OIDC_"):
        Settings.from_env(env)
