"""``POST /api/ui/chat`` and ``useChat``'s resume and stop (docs/vercel.md).

The chat route is a ``ChatEndpoint`` like the others (``dialects/vercel_request.py`` reads the
body, ``dialects/vercel_ui.py`` writes the stream), so it goes through the run flow: with a
journal and a conversation store, each request is a stored turn of the conversation its chat id
names, and its run outlives the connection.

``useChat`` finds an answer again by its chat id, not by a stream id: on mount, with
``resume: true``, it asks ``GET /api/ui/chat/{id}/stream``, and expects ``204`` when nothing is
being written, else the answer from its first part (the client treats it as a replay of the
whole message). The chat id leads to the run through the store: the conversation
``ui_conversation_id(owner, id)`` whose last message is an answer still in progress names its
run (``ConversationStore.live_stream``). Without a store (or a journal) nothing can be found, so
the resume is always a 204 and the stop stops nothing; such a run is cancelled when its reader
leaves (``server/run_flow.py``), since no one could read it again.

A chat id is looked up under the caller's key only: another key's chat, an unknown chat and a
finished one all get the same answer (204, or ``"stopped": false``), from the same code path.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..chat_stream import ChatStream
from ..dialects.vercel_request import MAX_CHAT_ID
from ..dialects.vercel_ui import SdkMajor, UIMessageStreamDialect
from ..errors import RequestError
from ..journal.backend import RunInfo
from ..journal.reader import reader_limits
from ..messages import ChatRequest
from ..providers.registry import Registry
from ..stream.limits import StreamLimits
from ..stream.response import EventStreamResponse, new_stream_id
from .chat_endpoint import Build
from .resume import JOURNAL_DOWN, owner_of, rejoin
from .routes import without_conversation
from .run_flow import RunFlow
from .turns import ui_conversation_id


def ui_chat(sdk_major: SdkMajor) -> Build:
    """The build function of ``POST /api/ui/chat`` for a front end on AI SDK ``sdk_major``."""

    def build(registry: Registry, limits: StreamLimits, chat: ChatRequest) -> EventStreamResponse:
        registry.plan(chat.model)  # UnknownModel: 404 before any header
        stream = registry.stream(without_conversation(chat))
        stream_id = new_stream_id()
        dialect = UIMessageStreamDialect(stream_id, chat.model, sdk_major=sdk_major)
        return EventStreamResponse(stream, dialect=dialect, limits=limits, stream_id=stream_id)

    return build


async def _live_run(request: Request) -> RunInfo | None:
    """The live run answering the chat in the path, if the caller's key has one."""
    chat_id: str = request.path_params["chat_id"]
    if not 1 <= len(chat_id) <= MAX_CHAT_ID:
        raise RequestError(f"a chat id has 1 to {MAX_CHAT_ID} characters")
    flow: RunFlow | None = request.app.state.run_flow
    store = request.app.state.store
    if flow is None or store is None:
        return None
    owner = owner_of(request)
    try:
        stream_id = await store.live_stream(owner, ui_conversation_id(owner, chat_id))
        info = None if stream_id is None else await flow.journal.info(stream_id)
    except Exception:
        raise JOURNAL_DOWN from None
    if info is None or info.owner != owner or info.state == "expired":
        return None
    return info


async def resume_ui_stream(request: Request) -> Response:
    """``GET /api/ui/chat/{chat_id}/stream``: 204, or the live answer from its first part."""
    info = await _live_run(request)
    if info is None:
        return Response(status_code=204)
    flow: RunFlow = request.app.state.run_flow
    major: SdkMajor = request.app.state.settings.ui.sdk_major
    dialect = UIMessageStreamDialect(info.stream_id, info.model, sdk_major=major)
    rejoin(request, dialect, info)
    source = ChatStream(flow.runs.follow(info.stream_id, 0))
    limits = reader_limits(request.app.state.limits)
    return EventStreamResponse(source, dialect=dialect, limits=limits, stream_id=info.stream_id)


async def stop_ui_stream(request: Request) -> Response:
    """``POST /api/ui/chat/{chat_id}/stop``: stop the chat's live answer, wherever it runs."""
    info = await _live_run(request)
    stopped = False
    if info is not None:
        flow: RunFlow = request.app.state.run_flow
        try:
            stopped = await flow.runs.stop(info.stream_id)
        except Exception:
            raise JOURNAL_DOWN from None
    return JSONResponse({"id": request.path_params["chat_id"], "stopped": stopped})


__all__ = ["resume_ui_stream", "stop_ui_stream", "ui_chat"]
