"""Configuration, read from SAMVERKAN_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rules import BUNDLED


class Settings(BaseSettings):
    """Application settings; every field can be set as SAMVERKAN_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="SAMVERKAN_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str = ""
    # SQLite's PRAGMA synchronous in WAL mode: "normal" syncs the log at checkpoints only
    # (a power cut can undo the last commits, never corrupt the file), "full" at every
    # commit (about 2.5 ms more per write here, and writes are serialised).
    sqlite_synchronous: Literal["normal", "full"] = "normal"
    rules: Path | None = None
    reference_prefix: str = "SB"
    # Cookies are sent only over HTTPS (browsers also allow them on http://localhost).
    secure_cookies: bool = True
    max_upload_bytes: int = 10 * 1024 * 1024
    max_attachments: int = 10
    # Anonymous submissions per client and minute, through the form and the API together.
    submissions_per_minute: int = 10
    # The address people use to reach the application; links in messages start with it.
    public_url: str = "http://127.0.0.1:8000"
    # The calendar flows: how often the deadline sweep runs, and when reminders go out.
    sweep_interval_minutes: int = Field(default=15, ge=1, le=24 * 60)
    drain_interval_minutes: int = Field(default=1, ge=1, le=24 * 60)
    document_reminder_working_days: int = Field(default=3, ge=1, le=30)
    stale_triage_working_days: int = Field(default=5, ge=1, le=60)
    # Assignments: owners reminded this many working days before the due date; the
    # group's chair told once one has been overdue this many working days.
    assignment_reminder_working_days: int = Field(default=5, ge=1, le=60)
    assignment_escalation_working_days: int = Field(default=10, ge=1, le=120)
    working_hours_start: int = Field(default=8, ge=0, le=23)
    working_hours_end: int = Field(default=17, ge=1, le=24)
    # Delivery: the SMTP server for e-mail addresses, as an Apprise URL without `to`
    # (mailto://HOST:PORT?from=ADDRESS, or mailtos:// for TLS), and an optional Apprise
    # YAML file whose tags (one per group, say) can be addressed as `tag:<name>`.
    smtp_url: str = ""
    apprise_config: Path | None = None
    # A drain's claim on the messages it is sending lapses after this many seconds: the
    # messages of a drain that died are sent again then.
    drain_lease_seconds: int = Field(default=600, ge=1)
    # Members who chose a daily digest get it at this hour (Stockholm) on working days.
    digest_hour: int = Field(default=7, ge=0, le=23)
    # Threads for the routes that block (database, files), per server process.
    worker_threads: int = Field(default=16, ge=1, le=1000)
    # "json": one JSON object per log line (see casework.logs); "text" for a terminal.
    log_format: Literal["text", "json"] = "text"
    # Each organisation's own decision body answers a case within this many working days;
    # its members are reminded this many working days before the due date.
    organisation_request_working_days: int = Field(default=20, ge=1, le=120)
    organisation_request_reminder_working_days: int = Field(default=5, ge=1, le=30)
    # A bearer token that opens /metrics to clients other than the loopback address.
    metrics_token: str = ""
    # `samverkan deploy`: the Prefect process work pool the flows' deployments use, how
    # often a flow run's process reports that it is alive, and after how long without a
    # report the run is marked Crashed (its worker died).
    prefect_work_pool: str = Field(default="samverkan", min_length=1)
    flow_heartbeat_seconds: int = Field(default=60, ge=30, le=3600)
    flow_crash_after_seconds: int = Field(default=300, ge=40, le=24 * 3600)

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        # The SQLite file follows data_dir unless a URL is given; db.make_engine creates
        # the directory when the engine is first made, not when settings are read.
        if self.working_hours_start >= self.working_hours_end:
            raise ValueError(
                f"working hours {self.working_hours_start}-{self.working_hours_end}: "
                "SAMVERKAN_WORKING_HOURS_START must be before SAMVERKAN_WORKING_HOURS_END"
            )
        if self.flow_crash_after_seconds <= self.flow_heartbeat_seconds + 5:
            raise ValueError(
                f"SAMVERKAN_FLOW_CRASH_AFTER_SECONDS ({self.flow_crash_after_seconds}) must be "
                f"longer than SAMVERKAN_FLOW_HEARTBEAT_SECONDS ({self.flow_heartbeat_seconds})"
                " by more than 5 s, or live flow runs would be marked Crashed"
            )
        self.public_url = self.public_url.rstrip("/")
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'samverkan.db'}"
        return self

    @property
    def rules_path(self) -> Path:
        """The rule file to load: the configured one or the bundled default."""
        return self.rules if self.rules is not None else BUNDLED


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; call `get_settings.cache_clear()` after changing the env."""
    return Settings()
