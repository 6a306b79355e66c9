"""The error paths of the canary test: one provider table each, all in one ``serve`` config.

Every path is a ``[providers.<name>]`` table an operator could write; the canary reaches the
server the way a real key does: in the environment variable ``api_key_env`` names
(``KEY_VARIABLE``), or in the ``base_url`` itself (a gateway's ``?key=`` or path token), which
the server must never print either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.production.canary.exploding_provider import KIND

KEY_VARIABLE = "CANARY_PROVIDER_KEY"
FIRST_TOKEN = 1.5
"""``[stream] first_token`` of the server: the stalled upstream's deadline."""


@dataclass(frozen=True)
class ErrorPath:
    name: str
    """The provider's name, so the model asked for is ``<name>/m``."""
    what: str
    options: dict[str, Any]


@dataclass(frozen=True)
class Upstreams:
    fake: str
    """The hostile fake upstream's ``http://127.0.0.1:<port>``."""
    tls: str
    """The untrusted TLS upstream's ``https://127.0.0.1:<port>``."""
    closed_port: int


def _http(base_url: str, *, keyed: bool = True, **options: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"kind": "openai-compatible", "base_url": base_url, "models": ["m"]}
    table |= {"max_retries": 0, "connect_timeout": 3.0}
    if keyed:
        table["api_key_env"] = KEY_VARIABLE
    return table | options


def _plugin(fails: str) -> dict[str, Any]:
    return {"kind": KIND, "api_key_env": KEY_VARIABLE, "fails": fails}


def error_paths(up: Upstreams, canary: str) -> list[ErrorPath]:
    fake = up.fake
    return [
        ErrorPath("echo401", "upstream 401 echoing Authorization", _http(f"{fake}/echo401/v1")),
        ErrorPath("partial401", "401 quoting part of the key", _http(f"{fake}/partial401/v1")),
        ErrorPath(
            "keypath404",
            "key in the base URL's path, upstream 404 quoting it",
            _http(f"{fake}/k/{canary}/v1", keyed=False),
        ),
        ErrorPath(
            "keyquery404",
            "key in the base URL's query, upstream 404 quoting it",
            _http(f"{fake}/q/v1?key={canary}", keyed=False),
        ),
        ErrorPath(
            "refused",
            "connection refused (key in the URL)",
            _http(f"http://127.0.0.1:{up.closed_port}/v1?key={canary}"),
        ),
        ErrorPath(
            "unresolvable",
            "unresolvable host (.invalid; key in the URL)",
            _http(f"http://nowhere.invalid:9/k/{canary}/v1"),
        ),
        ErrorPath(
            "tls", "self-signed TLS upstream (key in the URL)", _http(f"{up.tls}/v1?key={canary}")
        ),
        ErrorPath("firsttoken", "silent past [stream] first_token", _http(f"{fake}/stall/v1")),
        ErrorPath(
            "readtimeout",
            "silent past the provider's read_timeout",
            _http(f"{fake}/stall/v1", read_timeout=0.5),
        ),
        ErrorPath("malformed", "broken JSON holding the key", _http(f"{fake}/malformed/v1")),
        ErrorPath("sseerror", "in-band SSE error quoting the key", _http(f"{fake}/sse-error/v1")),
        ErrorPath("plugincall", "plugin provider raising in stream()", _plugin("call")),
        ErrorPath("pluginiterate", "plugin provider raising mid-stream", _plugin("iterate")),
        ErrorPath("pluginclose", "plugin provider raising when closed", _plugin("close")),
    ]


LISTING = "listing"
"""A provider without ``models``: ``GET /v1/models`` asks its upstream, which answers 404."""


def listing_provider(up: Upstreams, canary: str) -> dict[str, Any]:
    table = _http(f"{up.fake}/k/{canary}/v1")
    del table["models"]
    return table


def _toml_value(value: Any) -> str:
    return json.dumps(value)  # strings, numbers and lists of strings: JSON is valid TOML here


def serve_config(paths: list[ErrorPath], extra: dict[str, dict[str, Any]]) -> str:
    """The TOML of one server with every path's provider."""
    lines = [f"[stream]\nfirst_token = {FIRST_TOKEN}\n"]
    tables = {p.name: p.options for p in paths} | extra
    for name, options in tables.items():
        lines.append(f"[providers.{name}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in options.items()]
        lines.append("")
    return "\n".join(lines)


__all__ = [
    "FIRST_TOKEN",
    "KEY_VARIABLE",
    "LISTING",
    "ErrorPath",
    "Upstreams",
    "error_paths",
    "listing_provider",
    "serve_config",
]
