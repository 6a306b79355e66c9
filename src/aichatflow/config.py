"""Settings from defaults, a TOML file, the environment and CLI flags, in rising precedence.

This module only describes: it reads, validates and merges settings, and imports no provider,
stream or server code. What the settings become lives with what they configure:
``providers/build.py`` creates the providers (``build_registry(settings)``), ``server/app.py``
the app and its stream limits.

With no config at all the server runs on the keyless ``mock`` provider; ``openai``,
``deepseek`` and ``anthropic`` appear by themselves when their key variables are set, and
``local`` (a real small model, no key, no network) when ``aichatflow[local]`` is installed:
each provider kind says itself when it is available (``providers/detection.py``).

TOML (every key optional)::

    default_model = "mock/chat"
    host = "127.0.0.1"
    port = 8080
    workers = 1                  # server processes (serve); 0 or "auto": one per CPU
    server = "uvicorn"           # or "granian" (pip install 'aichatflow[granian]')
    max_body_bytes = 1048576
    allowed_hosts = []           # names besides localhost and IP addresses; see below
    log_format = "text"          # the access log (serve: stdout): text or json

    [stream]                     # timers in seconds (docs/configuration.md)
    first_token = 120
    progress = 120
    max_duration = 900
    send_timeout = 10
    heartbeat = 15

    [http]                       # client connections (server/guarded_protocol.py)
    max_header_bytes = 65536     # request line + headers; more: 431, connection closed
    max_headers = 100            # more: 431
    header_timeout = 10          # seconds for a whole request head; then 408 (or a quiet close)
    body_timeout = 30            # seconds for a whole request body; then 408
    max_connections = 0          # 0: derived from the file-descriptor limit (see HttpSettings)

    [providers.upstream]         # reached as "upstream/<model>"
    kind = "openai-compatible"   # or openai, deepseek, vllm, llamacpp, litellm, mock
    base_url = "http://127.0.0.1:9000/v1"
    api_key_env = "UPSTREAM_API_KEY"
    models = ["my-model"]        # listed in /v1/models; without it, the upstream's own
                                 # GET {base_url}/models (cached 5 min, failure tolerated)
    pool_size = 1000             # connections to this upstream at once (its own pool);
                                 # past it, requests wait for one to come free
    keepalive = 15               # seconds an idle connection is kept; 0: none is

    [models]                     # aliases; a list is a fallback chain
    fast = "upstream/my-model"
    safe = ["openai/gpt-4o-mini", "deepseek/deepseek-chat"]

    [fallback]                   # a deployment failing more than allowed_fails times within
    allowed_fails = 1            # `window` seconds is skipped for `cooldown` seconds
    cooldown = 30

    [limits]                     # server/limits/, docs/production.md (Limits)
    storage = "memory://"        # or "redis://[:password@]host:6379/0" (pip install
                                 # 'aichatflow[redis]'): limits, tickets and fallback
                                 # cooldowns (server/redis_cooldowns.py) shared by every
                                 # worker and instance; memory://: per worker
    max_streams = 0              # streams at once on the server (all instances); 0: no cap
    ip_rpm = 0                   # requests per minute per address, callers without a key
    reserve_tokens = 1024        # reserved against a key's tpm without max_tokens

    [cors]                       # none by default: the chat page is same-origin
    allow_origins = []           # exact origins ("https://app.example"); "*" for any
    max_age = 600                # seconds a browser may cache a preflight

    [auth]                       # client keys (server/auth.py); none: no route wants one
    ticket_ttl = 60              # seconds a POST /api/tickets ticket lives (single use, <= 60)

    [[auth.keys]]                # `aichatflow keys new --id team-a` prints this entry
    id = "team-a"                # the key's name in logs and metrics
    sha256 = "<64 hex digits>"   # SHA-256 of the key; the key itself is never stored
    models = ["openai/*"]        # globs of the models it may use; left out: all
    rpm = 60                     # optional limits: rpm, tpm, max_streams
    disabled = false             # revoked: the same 401 as an unknown key

    [journal]                    # runs that outlive their connection (docs/journal.md)
    backend = "memory"           # or "off" (the direct path) or "redis" (several instances)
    ttl = 600                    # seconds a finished run can be resumed
    # url, max_stream_bytes, max_bytes: journal_settings.py; [stream] on_disconnect
    # = "continue" | "cancel"; [dedup] mode; [cache] ttl, max_bytes

    [store]                      # stored conversations (docs/conversations.md)
    url = "sqlite+aiosqlite:///aichatflow.db"  # relative to the working directory;
                                 # "postgresql+asyncpg://user:pw@host/db" (pip install
                                 # 'aichatflow[postgres]') for several instances; "off": none
    upgrade = true               # bring the schema to this version's at start-up
    pool_size = 10               # PostgreSQL connections per process (SQLite: unused)

    [metrics]                    # GET /metrics (server/metrics/)
    enabled = true
    public = false               # no key needed for /metrics even when keys are configured
    key_labels = false           # a `key` label (key id) on requests_total and tokens_total

    [ui]                         # POST /api/ui/chat (docs/vercel.md)
    sdk_major = 6                # the front end's `ai` major: 5 or 6 (ui_settings.py)

Each ``[[auth.keys]]`` entry may carry its own limits: ``rpm`` (requests per sliding minute),
``tpm`` (tokens per minute, reserved at the start and settled to the usage at the end) and
``max_streams`` (streams at once). Past a key's or an address's limit: 429 ``rate_limited``;
past the server's ``max_streams``, or with Redis unreachable: 503 ``over_capacity``.

``allowed_hosts``: the ``Host`` names the server answers to, besides ``localhost``, any IP
address and ``host`` itself when it is a name; any other ``Host`` gets a 400 on every route
but ``/healthz``, so a DNS-rebinding page (``evil.example`` pointed at ``127.0.0.1``) cannot
read answers. Bound to ``0.0.0.0``, the server is reachable by address without listing
anything; list the DNS names clients use (``["chat.example.com", "*.internal.example"]``:
``*.`` matches subdomains). ``"*"`` accepts any ``Host`` and so turns the guard off: use it
only behind a reverse proxy that checks ``Host`` itself (``server/hosts.py`` says why
addresses are safe to accept and names are not).

Environment: ``AICHATFLOW_CONFIG`` (the file), ``AICHATFLOW_HOST``, ``AICHATFLOW_PORT``,
``AICHATFLOW_WORKERS``, ``AICHATFLOW_SERVER``, ``AICHATFLOW_DEFAULT_MODEL``,
``AICHATFLOW_MAX_BODY_BYTES``, ``AICHATFLOW_LOG_LEVEL``, ``AICHATFLOW_LOG_FORMAT``,
``AICHATFLOW_AUTO_DETECT``,
``AICHATFLOW_ALLOWED_HOSTS`` (comma-separated), ``AICHATFLOW_API_KEYS`` (raw client keys,
comma-separated, hashed at load into more ``auth.keys``),
``AICHATFLOW_STREAM_<TIMER>`` (e.g. ``AICHATFLOW_STREAM_HEARTBEAT=5``),
``AICHATFLOW_HTTP_<FIELD>`` (e.g. ``AICHATFLOW_HTTP_HEADER_TIMEOUT=5``),
``AICHATFLOW_CORS_ALLOW_ORIGINS`` (comma-separated), ``AICHATFLOW_CORS_MAX_AGE``,
``AICHATFLOW_JOURNAL_<FIELD>``, ``AICHATFLOW_DEDUP_MODE``, ``AICHATFLOW_CACHE_TTL``,
``AICHATFLOW_UI_SDK_MAJOR``,
``AICHATFLOW_LIMITS_<FIELD>`` (e.g. ``AICHATFLOW_LIMITS_STORAGE=redis://redis:6379/0``; its
password is printed only redacted) and ``AICHATFLOW_STORE_<FIELD>`` (e.g.
``AICHATFLOW_STORE_URL=postgresql+asyncpg://app:pw@db/app``, likewise redacted). Keys are read
from the environment by the providers themselves and are never part of ``Settings``' printable
form: ``repr``/``str`` show a provider table's ``api_key`` and credential headers, and the
passwords of ``[limits] storage`` and ``[store] url``, as ``[REDACTED]``, and a
``ConfigError`` names what is wrong, never the value given.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .journal_settings import CacheSettings, DedupSettings, JournalSettings
from .redaction import CREDENTIAL_NAME, REDACTED, redact_url
from .ui_settings import UiSettings

ENV_PREFIX = "AICHATFLOW_"


class StreamSettings(BaseModel):
    """The ``[stream]`` timers; the server turns them into the engine's ``StreamLimits``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    first_token: float = Field(120.0, gt=0)
    progress: float = Field(120.0, gt=0)
    max_duration: float = Field(900.0, gt=0)
    send_timeout: float = Field(10.0, gt=0)
    heartbeat: float = Field(15.0, gt=0)
    retry_ms: int = Field(2000, ge=0)
    on_disconnect: Literal["auto", "continue", "cancel"] = "auto"
    """What a run does when its last reader leaves: ``continue`` (the answer finishes and is
    kept: the default with a journal) or ``cancel`` (the upstream is closed: the default, and
    the only choice, without one). Not a timer: ``StreamLimits`` does not take it."""

    def limits(self) -> dict[str, Any]:
        """The fields the engine's ``StreamLimits`` takes."""
        return self.model_dump(exclude={"on_disconnect"})


class FallbackSettings(BaseModel):
    """Cooldown of failing deployments in fallback chains (``providers/fallback.py``); shared
    by every instance when ``[limits] storage`` is Redis (``server/redis_cooldowns.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    allowed_fails: int = Field(1, ge=0)
    cooldown: float = Field(30.0, ge=0)
    window: float = Field(60.0, gt=0)


class HttpSettings(BaseModel):
    """Limits on client connections, enforced before a request reaches the app.

    On uvicorn by ``server/guarded_protocol.py`` (the head limits, the head timeout and the
    connection cap); the body timeout by the chat endpoints' body reader, on any server. On
    granian, ``server/granian_runner.py`` says which of them granian itself applies.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_header_bytes: int = Field(64 * 1024, ge=8192)
    """The request line plus all headers; a longer head is answered 431 and the connection
    closed, so an endless header cannot grow the server's memory."""
    max_headers: int = Field(100, ge=1)
    """Header fields per request (the limit Apache and hyper use); more: 431."""
    header_timeout: float = Field(10.0, gt=0)
    """Seconds a connection has to deliver a whole request head: counted from the connection's
    start, and from the end of the previous response on a kept-alive connection. A head that
    started but did not finish is answered 408; a connection that sent nothing is closed (on
    granian: closed without a 408, and counted from the first byte only)."""
    body_timeout: float = Field(30.0, gt=0)
    """Seconds for a whole request body, counted from the end of its head; then 408."""
    max_connections: int = Field(0, ge=0)
    """Client connections at once (uvicorn only). Past it, the connection waiting longest for a
    request head is closed to make room, or, when every connection is busy with a request, new
    requests get 503 (but ``/healthz``). ``0``: derived from the file-descriptor limit,
    ``(RLIMIT_NOFILE - 32) // 2`` (a proxied stream holds two descriptors; 32 are kept for
    everything else); ``serve`` first raises its soft limit to the hard one."""


def comma_list(value: Any) -> list[str] | None:
    """A list setting given as a list, or as one comma-separated string (the environment's
    form): its items stripped, empty ones dropped; ``None`` for any other type."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list | tuple):
        return None
    return [str(v).strip() for v in value if str(v).strip()]


KEY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class ApiKey(BaseModel):
    """One client key of ``[[auth.keys]]``: its name, the SHA-256 of the key (the key itself is
    never stored; ``aichatflow keys new`` prints both) and its own limits (none: unlimited)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=KEY_ID_PATTERN)
    """The key's name in logs and metrics: never the key."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    models: tuple[str, ...] | None = None
    """Globs of the models this key may use (``"openai/*"``, ``"fast"``); none: every model."""
    rpm: int | None = Field(None, ge=1)
    """Requests per minute (a sliding minute)."""
    tpm: int | None = Field(None, ge=1)
    """Tokens per minute: reserved from ``max_tokens`` when a stream starts, settled from the
    usage it reported when it ends."""
    max_streams: int | None = Field(None, ge=1)
    """Streams of this key open at once."""
    disabled: bool = False
    """A revoked key: kept in the file (its id stays known to logs), refused with 401."""

    @field_validator("sha256", mode="before")
    @classmethod
    def _lower_hex(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class AuthSettings(BaseModel):
    """``[auth]``: with at least one key, every route but the page, its files and ``/healthz``
    wants one (``server/auth.py``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    keys: tuple[ApiKey, ...] = ()
    ticket_ttl: float = Field(60.0, gt=0, le=60)
    """Seconds a ticket from ``POST /api/tickets`` stays valid (single use, at most 60)."""

    @model_validator(mode="after")
    def _unique_ids(self) -> AuthSettings:
        ids = [key.id for key in self.keys]
        for key_id in ids:
            if ids.count(key_id) > 1:
                raise ValueError(f"auth.keys: the id {key_id!r} is used more than once")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.keys)


class LimitsSettings(BaseModel):
    """``[limits]``: the server's capacity and the limits of anonymous callers; each key's own
    limits are on the key (``server/limits/``).

    ``storage`` may hold a password (``redis://:secret@host``): the repr and the configuration
    errors show it redacted."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    storage: str = "memory://"
    """Where counts, stream tickets and fallback cooldowns live: ``memory://`` (this process:
    per worker) or ``redis://host:port/db`` (shared by every worker and instance using the same
    Redis)."""
    max_streams: int = Field(0, ge=0)
    """Streams open at once on this server (with Redis: on all instances); 0: no cap. Past
    it: 503 ``over_capacity``."""
    ip_rpm: int = Field(0, ge=0)
    """Requests per minute per client address, for callers without a key; 0: no limit."""
    reserve_tokens: int = Field(1024, ge=0)
    """Tokens reserved against a key's ``tpm`` for a request without ``max_tokens``."""

    @field_validator("storage")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        if value != "memory://" and not value.startswith(("redis://", "rediss://", "unix://")):
            # Not quoted back: the value may hold a password (a URL with a typo in its scheme)
            raise ValueError("'memory://' or a redis://, rediss:// or unix:// URL")
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """The storage URL without its password (``repr`` and ``str`` show this)."""
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "storage" else value


STORE_SCHEMES = ("sqlite", "sqlite+aiosqlite", "postgres", "postgresql", "postgresql+asyncpg")
"""``[store] url`` schemes; ``store/database.py`` picks the async driver of each."""


class StoreSettings(BaseModel):
    """``[store]``: where conversations are kept (``store/``, docs/conversations.md).

    ``url`` may hold a password (``postgresql+asyncpg://app:secret@db/app``): the repr and the
    configuration errors show it redacted."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    url: str = "sqlite+aiosqlite:///aichatflow.db"
    """``sqlite+aiosqlite:///path`` (a relative path is relative to the working directory;
    four slashes for an absolute one), ``postgresql+asyncpg://user:password@host/db`` for
    several instances sharing one database, or ``"off"``: no conversations are stored and
    ``/api/conversations`` does not exist. ``sqlite://`` and ``postgresql://`` mean the same."""
    upgrade: bool = True
    """Bring the schema to this version's at start-up (``aichatflow db upgrade`` does it by
    hand); off, a schema that is behind stops the start-up with an error instead."""
    pool_size: int = Field(10, ge=1, le=1000)
    """PostgreSQL connections per server process, at most (SQLite writes one at a time)."""

    @field_validator("url")
    @classmethod
    def _known_url(cls, value: str) -> str:
        value = value.strip()
        scheme, sep, _ = value.partition("://")
        if value != "off" and not (sep and scheme.lower() in STORE_SCHEMES):
            # Not quoted back: the value may hold a password
            raise ValueError("'off', a sqlite+aiosqlite:///path or a postgresql+asyncpg:// URL")
        return value

    @property
    def enabled(self) -> bool:
        return self.url != "off"

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """The URL without its password (``repr`` and ``str`` show this)."""
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "url" else value


class MetricsSettings(BaseModel):
    """``[metrics]``: ``GET /metrics`` in Prometheus text (``server/metrics/``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    public: bool = False
    """Serve ``/metrics`` without a key even when keys are configured."""
    key_labels: bool = False
    """Add a ``key`` label (the key's id) to the request and token series. Off by default: each
    key multiplies the series count."""


class CorsSettings(BaseModel):
    """``[cors]``: which other origins' pages may call the API (``server/cors.py``). None by
    default: the chat page is same-origin and needs no CORS."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    allow_origins: tuple[str, ...] = ()
    """Exact origins (``https://app.example``); ``"*"`` for any, then without credentials."""
    max_age: int = Field(600, ge=0)

    @field_validator("allow_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        items = comma_list(value)
        if items is None:
            return value  # pydantic reports the type
        origins = [item.rstrip("/") for item in items]
        for origin in origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"cors.allow_origins: {origin!r} is not an origin (scheme://host)")
        return origins


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    workers: int = 1
    """Server processes for ``serve``, each with its own listening socket on ``host:port``
    (``server/workers.py``); ``0`` or ``"auto"`` means one per CPU."""
    server: Literal["uvicorn", "granian"] = "uvicorn"
    """The HTTP server ``serve`` runs the app on (``server/granian_runner.py`` says why both)."""
    default_model: str = "mock/chat"
    max_body_bytes: int = Field(1024 * 1024, gt=0)
    allowed_hosts: tuple[str, ...] = ()
    """``Host`` names answered besides ``localhost``, IP addresses and ``host`` (the module
    docstring): exact names, ``*.example.com`` for subdomains, ``*`` for any."""
    log_level: str = "info"
    auto_detect: bool = True
    """Register providers found on this machine, as each provider kind detects itself
    (``providers/detection.py``): ``openai``/``deepseek``/``anthropic`` when their key
    variable is set, ``local`` when llama-cpp-python and a model are installed."""
    stream: StreamSettings = StreamSettings()
    providers: dict[str, dict[str, Any]] = {}
    models: dict[str, str | list[str]] = {}
    """Aliases: a name → ``provider/model``, or a list of them tried in order (fallback)."""
    fallback: FallbackSettings = FallbackSettings()
    http: HttpSettings = HttpSettings()
    auth: AuthSettings = AuthSettings()
    limits: LimitsSettings = LimitsSettings()
    metrics: MetricsSettings = MetricsSettings()
    store: StoreSettings = StoreSettings()
    cors: CorsSettings = CorsSettings()
    log_format: Literal["text", "json"] = "text"
    """The access log's form (logger ``aichatflow.access``): one line per finished request."""
    journal: JournalSettings = JournalSettings()
    dedup: DedupSettings = DedupSettings()
    cache: CacheSettings = CacheSettings()
    ui: UiSettings = UiSettings()

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Provider tables without their keys (``repr`` and ``str`` show this): ``api_key``
        and the values of credential headers are ``[REDACTED]``."""
        for name, value in super().__repr_args__():
            if name == "providers":
                value = {table: _shown_options(options) for table, options in value.items()}
            yield name, value

    @field_validator("workers", mode="before")
    @classmethod
    def _worker_count(cls, value: Any) -> Any:
        """``0``/``"auto"`` resolve here, so ``workers`` is always the real process count."""
        text = str(value).strip().lower()
        if text in ("0", "auto"):
            return os.cpu_count() or 1
        if text.startswith("-") and text[1:].isdigit():
            raise ValueError(f"workers must be 1 or more, or 0/auto for one per CPU (got {value})")
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_names(cls, value: Any) -> Any:
        """A comma-separated string (the environment) or a list; each a bare host name."""
        items = comma_list(value)
        if items is None:
            return value  # pydantic reports the type
        names = [item.lower() for item in items]
        for name in names:
            subdomains = name.startswith("*.") and "*" not in name[2:]
            if "*" in name and name != "*" and not subdomains:
                raise ValueError(f"allowed_hosts: {name!r}: a wildcard is '*' or '*.domain'")
            if ":" in name and not (name.startswith("[") and name.endswith("]")):
                raise ValueError(
                    f"allowed_hosts: {name!r}: a name without a port (IP addresses need no entry)"
                )
        return names

    @model_validator(mode="after")
    def _one_port_for_all_workers(self) -> Settings:
        if self.workers > 1 and self.port == 0:
            raise ValueError(
                "port 0 (any free port) cannot be shared by several workers: each would listen "
                "on a different port; set a port, or use workers = 1"
            )
        return self

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Defaults < TOML file < environment < ``overrides`` (CLI flags)."""
        env = os.environ if env is None else env
        path = path or env.get(ENV_PREFIX + "CONFIG")
        data: dict[str, Any] = _read_toml(Path(path)) if path else {}
        data = _merge(data, _from_env(env))
        data = _with_env_keys(data, env.get(ENV_PREFIX + "API_KEYS"))
        data = _merge(data, {k: v for k, v in (overrides or {}).items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"invalid configuration:\n{_described(exc)}") from None


def _described(exc: ValidationError) -> str:
    """Each error as ``where: what``, without the value that was given: pydantic's own text
    quotes it (``input_value=...``), and a value in the wrong place is often a key or a
    password (a raw key pasted as ``sha256``, a mistyped ``storage`` URL)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


def _shown_options(options: Any) -> Any:
    """A provider table as ``repr`` shows it: ``api_key`` and credential headers redacted."""
    if not isinstance(options, Mapping):
        return options
    shown = dict(options)
    if shown.get("api_key"):
        shown["api_key"] = REDACTED
    headers = shown.get("headers")
    if isinstance(headers, Mapping):
        shown["headers"] = {
            k: REDACTED if CREDENTIAL_NAME.search(str(k)) else v for k, v in headers.items()
        }
    return shown


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fields = ("host", "port", "workers", "server", "default_model", "max_body_bytes", "log_level")
    for field in (*fields, "auto_detect", "allowed_hosts", "log_format"):
        value = env.get(ENV_PREFIX + field.upper())
        if value is not None:
            out[field] = value
    tables: tuple[tuple[str, type[BaseModel]], ...] = (
        ("stream", StreamSettings),
        ("http", HttpSettings),
        ("limits", LimitsSettings),
        ("metrics", MetricsSettings),
        ("cors", CorsSettings),
        ("journal", JournalSettings),
        ("dedup", DedupSettings),
        ("cache", CacheSettings),
        ("store", StoreSettings),
        ("ui", UiSettings),
    )
    for table, model in tables:
        prefix = f"{ENV_PREFIX}{table.upper()}_"
        names = {f: prefix + f.upper() for f in model.model_fields}
        values = {f: env[name] for f, name in names.items() if name in env}
        if values:
            out[table] = values
    return out


def key_digest(key: str) -> str:
    """The SHA-256 (hex) a key is configured and compared by."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _with_env_keys(data: dict[str, Any], raw: str | None) -> dict[str, Any]:
    """``AICHATFLOW_API_KEYS`` (raw keys, comma-separated, for containers) → more
    ``auth.keys``, each hashed at once and named ``env-`` + the first 8 hex digits of its hash;
    the raw keys go no further than this function."""
    keys = [k.strip() for k in (raw or "").split(",") if k.strip()]
    if not keys:
        return data
    auth = dict(data.get("auth") or {})
    listed = list(auth.get("keys") or [])
    for key in keys:
        digest = key_digest(key)
        listed.append({"id": "env-" + digest[:8], "sha256": digest})
    auth["keys"] = listed
    return {**data, "auth": auth}


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


__all__ = [
    "ENV_PREFIX",
    "KEY_ID_PATTERN",
    "ApiKey",
    "AuthSettings",
    "CorsSettings",
    "FallbackSettings",
    "HttpSettings",
    "LimitsSettings",
    "MetricsSettings",
    "Settings",
    "StoreSettings",
    "StreamSettings",
    "key_digest",
]
