"""``aichatflow``: serve the chat page and APIs, chat from the terminal, list models."""

from __future__ import annotations

import asyncio
import errno
import importlib.util
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click

from .config import Settings
from .errors import AIChatFlowError, ConfigError
from .events import Finish, ReasoningDelta, StreamError, TextDelta, ToolCallDelta
from .messages import ChatRequest, Message
from .providers.build import build_registry

_CONFIG_HELP = "TOML config file (default: $AICHATFLOW_CONFIG; none means the keyless mock)."


def _settings(config: str | None, **overrides: object) -> Settings:
    try:
        return Settings.load(config, overrides=overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aichatflow")
def main() -> None:
    """Stream AI chat to people, token by token.

    \b
    Start here:
      aichatflow serve            chat page on http://127.0.0.1:8080 (keyless mock model)
      aichatflow chat "Hello"     stream an answer into this terminal
      aichatflow models           list the models you can use

    Set OPENAI_API_KEY or DEEPSEEK_API_KEY to add real models, or describe any
    OpenAI-compatible server (vLLM, llama.cpp, LiteLLM...) in a TOML file (--config).
    """


@main.command()
@click.option("--host", default=None, help="Interface to listen on [default: 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [default: 8080].")
@click.option("--config", "config", default=None, help=_CONFIG_HELP)
@click.option("--log-level", default=None, help="debug, info, warning or error [default: info].")
@click.option(
    "--workers",
    metavar="N",
    default=None,
    help="Server processes sharing the port, one per core; 0 or auto: one per CPU [default: 1].",
)
@click.option(
    "--server",
    "server",
    type=click.Choice(["uvicorn", "granian"]),
    default=None,
    help="HTTP server: uvicorn, or granian (faster; aichatflow[granian]) [default: uvicorn].",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Access log (one line per request, on stdout): text or json [default: text].",
)
def serve(
    host: str | None,
    port: int | None,
    config: str | None,
    log_level: str | None,
    workers: str | None,
    server: str | None,
    log_format: str | None,
) -> None:
    """Run the server: the chat page at /, the native SSE API at /api/chat,
    and an OpenAI-compatible API at /v1 (chat/completions, models)."""
    from .server import create_app, run
    from .server.access_log import configure_access_logging
    from .server.connection_cap import raise_fd_limit
    from .server.log_redaction import install_log_redaction, serve_secrets

    settings = _settings(
        config,
        host=host,
        port=port,
        log_level=log_level,
        workers=workers,
        server=server,
        log_format=log_format,
    )
    # The library never configures logging; the command does, in uvicorn's format, and no
    # line it prints shows a configured key (server/log_redaction.py).
    install_log_redaction(serve_secrets(settings, os.environ))
    logging.basicConfig(format="%(levelname)-9s %(name)s: %(message)s")
    logging.getLogger("aichatflow").setLevel(settings.log_level.upper())
    configure_access_logging()
    _require_free_port(settings.host, settings.port)
    _warn_per_worker_state(settings)
    _prepare_store(settings)
    raise_fd_limit()  # before any worker starts: they inherit it (connection_cap.py says why)
    if settings.server == "granian" or settings.workers > 1:
        from .server.metrics.multiprocess import shared_metrics

        with shared_metrics(settings):  # one /metrics over every worker
            if settings.server == "granian":
                _serve_granian(settings)
                return
            status = _serve_workers(settings)
        sys.exit(status)
    try:
        app = create_app(settings)
    except AIChatFlowError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"aichatflow: chat page on http://{settings.host}:{settings.port}/", err=True)
    run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        http=settings.http,
    )


def _require_free_port(host: str, port: int) -> None:
    """Exit with one plain line when ``host:port`` cannot be listened on, before anything else.

    Uvicorn binds only after the app's startup, so on a taken port it would print "chat page on
    ..." and "startup complete" and only then fail with an errno; granian and the worker
    supervisor fail their own ways. One bind attempt here, for every server and worker count,
    says it first and plainly. (Something could still take the port between this check and the
    server's bind; the server's own error covers that rare race.)
    """
    from .server.workers import check_port_free

    try:
        check_port_free(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            message = (
                f"port {port} on {host} is already in use (another aichatflow serve?); "
                "pick another with --port"
            )
        else:
            message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        click.echo(f"error: {message}", err=True)
        sys.exit(1)


def _prepare_store(settings: Settings) -> None:
    """Open the conversation store once before any worker starts: its migrations run here,
    once, and a database that cannot be reached (or a schema that is behind, with ``upgrade =
    false``) stops ``serve`` with one line instead of a traceback from every worker."""
    if not settings.store.enabled:
        return
    from .server.app import open_store

    async def open_and_close() -> None:
        store = await open_store(settings)
        if store is not None:
            await store.aclose()

    try:
        asyncio.run(open_and_close())
    except AIChatFlowError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(1)


def _warn_per_worker_state(settings: Settings) -> None:
    """One warning, in the parent before any worker starts (uvicorn's or granian's), when the
    workers would each keep their own limits and tickets."""
    from .server.limits.build import per_worker_warning

    warning = per_worker_warning(settings)
    if warning is not None:
        logging.getLogger("aichatflow.limits").warning(warning)


def _serve_granian(settings: Settings) -> None:
    if importlib.util.find_spec("granian") is None:
        raise click.ClickException("granian is not installed: pip install 'aichatflow[granian]'")
    from .server import granian_runner

    where = f"{settings.host}:{settings.port}"
    click.echo(f"aichatflow: chat page on http://{where}/ (granian)", err=True)
    granian_runner.run(settings)


def _serve_workers(settings: Settings) -> int:
    from .server.workers import Supervisor

    where = f"{settings.host}:{settings.port}"
    click.echo(f"aichatflow: chat page on http://{where}/ ({settings.workers} workers)", err=True)
    return Supervisor(settings).run()


@main.command()
@click.argument("prompt")
@click.option("-m", "--model", default=None, help="Model, e.g. mock/chat or openai/gpt-4o-mini.")
@click.option("-s", "--system", default=None, help="A system prompt.")
@click.option("--max-tokens", type=int, default=None, help="Upper bound on the answer's tokens.")
@click.option("--config", "config", default=None, help=_CONFIG_HELP)
def chat(
    prompt: str, model: str | None, system: str | None, max_tokens: int | None, config: str | None
) -> None:
    """Stream the answer to PROMPT into the terminal.

    A reasoning model's thoughts go to stderr first (after "thinking: ", dimmed on a
    terminal), then a line break, then the answer on stdout."""
    settings = _settings(config)
    messages = [Message(role="system", content=system)] if system else []
    messages.append(Message(role="user", content=prompt))
    try:
        request = ChatRequest(
            model=model or settings.default_model, messages=messages, max_tokens=max_tokens
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    code = asyncio.run(_chat(settings, request))
    sys.exit(code)


async def _chat(settings: Settings, request: ChatRequest) -> int:
    try:
        registry = build_registry(settings)
    except AIChatFlowError as exc:
        click.echo(f"error: {exc.message}", err=True)
        return 2
    reasoning = _Reasoning()
    try:
        async for event in registry.stream(request):
            if isinstance(event, ReasoningDelta):
                reasoning.write(event.text)
                continue
            reasoning.end()
            if isinstance(event, TextDelta):
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, ToolCallDelta) and event.name:
                sys.stdout.write(f"\n[tool call {event.name}] ")
            elif isinstance(event, ToolCallDelta):
                sys.stdout.write(event.arguments)
            elif isinstance(event, StreamError):
                click.echo(f"\nerror: {event.code}: {event.message}", err=True)
                return 1
            elif isinstance(event, Finish):
                sys.stdout.write("\n")
    except AIChatFlowError as exc:
        click.echo(f"\nerror: {exc.code}: {exc.message}", err=True)
        return 1
    finally:
        reasoning.end()
        await registry.aclose()
    return 0


class _Reasoning:
    """A reasoning model's thoughts on stderr, kept apart from the answer on stdout.

    The thoughts start with "thinking: " and end with a line break at the first event that is
    not reasoning, so the answer starts on a line of its own instead of running on from the
    thoughts' last word ("...its own box.You asked: ...").
    """

    PREFIX = "thinking: "

    def __init__(self) -> None:
        self._dim = sys.stderr.isatty()
        self._open = False

    def write(self, text: str) -> None:
        if not self._open:
            self._open = True
            text = self.PREFIX + text
        sys.stderr.write(f"\x1b[2m{text}\x1b[0m" if self._dim else text)
        sys.stderr.flush()

    def end(self) -> None:
        if self._open:
            self._open = False
            sys.stderr.write("\n")
            sys.stderr.flush()


@main.command()
@click.option("--config", "config", default=None, help=_CONFIG_HELP)
def models(config: str | None) -> None:
    """List the models this configuration can serve (aliases included)."""
    settings = _settings(config)
    try:
        registry = build_registry(settings)
    except AIChatFlowError as exc:
        raise click.ClickException(str(exc)) from None

    async def listed() -> list[tuple[str, str]]:
        try:
            await registry.refresh_models()  # upstreams that list their own models
            return registry.model_ids()
        finally:
            await registry.aclose()

    for model, _owner in asyncio.run(listed()):
        marker = "  (default)" if model == settings.default_model else ""
        click.echo(f"{model}{marker}")


@main.group()
def keys() -> None:
    """Client keys for [auth] (docs/production.md, Access keys)."""


@keys.command("new")
@click.option("--id", "key_id", required=True, help="The key's name in logs and metrics.")
@click.option("--models", "models", multiple=True, metavar="GLOB", help="A model it may use.")
@click.option("--rpm", type=click.IntRange(min=1), default=None, help="Requests per minute.")
@click.option("--tpm", type=click.IntRange(min=1), default=None, help="Tokens per minute.")
@click.option("--max-streams", type=click.IntRange(min=1), default=None, help="Streams at once.")
def keys_new(
    key_id: str, models: tuple[str, ...], rpm: int | None, tpm: int | None, max_streams: int | None
) -> None:
    """Make a key: print it once, and the TOML that enables it (only its hash).

    \b
    The TOML goes to stdout, the key to stderr (shown once, nothing is written anywhere):
      aichatflow keys new --id team-a --models "openai/*" --rpm 60 >> aichatflow.toml
    --models may be repeated (globs); without it the key may use every model."""
    from .server.key_table import KeyTableError, new_key, toml_entry

    key = new_key()
    try:
        entry = toml_entry(key_id, key, models=models, rpm=rpm, tpm=tpm, max_streams=max_streams)
    except KeyTableError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"New key for {key_id!r}, shown this once (only its hash is stored):", err=True)
    click.echo(f"  {key}", err=True)
    click.echo(entry, nl=False)


@keys.command("hash")
def keys_hash() -> None:
    """Print the sha256 of a key read from stdin (one line), for [[auth.keys]]."""
    from .config import key_digest

    key = sys.stdin.readline().strip()
    if not key:
        raise click.ClickException("no key on stdin")
    click.echo(key_digest(key))


@main.group()
def db() -> None:
    """The conversation store's schema ([store] url; docs/conversations.md)."""


_URL_HELP = "Database URL (default: [store] url of the config)."


def _store_database(config: str | None, url: str | None) -> Any:
    from .store.database import Database

    settings = _settings(config, store={"url": url} if url else None)
    if not settings.store.enabled:
        raise click.ClickException("store.url is 'off': there is no database")
    try:
        return Database(settings.store.url, pool_size=1)
    except AIChatFlowError as exc:
        raise click.ClickException(exc.message) from None


def _run_on(database: Any, work: Callable[[Any], Awaitable[str | None]]) -> str | None:
    """``work(database)``, then the database closed; its failure as one line, password
    redacted (``store/database.py``)."""
    from .store.database import describe

    async def run() -> str | None:
        try:
            return await work(database)
        finally:
            await database.aclose()

    try:
        return asyncio.run(run())
    except Exception as exc:
        raise click.ClickException(
            f"store {database.shown_url}: {describe(database.url, exc)}"
        ) from None


@db.command("upgrade")
@click.option("--config", "config", default=None, help=_CONFIG_HELP)
@click.option("--url", default=None, help=_URL_HELP)
def db_upgrade(config: str | None, url: str | None) -> None:
    """Bring the schema to this version's (serve does it at start unless [store] upgrade =
    false). Safe to run again, and from several machines at once."""
    from .store import migrate

    database = _store_database(config, url)
    revision = _run_on(database, migrate.upgrade)
    click.echo(f"{database.shown_url}: schema at revision {revision}")


@db.command("current")
@click.option("--config", "config", default=None, help=_CONFIG_HELP)
@click.option("--url", default=None, help=_URL_HELP)
def db_current(config: str | None, url: str | None) -> None:
    """Print the schema's revision ("none" before the first upgrade) and whether it is this
    version's."""
    from .store import migrate

    database = _store_database(config, url)
    revision = _run_on(database, migrate.current)
    head = migrate.head()
    state = "current" if revision == head else f"behind {head}: run aichatflow db upgrade"
    click.echo(f"{revision or 'none'} ({state})")


__all__ = ["main"]
