"""Stream a real model: OpenAI with OPENAI_API_KEY, or DeepSeek with DEEPSEEK_API_KEY.

    OPENAI_API_KEY=sk-... .venv/bin/python examples/openai_chat.py
    curl -N http://127.0.0.1:8082/chat -d '{"messages": [{"role": "user", "content": "Hi"}]}'

Run it with the project's venv (the system ``python`` has no aichatflow); it listens on 8082
so it runs next to ``aichatflow serve`` (8080) and the other examples; ``PORT=...`` changes it.

Any OpenAI-compatible server works the same way: ``create_provider("local", {"kind": "vllm",
"base_url": "http://127.0.0.1:8000/v1"})``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from aichatflow import ChatRequest, EventStreamResponse, create_provider

if os.environ.get("DEEPSEEK_API_KEY"):
    provider, model = create_provider("deepseek", {"kind": "deepseek"}), "deepseek-reasoner"
else:
    provider, model = create_provider("openai", {"kind": "openai"}), "gpt-4o-mini"


async def chat(request: Request) -> EventStreamResponse:
    body = await request.json()
    req = ChatRequest(model=body.get("model", model), messages=body["messages"])
    return EventStreamResponse(provider.stream(req), model=f"{provider.name}/{req.model}")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await provider.aclose()  # closes the pooled upstream connections


app = Starlette(routes=[Route("/chat", chat, methods=["POST"])], lifespan=lifespan)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8082")))
