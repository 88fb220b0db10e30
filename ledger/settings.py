"""One Settings object (env prefix ``COC_LEDGER_``) that configures every process."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.errors import InvalidInput


class Settings(BaseSettings):
    """Configuration, read once by each process's composition root and passed down."""

    model_config = SettingsConfigDict(env_prefix="COC_LEDGER_", extra="forbid", frozen=True)

    database_url: str | None = Field(
        default=None,
        description="postgresql://user:password@host:port/dbname[?schema=name]; "
        "unset means the SQLite file at sqlite_path",
    )
    sqlite_path: Path = Field(default=Path("var/ledger.sqlite3"))
    policy_dir: Path | None = Field(
        default=None,
        description="policy pack files <dir>/<CoC>/<version>.toml; unset: the "
        "packs bundled with CoC Ledger",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    clock_skew_seconds: int = Field(default=300, ge=0, le=3600)
    aggregate_cache_size: int = Field(default=20_000, ge=0)
    command_retries: int = Field(default=8, ge=0, le=20)
    postgres_lock_timeout_seconds: int = Field(default=5, ge=1)
    postgres_pool_size: int = Field(default=5, ge=1)
    load_demo_data: bool = True
    create_tables: bool = Field(
        default=True,
        description="create the event store's tables and functions if missing (processes "
        "starting together take turns, ledger/table_lock.py); off where the store's role may "
        "not create them",
    )
    readmodels_in_process: bool = Field(
        default=True,
        description="follow the log into the read models in a thread of the service; turn "
        "off where scripts/project does it (PostgreSQL with several API processes)",
    )
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        default="auto",
        description="the service's event loop: uvloop where installed (auto), or asyncio's "
        "own (ledger/event_loop.py)",
    )
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    read_wait_max_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="longest a read with wait_for_position waits for the read models",
    )
    progress_poll_seconds: float = Field(
        default=0.05,
        ge=0.005,
        le=5,
        description="how often the service looks at the read models' position while a "
        "read or an event stream waits for it",
    )
    stream_keepalive_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="longest silence on an event stream before a keep-alive comment",
    )
    ready_max_lag_events: int = Field(
        default=10_000,
        ge=0,
        description="/readyz answers 503 while the read models are more events behind the log",
    )
    ready_timeout_seconds: float = Field(
        default=2.0, gt=0, le=60, description="how long /readyz waits for each check"
    )
    token_cache_seconds: float = Field(
        default=30,
        ge=0,
        le=300,
        description="how long the service trusts a token it has read from the store; a "
        "revocation takes effect within this time (0: read the store on every request)",
    )

    signing_key_path: Path = Field(
        default=Path("var/signing-key.pem"),
        description="the operator's Ed25519 private key (PKCS#8 PEM, mode 0600) that signs "
        "checkpoints and exports; made by scripts/signing-key; never logged",
    )
    integrity_origin: str = Field(
        default="coc-ledger",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$",
        description="the log's name in its signed checkpoints (one per deployment)",
    )
    integrity_in_process: bool = Field(
        default=True,
        description="seal the log, sign checkpoints and run the self-check in threads of the "
        "service; turn off where scripts/seal does it (PostgreSQL with several API processes)",
    )
    seal_interval_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="how often the sealer looks for new events: the bound on the delay "
        "between a commit and its leaf",
    )
    checkpoint_interval_seconds: float = Field(
        default=300,
        ge=0,
        le=86_400,
        description="the least time between two signed checkpoints (one is signed only when "
        "the tree grew); exports sign one at once",
    )
    selfcheck_interval_seconds: float = Field(
        default=3600,
        ge=0,
        description="how often the service re-verifies the whole log (0: never; first run "
        "at start-up)",
    )

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("postgresql", "postgres"):
            raise ValueError("database_url must start with postgresql://")
        return value

    @classmethod
    def for_store(
        cls, database_url: str | None = None, sqlite_path: Path | None = None
    ) -> Settings:
        """Settings of an operator script: the store named on its command line (a PostgreSQL
        URL, or an SQLite file, which then wins over a URL in the environment), else the
        environment's; never loads demo data."""
        overrides: dict[str, object] = {"load_demo_data": False}
        if database_url:
            overrides["database_url"] = database_url
        elif sqlite_path:
            overrides |= {"database_url": None, "sqlite_path": sqlite_path}
        return cls(**overrides)  # type: ignore[arg-type]

    @property
    def backend(self) -> Literal["sqlite", "postgres"]:
        return "postgres" if self.database_url else "sqlite"

    def eventsourcing_env(self) -> dict[str, str]:
        """The eventsourcing ``env`` dict for the configured store."""
        env = {
            # 0 turns the cache off ("" for eventsourcing; its own 0 means unbounded)
            "AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size or ""),
            "CREATE_TABLE": "y" if self.create_tables else "n",
        }
        if self.database_url is None:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            env |= {
                # One process writes an SQLite file and runs its commands one at a time
                # (Ledger.exclusive), so its entity cache is authoritative: no re-reading.
                "AGGREGATE_CACHE_FASTFORWARD": "n",
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.sqlite_path),
                "SQLITE_LOCK_TIMEOUT": "10",
            }
            return env
        url = urlsplit(self.database_url)
        if not url.path.strip("/"):
            raise InvalidInput("database_url names no database (postgresql://host/dbname)")
        schema = parse_qs(url.query).get("schema", [""])[0]
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(url.path.strip("/")),
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_SCHEMA": schema,
            "POSTGRES_LOCK_TIMEOUT": str(self.postgres_lock_timeout_seconds),
            "POSTGRES_POOL_SIZE": str(self.postgres_pool_size),
            "POSTGRES_CONNECT_TIMEOUT": "10",
        }
        return env
