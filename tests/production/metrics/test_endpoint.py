"""``GET /metrics`` as a route: behind the key when keys are on, unless ``public``; absent when
metrics are off."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from aichatflow.config import key_digest

KEY = "acf-endpoint-test-key-3c0d9e"
KEYS = {"keys": [{"id": "ops", "sha256": key_digest(KEY)}]}


@pytest.mark.parametrize(
    ("settings", "without_key", "with_key"),
    [
        ({}, 200, 200),
        ({"auth": KEYS}, 401, 200),
        ({"auth": KEYS, "metrics": {"public": True}}, 200, 200),
        ({"metrics": {"enabled": False}}, 404, 404),
    ],
    ids=["no keys", "keys", "keys, public", "off"],
)
def test_who_may_scrape(
    start_server: Any, settings: dict[str, Any], without_key: int, with_key: int
) -> None:
    server = start_server(**settings)
    anonymous = httpx.get(server.url + "/metrics", trust_env=False)
    keyed = httpx.get(
        server.url + "/metrics", headers={"authorization": f"Bearer {KEY}"}, trust_env=False
    )
    assert (anonymous.status_code, keyed.status_code) == (without_key, with_key)
    if with_key == 200:
        assert keyed.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "aichatflow_requests_total" in keyed.text  # the anonymous scrape, counted
    if without_key == 401:
        assert "aichatflow_" not in anonymous.text
