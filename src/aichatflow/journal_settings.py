"""The settings of runs that outlive their connection: ``[journal]``, ``[dedup]``, ``[cache]``.

Kept beside ``config.py`` (which includes them in ``Settings``) only to keep that module small;
like it, this module only describes. ``journal/`` and ``server/runs.py`` act on them.

    [journal]
    backend = "memory"          # "off": the direct path (no run task, no resume);
                                # "redis": Redis Streams, shared by every instance
    url = ""                    # redis://... for backend = "redis" (default: [limits] storage)
    ttl = 600                   # seconds a finished run can still be resumed or replayed
    max_stream_bytes = 4194304  # per run (memory); older entries go first
    max_bytes = 268435456       # all runs of the process (memory); finished runs go first

    [dedup]
    mode = "deterministic"      # "off" | "deterministic" (temperature 0) | "always"

    [cache]
    ttl = 0                     # seconds a finished answer is replayed for an identical
                                # request; 0: no cache
    max_bytes = 67108864        # cached answers kept at most (memory)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .redaction import redact_url


class JournalSettings(BaseModel):
    """Where runs are journaled (``journal/``); ``off`` keeps the direct path."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: Literal["off", "memory", "redis"] = "memory"
    url: str = ""
    ttl: float = Field(600.0, gt=0)
    max_stream_bytes: int = Field(4 << 20, ge=1024)
    max_bytes: int = Field(256 << 20, ge=1024)

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("journal.url must be a redis:// URL")
        return value

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "url" and value else value


class DedupSettings(BaseModel):
    """In-flight de-duplication (``journal/fingerprint.py``): an identical request while a
    run is live joins it instead of calling the upstream again."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: Literal["off", "deterministic", "always"] = "deterministic"


class CacheSettings(BaseModel):
    """The response cache: a finished run replayed for an identical request."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ttl: float = Field(0.0, ge=0)
    max_bytes: int = Field(64 << 20, ge=0)


__all__ = ["CacheSettings", "DedupSettings", "JournalSettings"]
