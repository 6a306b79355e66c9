"""Pure ASGI middleware that refuses request bodies over a limit with 413.

Uvicorn and Starlette set no body limit (Kludex/starlette#890). A declared ``Content-Length``
over the limit is refused before reading anything; a chunked body without one is counted as it
streams in and refused as soon as it passes the limit (a Content-Length check alone is bypassed
by chunked uploads: RELIABILITY.md F15).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import BodyTooLarge
from .errors import json_error_response


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await json_error_response(scope, BodyTooLarge(self.max_bytes))(
                        scope, receive, send
                    )
                    return
        received = 0

        async def limited_receive() -> Message:
            # Raised inside the route that reads the body, so the app's exception handler
            # answers 413 in the caller's dialect. ``send`` is left alone: wrapping it would
            # put one more coroutine hop on every streamed event.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)


__all__ = ["BodyLimitMiddleware"]
