"""``aichatflow keys new``: a fresh client key and the ``[[auth.keys]]`` entry that enables it.

The key is random (``acf-`` and 32 bytes of ``secrets.token_urlsafe``: guessing is hopeless,
so a plain SHA-256 is a sound way to store it; a password hash's slowness would only slow
every request). Only its hash goes into the TOML; the key itself is printed once and is never
written anywhere by aichatflow.
"""

from __future__ import annotations

import secrets

from pydantic import ValidationError

from ..config import ApiKey, key_digest

KEY_PREFIX = "acf-"
"""Marks aichatflow client keys (and lets secret scanners and ``redaction.py`` spot them)."""


class KeyTableError(ValueError):
    """An ``[[auth.keys]]`` entry that would not load (a bad id, glob or limit)."""


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def toml_entry(
    key_id: str,
    key: str,
    *,
    models: tuple[str, ...] = (),
    rpm: int | None = None,
    tpm: int | None = None,
    max_streams: int | None = None,
) -> str:
    """The ``[[auth.keys]]`` table for ``key``, checked by loading it as the config would."""
    try:
        entry = ApiKey(
            id=key_id,
            sha256=key_digest(key),
            models=models or None,
            rpm=rpm,
            tpm=tpm,
            max_streams=max_streams,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise KeyTableError(problems) from None
    lines = ["[[auth.keys]]", f"id = {_string(entry.id)}", f"sha256 = {_string(entry.sha256)}"]
    if entry.models is not None:
        lines.append(f"models = [{', '.join(_string(glob) for glob in entry.models)}]")
    for name in ("rpm", "tpm", "max_streams"):
        value = getattr(entry, name)
        if value is not None:
            lines.append(f"{name} = {value}")
    return "\n".join(lines) + "\n"


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = "".join(
        "\\" + ch if ch in '"\\' else f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or ch == "\x7f" else ch
        for ch in text
    )
    return f'"{escaped}"'


__all__ = ["KEY_PREFIX", "KeyTableError", "new_key", "toml_entry"]
