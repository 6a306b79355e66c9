"""The several-instances harness: two aichatflow servers behind one nginx, round robin.

Cross-instance tests (a stream started on one instance, resumed on the other) rely on nginx
really alternating. Each instance here tags its responses with its own header, so what the
client sees does not depend on nginx's word; nginx's access log (``Nginx.upstreams()``) must
name the same instance for each request.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from aichatflow.server import create_app
from tests.conftest import make_settings
from tests.support.nginx import Nginx
from tests.support.server import serve

from ._streams import with_header

INSTANCE = b"x-test-instance"


async def test_nginx_for_two_instances_alternates_between_them(
    nginx: Callable[..., Nginx],
) -> None:
    quick = {"kind": "mock", "tokens_per_second": 0, "first_token_ms": 0, "text": "Hello"}
    settings = make_settings(providers={"mock": quick}, default_model="mock/chat")
    app_a = with_header(create_app(settings), INSTANCE, b"a")
    app_b = with_header(create_app(settings), INSTANCE, b"b")
    with serve(app_a) as a, serve(app_b) as b:
        proxy = nginx([a.port, b.port])
        port_of = {"a": f"127.0.0.1:{a.port}", "b": f"127.0.0.1:{b.port}"}
        seen: list[str] = []
        async with httpx.AsyncClient(base_url=proxy.url, trust_env=False) as client:
            for _ in range(4):
                health = await client.get("/healthz")
                assert health.status_code == 200
                seen.append(health.headers[INSTANCE.decode()])
            body = {"messages": [{"role": "user", "content": "Hi"}]}
            for _ in range(2):
                async with client.stream("POST", "/api/chat", json=body) as stream:
                    assert stream.status_code == 200
                    text = await stream.aread()
                assert b"event: done" in text, text[-300:]
                seen.append(stream.headers[INSTANCE.decode()])
    assert seen[0] != seen[1], seen
    assert seen == [seen[0], seen[1]] * 3, seen
    assert proxy.upstreams(at_least=len(seen)) == [port_of[name] for name in seen]
