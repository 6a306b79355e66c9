"""``[ui]``: the Vercel AI SDK front end that ``POST /api/ui/chat`` speaks to.

Kept beside ``config.py`` (which includes it in ``Settings``) only to keep that module small;
like it, this module only describes. ``dialects/vercel_ui.py`` acts on it.

    [ui]
    sdk_major = 6               # the major version of the front end's `ai` package: 5 or 6
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class UiSettings(BaseModel):
    """Which AI SDK major the UI message stream targets. The client rejects a part it does not
    know (some versions a field too), and ai@6 added some (``finishReason``,
    ``tool-input-error``, ``abort``'s ``reason``): for 5 none of them is sent. The step parts
    are sent for both: every ai@5 knows them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sdk_major: Literal[5, 6] = 6


__all__ = ["UiSettings"]
