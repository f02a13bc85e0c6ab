"""Settings from the environment and an optional ``.env`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from runner.errors import SettingsError


class Settings(BaseSettings):
    """Everything the runner reads from its environment.

    Secrets are ``SecretStr``: their repr and str are masked, so a settings
    object can be logged whole.
    """

    # Empty values mean "use the default": .env.example lists every
    # setting, most of them empty.
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
    )

    es_url: str = "http://127.0.0.1:9200"
    es_api_key: SecretStr | None = None
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_ca_certs: Path | None = None
    es_verify_certs: bool = True
    es_request_timeout: float = Field(default=30.0, gt=0)
    alerts_index: str = "runner-alerts-default"
    state_index: str = "runner-state"
    rules_dir: Path = Path("rules")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("es_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


def load_settings() -> Settings:
    """Read the settings, turning a validation failure into one clear line.

    Raises:
        SettingsError: naming each setting that is wrong and why.
    """
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"bad setting: {problems}") from exc
    if settings.es_password is not None and settings.es_username is None:
        raise SettingsError("bad setting: ES_PASSWORD is set without ES_USERNAME")
    return settings
