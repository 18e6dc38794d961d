"""Service settings from the environment (prefix STH_), shared by the API and the workers."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

HOME = Path.home() / ".sth"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STH_", extra="ignore")

    database_url: str = Field(default=f"sqlite:///{HOME / 'sth.db'}", description="SQLAlchemy URL")
    broker_url: str = Field(default=f"filesystem://{HOME / 'broker'}", description="Celery broker URL")
    blob_chunk_bytes: int = Field(default=1 << 20, description="checkpoint blobs are stored in chunks of this size")
    max_upload_bytes: int = Field(default=512 << 20, description="largest model or dataset upload")


@lru_cache
def get_settings() -> Settings:
    return Settings()
