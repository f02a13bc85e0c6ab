"""Settings from the environment and .env, and the client built from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.elastic.client import build_client
from runner.errors import SettingsError
from runner.settings import load_settings

SETTING_NAMES = (
    "ES_URL",
    "ES_API_KEY",
    "ES_USERNAME",
    "ES_PASSWORD",
    "ES_CA_CERTS",
    "ES_VERIFY_CERTS",
    "ES_REQUEST_TIMEOUT",
    "ALERTS_INDEX",
    "STATE_INDEX",
    "RULES_DIR",
    "LOG_LEVEL",
    "LOG_FORMAT",
)
SECRET = "s3cr3t-v4lue-never-shown"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the caller's environment, and no .env but the test's."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def bad_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    """Set one setting and return the SettingsError message it causes."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    return str(info.value)


def test_load_settings_defaults() -> None:
    """With nothing set, every setting has its documented default."""
    settings = load_settings()
    assert settings.es_url == "http://127.0.0.1:9200"
    assert settings.es_api_key is None
    assert settings.es_username is None
    assert settings.es_password is None
    assert settings.es_ca_certs is None
    assert settings.es_verify_certs is True
    assert settings.es_request_timeout == 30.0
    assert settings.alerts_index == "runner-alerts-default"
    assert settings.state_index == "runner-state"
    assert settings.rules_dir == Path("rules")
    assert settings.log_level == "INFO"
    assert settings.log_format == "text"


def test_load_settings_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment variables replace the defaults, converted to their types."""
    monkeypatch.setenv("ES_URL", "https://es.example:9243/")
    monkeypatch.setenv("ES_VERIFY_CERTS", "false")
    monkeypatch.setenv("ES_CA_CERTS", "/etc/ca.pem")
    monkeypatch.setenv("ES_REQUEST_TIMEOUT", "12.5")
    monkeypatch.setenv("ALERTS_INDEX", "alerts-x")
    monkeypatch.setenv("STATE_INDEX", "state-x")
    monkeypatch.setenv("RULES_DIR", "/srv/rules")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FORMAT", "json")

    settings = load_settings()

    assert settings.es_url == "https://es.example:9243"
    assert settings.es_verify_certs is False
    assert settings.es_ca_certs == Path("/etc/ca.pem")
    assert settings.es_request_timeout == 12.5
    assert settings.alerts_index == "alerts-x"
    assert settings.state_index == "state-x"
    assert settings.rules_dir == Path("/srv/rules")
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "json"


def test_load_settings_reads_dotenv(tmp_path: Path) -> None:
    """A .env file in the working directory is read."""
    (tmp_path / ".env").write_text(
        "ALERTS_INDEX=from-dotenv\nES_USERNAME=elastic\nES_PASSWORD=pw\n",
        encoding="utf-8",
    )
    settings = load_settings()
    assert settings.alerts_index == "from-dotenv"
    assert settings.es_username == "elastic"
    assert settings.es_password is not None
    assert settings.es_password.get_secret_value() == "pw"


def test_load_settings_environment_wins_over_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A variable set in both places takes the environment's value."""
    (tmp_path / ".env").write_text("ALERTS_INDEX=from-dotenv\n", encoding="utf-8")
    monkeypatch.setenv("ALERTS_INDEX", "from-environment")
    assert load_settings().alerts_index == "from-environment"


def test_load_settings_empty_strings_are_unset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Empty credentials and CA path, as .env.example leaves them, mean unset."""
    (tmp_path / ".env").write_text("ES_CA_CERTS=\nES_PASSWORD=\n", encoding="utf-8")
    monkeypatch.setenv("ES_API_KEY", "")
    monkeypatch.setenv("ES_USERNAME", "")
    settings = load_settings()
    assert settings.es_api_key is None
    assert settings.es_username is None
    assert settings.es_password is None
    assert settings.es_ca_certs is None


def test_load_settings_empty_values_mean_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An empty ES_URL, LOG_LEVEL or ES_VERIFY_CERTS falls back to its default."""
    (tmp_path / ".env").write_text("LOG_LEVEL=\nES_VERIFY_CERTS=\n", encoding="utf-8")
    monkeypatch.setenv("ES_URL", "")
    settings = load_settings()
    assert settings.es_url == "http://127.0.0.1:9200"
    assert settings.log_level == "INFO"
    assert settings.es_verify_certs is True


def test_load_settings_dotenv_example_is_valid(tmp_path: Path) -> None:
    """The documented .env.example loads as is."""
    defaults = load_settings()
    example = Path(__file__).resolve().parents[1] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text("utf-8"), encoding="utf-8")
    assert load_settings() == defaults


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ES_URL", "localhost:9200"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("ES_REQUEST_TIMEOUT", "0"),
    ],
)
def test_load_settings_bad_value_is_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    """A bad value raises SettingsError: one line that names the setting."""
    message = bad_setting(monkeypatch, name, value)
    assert "\n" not in message
    assert message.startswith(f"bad setting: {name}: ")


def test_load_settings_password_without_username_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ES_PASSWORD alone is refused, naming both settings."""
    message = bad_setting(monkeypatch, "ES_PASSWORD", SECRET)
    assert "ES_PASSWORD" in message
    assert "ES_USERNAME" in message
    assert SECRET not in message


@pytest.mark.parametrize("name", ["ES_API_KEY", "ES_PASSWORD"])
def test_settings_secrets_masked_in_repr_and_str(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Neither repr nor str of the settings shows a secret's value."""
    monkeypatch.setenv("ES_USERNAME", "elastic")
    monkeypatch.setenv(name, SECRET)
    settings = load_settings()
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert "**" in repr(settings)


def test_build_client_with_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """An API key becomes the ApiKey authorization; the client never retries."""
    monkeypatch.setenv("ES_URL", "https://es.example:9243")
    monkeypatch.setenv("ES_API_KEY", SECRET)
    monkeypatch.setenv("ES_REQUEST_TIMEOUT", "7")
    client = build_client(load_settings())
    try:
        assert client._headers["authorization"] == f"ApiKey {SECRET}"
        assert client._max_retries == 0
        assert client._retry_on_timeout is False
        assert client._request_timeout == 7.0
    finally:
        client.close()


def test_build_client_with_basic_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user name and password become Basic authorization."""
    monkeypatch.setenv("ES_USERNAME", "elastic")
    monkeypatch.setenv("ES_PASSWORD", "changeme")
    client = build_client(load_settings())
    try:
        # base64("elastic:changeme")
        assert client._headers["authorization"] == "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="
    finally:
        client.close()


def test_build_client_without_credentials() -> None:
    """No credentials: no authorization header."""
    client = build_client(load_settings())
    try:
        assert "authorization" not in client._headers
    finally:
        client.close()
