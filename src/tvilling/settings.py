"""Typed settings, loaded once. The only module that reads ``os.environ`` (architecture guideline 9).

Precedence: explicit arguments (CLI flags) > environment (``TVILLING_*``) > a YAML/JSON ``--config`` file >
defaults. Secrets (the database URL may carry a password) are masked in ``repr``.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tvilling.core.errors import ConfigurationError

DEFAULT_DATA_DIR = Path("./data")


class Settings(BaseSettings):
    """Everything the platform spine needs to start. Units are in the field names."""

    model_config = SettingsConfigDict(env_prefix="TVILLING_", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    # SecretStr because a PostgreSQL URL can carry a password; ``db_url_value`` reveals it where needed.
    db: SecretStr | None = Field(default=None, description="sqlite:///path or postgresql://user:pass@host/db")
    # durable: an ack means COMMIT reached disk (promise G1). fast: SQLite synchronous=NORMAL, which can lose the
    # last transactions on power loss (not on a process crash); documented as weaker.
    profile: Literal["durable", "fast"] = "durable"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Migrations are applied on start by default; with False the platform refuses a database not at head.
    auto_migrate: bool = True
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Data files sent for training or estimation (POST /api/v1/ml/rul/jobs, …/predict): a C-MAPSS training file
    # is ~3.5 MB, a fleet's histories can be tens of MB. Every other route keeps max_body_bytes.
    max_upload_bytes: int = Field(default=64 * 1_048_576, ge=1024)
    max_page_size: int = Field(default=1000, ge=1)
    default_page_size: int = Field(default=100, ge=1)
    # /metrics needs a token unless this is True (then it is public, for a scraper on a private network).
    metrics_public: bool = False
    # Browser origins allowed to open the events WebSocket besides the server's own host (S-08).
    ws_allowed_origins: list[str] = Field(default_factory=list)
    # What one events WebSocket client may send (S-08; api/ws_limits.py): larger is closed with 1009, faster with
    # 4429. Clients send only subscribe messages, a few a minute; the limits leave a wide margin.
    ws_max_message_bytes: int = Field(default=1_048_576, ge=1024, description="largest message a client may send")
    ws_messages_per_s: float = Field(default=20.0, gt=0, description="sustained messages/s per connection")
    ws_message_burst: int = Field(default=100, ge=1, description="messages a connection may send at once")
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    db_pool_size: int = Field(default=8, ge=1)
    token_cache_ttl_s: float = Field(default=10.0, ge=0.0)
    # Rate limits, on by default (G4/G7): token buckets per bearer token, and per client address for
    # unauthenticated traffic (/health, failed authentication). 429 problem+json with Retry-After when exceeded.
    rate_limit_enabled: bool = True
    rate_limit_token_per_s: float = Field(default=1000.0, gt=0, description="sustained requests/s per token")
    rate_limit_token_burst: int = Field(default=2000, ge=1, description="requests a token may send at once")
    rate_limit_anonymous_per_s: float = Field(default=100.0, gt=0, description="per client address")
    rate_limit_anonymous_burst: int = Field(default=500, ge=1)
    # Group commit for API writes: concurrent twin/relationship writes share one transaction and one fsync.
    group_commit: bool = True
    group_commit_window_ms: float = Field(default=1.0, ge=0.0, description="wait for company before a batch")
    group_commit_max_batch: int = Field(default=256, ge=1)
    group_commit_parallel: int = Field(default=4, ge=1, description="batches in flight (PostgreSQL; SQLite: 1)")
    # GET /api/v1/twins/{id} answered by a pure ASGI fast lane when ordinary (api/fastlane.py); off = routed.
    fast_twin_reads: bool = True
    log_level: str = "INFO"
    # Ingestion (app/ingest_service.py): point mappings (YAML) and an optional MQTT source with acks after commit.
    mappings_file: Path | None = None
    mqtt_url: str | None = Field(default=None, description="mqtt://host:port; unset = no MQTT ingestion")
    mqtt_client_id: str = "tvilling-ingest"
    mqtt_topics: list[str] = Field(default_factory=lambda: ["plant/+/telemetry"])
    mqtt_shared_group: str | None = None
    # process: paho runs in a child process and its per-message CPU moves off the ingest process (about twice the
    # MQTT throughput on 2 cores, docs/benchmarks.md); thread: paho on a thread of this process.
    mqtt_receiver: Literal["process", "thread"] = "process"
    # Time policy for incoming data (reliability G6): older or further ahead than these is quarantined.
    quality_max_age_s: float = Field(default=7 * 86_400.0, gt=0, description="oldest source time accepted, seconds")
    quality_future_tolerance_s: float = Field(default=30.0, ge=0, description="allowed clock lead, seconds")
    mqtt_protocol: int = Field(default=5, description="5, or 4 for MQTT 3.1.1-only brokers (the embedded one)")
    # OPC UA ingestion (app/ingest_opcua.py): nodes come from node_id rows in mappings_file; no downgrade (S-12).
    opcua_url: str | None = Field(default=None, description="opc.tcp://host:port/path; unset = no OPC UA ingestion")
    opcua_security: Literal["None", "Sign", "SignAndEncrypt"] = "SignAndEncrypt"
    opcua_certificate: Path | None = None
    opcua_private_key: Path | None = None
    opcua_server_certificate: Path | None = Field(default=None, description="pinned server certificate")
    # Alarms (app/alarms.py): declarative rules; default = alarms.yaml beside mappings_file, if there is one.
    alarms_file: Path | None = None
    # Work orders (app/work_orders.py): rules; default = maintenance.yaml beside mappings_file, if there is one.
    maintenance_file: Path | None = None
    # Setpoint loops (app/setpoint_loops.py): setpoints.yaml beside mappings_file by default.
    setpoints_file: Path | None = None
    # Cascade impact (app/impact.py): impact.yaml beside mappings_file by default.
    impact_file: Path | None = None
    # FMU simulations over the API (app/fmus.py) run in a child process each: an FMU is native code, and one that
    # crashes or hangs must not take the server with it. Limits per run: wall time, communication steps returned.
    fmu_timeout_s: float = Field(default=60.0, gt=0, description="wall-clock limit of one FMU simulation, s")
    fmu_max_steps: int = Field(default=200_000, ge=1, description="most communication steps one API run may take")
    fmu_concurrency: int = Field(default=2, ge=1, description="FMU simulations run at once; more wait")
    # Physics models coupled to live twins (app/physics_live.py): physics.yaml beside mappings_file by default; each
    # coupled twin keeps one FMU child process, at most this many at once (least recently fed ones are closed).
    physics_file: Path | None = None
    physics_max_sessions: int = Field(default=20, ge=1, description="coupled twins with a running FMU process")
    # Maintenance planning (app/maintenance_planning.py): planning.yaml beside mappings_file by default; CP-SAT's
    # time limit per plan (an unproven plan is returned as "feasible" with its bound).
    planning_file: Path | None = None
    planning_time_limit_s: float = Field(default=10.0, gt=0, le=300, description="solver time per plan, s")
    # Retention (app/retention.py), in days; 0 keeps that class forever. Raw/rollups age by source time.
    retention_raw_days: float = Field(default=0.0, ge=0, description="raw samples, days (0 = forever)")
    retention_rollup_1m_days: float = Field(default=0.0, ge=0, description="1-minute rollups, days (0 = forever)")
    retention_rollup_1h_days: float = Field(default=0.0, ge=0, description="1-hour rollups, days (0 = forever)")
    retention_quarantine_days: float = Field(default=30.0, ge=0, description="quarantine, days (0 = forever)")
    retention_interval_s: float = Field(default=3600.0, ge=0, description="between passes; 0 = no scheduled pass")
    retention_batch_rows: int = Field(default=5000, ge=1, description="rows deleted per transaction")
    # Sparkplug B ingestion (app/ingest_sparkplug.py): a host application subscribed to spBv1.0/#.
    sparkplug_enabled: bool = False
    sparkplug_url: str | None = Field(default=None, description="mqtt://host:port; unset = mqtt_url")
    sparkplug_client_id: str = "tvilling-sparkplug"
    sparkplug_host_id: str = Field(default="tvilling", description="STATE topic spBv1.0/STATE/<host id>")
    sparkplug_provision: bool = Field(default=True, description="unmapped devices become twins of a built-in model")
    # Commands (app/commands.py): (twin, DTDL command) -> transport + address; MQTT/OPC UA use the settings above.
    commands_file: Path | None = Field(default=None, description="commands.yaml; unset = no command mappings")
    commands_client_id: str = "tvilling-commands"
    # Event routes (app/event_delivery.py): events pushed to outside receivers as signed CloudEvents. Loopback only
    # by default (house rule); an administrator adds the CMMS's host (or host:port) to reach a real one.
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1", "localhost"],
        description="hosts (or host:port) routes may send to; comma-separated in the environment")
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="one delivery attempt, connecting to the "
                                                                  "answer's headers, s; under a third of "
                                                                  "webhook_lease_s")
    webhook_max_attempts: int = Field(default=8, ge=1, description="attempts per event before it is dead-lettered")
    webhook_backoff_initial_s: float = Field(default=1.0, gt=0, description="wait after the first failure, s")
    webhook_backoff_max_s: float = Field(default=300.0, gt=0, description="longest wait between attempts, s")
    webhook_poll_s: float = Field(default=1.0, gt=0, description="how often routes look for events from "
                                                                  "other servers sharing the database, s")
    webhook_lease_s: float = Field(default=45.0, gt=0, description="a server's claim on a route; another takes "
                                                                   "it over this long after the first stopped")
    webhook_log_keep: int = Field(default=1000, ge=1, description="delivered entries kept per route (dead letters "
                                                                  "are kept until redelivered or the route goes)")
    # The server key that route signing secrets are derived from; default data_dir/webhook-signing.key, created
    # on first use. Servers sharing a database must share this file, or their signatures differ.
    webhook_key_file: Path | None = None

    @field_validator("webhook_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    @field_validator("webhook_allowed_hosts", mode="after")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        from tvilling.protocols.webhooks import parse_allowed

        for entry in value:
            try:
                parse_allowed(entry)
            except ValueError as exc:
                raise ValueError(f"webhook_allowed_hosts: {exc}; each entry is host, host:port, an IPv6 address, "
                                 "[v6] or [v6]:port, without a scheme or path") from None
        return value

    @model_validator(mode="after")
    def _attempt_within_lease(self) -> Settings:
        if _PARTIAL.get():  # the environment's part of load_settings: the file may still set the other one
            return self
        # A delivery attempt must end well inside the route's lease (renewed in the database before an attempt
        # whenever less than the attempt's time limit plus a margin is left), or another server could take the
        # route over while this one is still sending.
        if self.webhook_timeout_s >= self.webhook_lease_s / 3:
            raise ValueError(f"webhook_timeout_s ({self.webhook_timeout_s:g} s) must be less than a third of "
                             f"webhook_lease_s ({self.webhook_lease_s:g} s): lower TVILLING_WEBHOOK_TIMEOUT_S or "
                             "raise TVILLING_WEBHOOK_LEASE_S")
        return self

    def webhook_key_path(self) -> Path:
        return self.webhook_key_file or self.data_dir / "webhook-signing.key"

    def db_url_value(self) -> str:
        if self.db is not None:
            return self.db.get_secret_value()
        return f"sqlite:///{self.data_dir / 'tvilling.db'}"


_PARTIAL: ContextVar[bool] = ContextVar("tvilling_partial_settings", default=False)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from a config file (YAML or JSON), the environment and explicit overrides.

    ``None`` overrides are ignored so CLI options left unset fall through to env/file/defaults.
    """
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            text = config_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot read config file: {exc.strerror}", where=str(config_file)) from exc
        file_values = _parse_config(text, config_file)
    explicit = {k: v for k, v in overrides.items() if v is not None}
    partial = _PARTIAL.set(True)
    try:
        env_settings = Settings()
    except ValueError as exc:
        raise ConfigurationError(f"invalid settings: {exc}", hint="check TVILLING_* variables") from exc
    finally:
        _PARTIAL.reset(partial)
    # Environment wins over the file: take file values only for fields the environment did not set.
    merged = {k: v for k, v in file_values.items() if k not in env_settings.model_fields_set}
    merged.update(explicit)
    try:
        return Settings(**{**{k: getattr(env_settings, k) for k in env_settings.model_fields_set}, **merged})
    except ValueError as exc:
        raise ConfigurationError(f"invalid settings: {exc}", hint="check TVILLING_* variables and --config") from exc


def _parse_config(text: str, path: Path) -> dict[str, Any]:
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except ValueError as exc:
        raise ConfigurationError(f"config file is not valid: {exc}", where=str(path)) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError("config file must hold a mapping of settings", where=str(path))
    return {str(k).replace("-", "_"): v for k, v in data.items()}


class ClientSettings(BaseSettings):
    """Where the SDK and CLI find the server: ``TVILLING_URL`` and ``TVILLING_TOKEN``."""

    model_config = SettingsConfigDict(env_prefix="TVILLING_", extra="ignore")

    url: str = "http://127.0.0.1:8000"
    token: SecretStr | None = None
