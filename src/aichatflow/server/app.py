"""``create_app(settings)``: the Starlette app behind ``aichatflow serve``.

The lifespan owns the provider registry (and so every upstream HTTP client): it is built at
start-up, where a bad config fails loudly, and closed at shutdown; with Redis storage it also
shares the registry's fallback cooldowns with other instances (``redis_cooldowns.py``). It
opens the conversation store too (``app.state.store``; ``None`` with ``[store] url =
"off"``), migrating its schema first when ``[store] upgrade``, and closes it at shutdown.
Streams in flight at shutdown are ended by ``aichatflow.server.runner`` with a
``server_shutting_down`` frame before uvicorn waits for connections to close.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Mount, Route

from ..config import Settings
from ..dialects.anthropic_request import parse_messages_request
from ..dialects.vercel_request import parse_ui_chat_request
from ..errors import AIChatFlowError
from ..journal.build import build_journal
from ..journal.run import Runs
from ..providers.build import build_registry
from ..providers.registry import Registry
from ..stream.limits import StreamLimits
from . import routes
from .access_log import AccessLog
from .auth import build_keys, mint_ticket
from .chat_endpoint import ChatApp, ChatEndpoint
from .conversations import conversation_routes
from .cors import build_cors
from .errors import handle_aichatflow_error, handle_http_exception, handle_unexpected_error
from .gate import Parts
from .hosts import HostPolicy
from .limits import build_limiter
from .metrics import build_metrics
from .page_headers import PageFiles
from .redis_cooldowns import share_cooldowns
from .resume import resume_stream, stop_stream
from .run_flow import RunFlow
from .turns import StoredTurns
from .ui_chat import resume_ui_stream, stop_ui_stream, ui_chat

if TYPE_CHECKING:
    from ..store.conversations import ConversationStore


def production_parts(settings: Settings, registry: Registry | None = None) -> Parts:
    """The production layer's parts for ``settings`` (``server/production.py``); a part that
    is off is ``None``, and the request flow skips it."""
    return Parts(
        keys=build_keys(settings),
        limiter=build_limiter(settings),
        metrics=build_metrics(settings, registry=registry),
        cors=build_cors(settings),
        access_log=AccessLog(settings.log_format),
    )


async def open_store(settings: Settings) -> ConversationStore | None:
    """The conversation store ``[store]`` asks for (migrated when ``upgrade``), or ``None``
    when it is ``"off"``. SQLAlchemy loads only here, and only when a store is configured."""
    if not settings.store.enabled:
        return None
    from ..store.conversations import ConversationStore

    config = settings.store
    return await ConversationStore.open(
        config.url, upgrade=config.upgrade, pool_size=config.pool_size
    )


def create_app(settings: Settings | None = None, *, registry: Registry | None = None) -> Starlette:
    """Build the app. Pass ``registry`` to use providers built elsewhere (tests, embedding)."""
    settings = settings or Settings.load()
    own_registry = registry is None
    registry = registry or build_registry(settings)
    parts = production_parts(settings, registry)
    shared_cooldowns = share_cooldowns(settings, registry)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store = await open_store(settings)
        app.state.store = store
        if store is not None and run_flow is not None:
            run_flow.turns = StoredTurns(store)
            if not run_flow.journal.shared and settings.workers == 1:
                # this process's memory held every run: those of the last one are gone
                await store.abandon_in_progress()
        if shared_cooldowns is not None:
            shared_cooldowns.start()
        try:
            yield
        finally:
            if runs is not None:
                await runs.aclose()
            if shared_cooldowns is not None:
                await shared_cooldowns.aclose()
            if store is not None:
                await store.aclose()
            if parts.limiter is not None:
                await parts.limiter.aclose()
            if parts.keys is not None:
                await parts.keys.aclose()
            if own_registry:
                await registry.aclose()

    limits = StreamLimits(**settings.stream.limits())
    journal = build_journal(settings)
    runs = Runs(journal, limits) if journal is not None else None
    run_flow = RunFlow(runs, settings) if runs is not None else None

    native, openai = ChatEndpoint(routes.native_chat), ChatEndpoint(routes.openai_chat)
    anthropic = ChatEndpoint(routes.anthropic_chat, parse_messages_request)
    ui = ChatEndpoint(ui_chat(settings.ui.sdk_major), parse_ui_chat_request)
    endpoints = {
        "/api/chat": native,
        "/api/ui/chat": ui,
        "/v1/chat/completions": openai,
        "/v1/messages": anthropic,
    }
    app = ChatApp(
        endpoints,
        hosts=HostPolicy(settings.allowed_hosts, bind_host=settings.host),
        parts=parts,
        routes=[
            Route("/", routes.page, methods=["GET"]),
            Route("/api/config", routes.page_config, methods=["GET"]),
            Route("/api/tickets", mint_ticket, methods=["POST"]),
            Route("/api/chat", native, methods=["POST"]),
            *(
                [
                    Route("/api/chat/{stream_id}/stream", resume_stream, methods=["GET"]),
                    Route("/api/chat/{stream_id}/stop", stop_stream, methods=["POST"]),
                ]
                if run_flow is not None
                else []
            ),
            Route("/api/ui/chat", ui, methods=["POST"]),
            Route("/api/ui/chat/{chat_id}/stream", resume_ui_stream, methods=["GET"]),
            Route("/api/ui/chat/{chat_id}/stop", stop_ui_stream, methods=["POST"]),
            Route("/v1/chat/completions", openai, methods=["POST"]),
            Route("/v1/messages", anthropic, methods=["POST"]),
            Route("/v1/models", routes.list_models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", routes.retrieve_model, methods=["GET"]),
            Route("/healthz", routes.healthz, methods=["GET"]),
            Mount("/static", PageFiles(directory=routes.STATIC), name="static"),
            *(conversation_routes() if settings.store.enabled else []),
            *(
                [Route("/metrics", parts.metrics.endpoint, methods=["GET"])]
                if parts.metrics
                else []
            ),
        ],
        exception_handlers={
            AIChatFlowError: handle_aichatflow_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = None
    app.state.registry = registry
    app.state.keys = parts.keys
    app.state.limits = limits
    app.state.run_flow = run_flow
    return app


__all__ = ["create_app", "open_store", "production_parts"]
