"""The Anthropic stream's pre-encoded delta frames write exactly the bytes of the straightforward
encoding (the whole ``content_block_delta`` object through orjson), for any event sequence.

The dialect writes a text or thinking delta as a per-block head encoded once, orjson's string and
a fixed tail, and skips its loop for a batch of one text delta (``dialects/anthropic.py``). The
reference here is the same dialect with that one method building the object and encoding it
whole, so the two can only differ where the template does. Sequences mix text, reasoning
(signed, redacted), tool calls, usage and a terminal event, in batches of every size, with
hostile text: quotes, backslashes, every control character, U+2028/U+2029, non-BMP characters.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aichatflow import Finish, ReasoningDelta, TextDelta, ToolCallDelta, UsageUpdate
from aichatflow.dialects.anthropic import AnthropicStreamDialect
from aichatflow.events import ChatEvent, StreamError, Usage

HOSTILE = [
    '"',
    "\\",
    '\\"',
    "\\u0000",
    "".join(map(chr, range(32))),
    "\x7f",
    "\u2028\u2029",
    "\U0001f600",
    "a\U00010348b",
    "</script>",
    "\ufeff",
    "",
]


class Straightforward(AnthropicStreamDialect):
    """The dialect with its delta frame built as the whole object and encoded by orjson."""

    def _run_delta(self, text: str) -> bytes:
        kind = "text" if self._open == "text" else "thinking"
        delta = {"type": f"{kind}_delta", kind: text}
        payload = {"type": "content_block_delta", "index": self._blocks - 1, "delta": delta}
        return b"event: content_block_delta\ndata: " + orjson.dumps(payload) + b"\n\n"


def _both(batches: list[list[ChatEvent]]) -> tuple[list[bytes], list[bytes]]:
    fast = AnthropicStreamDialect("sid", "m/x")
    plain = Straightforward("sid", "m/x")
    return [fast.render(b) for b in batches], [plain.render(b) for b in batches]


texts = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(),
    st.text(alphabet=st.sampled_from([c for s in HOSTILE for c in s] or ["x"])),
)
events: st.SearchStrategy[ChatEvent] = st.one_of(
    st.builds(TextDelta, texts),
    st.builds(TextDelta, texts),
    st.builds(TextDelta, texts),
    st.builds(ReasoningDelta, texts),
    st.builds(ReasoningDelta, texts, signature=st.sampled_from(["", "sig=="])),
    st.builds(ReasoningDelta, st.just(""), redacted=st.sampled_from(["ENC"])),
    st.builds(
        ToolCallDelta,
        index=st.integers(0, 2),
        id=st.sampled_from(["", "call_1"]),
        name=st.sampled_from(["", "f"]),
        arguments=texts,
    ),
    st.builds(UsageUpdate, st.builds(Usage, input_tokens=st.integers(0, 9))),
)
terminal = st.sampled_from(
    [None, Finish(reason="stop"), StreamError(code="upstream_overloaded", message='"x"\n')]
)


@settings(max_examples=400)
@given(
    st.lists(st.lists(events, min_size=1, max_size=20), min_size=1, max_size=12),
    terminal,
)
def test_any_sequence_same_bytes(batches: list[list[ChatEvent]], last: Any) -> None:
    if last is not None:
        batches = [*batches, [last]]
    fast, plain = _both(batches)
    assert fast == plain  # batch by batch, so the one-delta shortcut is compared too


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("size", [1, 2, 16])
def test_hostile_text_same_bytes_and_round_trips(text: str, size: int) -> None:
    batches: list[list[ChatEvent]] = [[TextDelta("a")]]
    batches += [[TextDelta(text)] * size for _ in range(3)]
    batches += [[ReasoningDelta(text)], [TextDelta(text)], [Finish(reason="stop")]]
    fast, plain = _both(batches)
    assert fast == plain
    frames = b"".join(fast).split(b"\n\n")[:-1]
    got = [orjson.loads(f.split(b"\ndata: ", 1)[1]) for f in frames]
    deltas = [g["delta"] for g in got if g["type"] == "content_block_delta"]
    assert "".join(d.get("text", "") for d in deltas) == "a" + text * (3 * size) + text
    # empty reasoning writes no delta (its block still opens and closes)
    assert [d["thinking"] for d in deltas if "thinking" in d] == ([text] if text else [])


def test_one_delta_batches_use_the_open_blocks_index() -> None:
    """The shortcut writes into the block that is open: after a tool call, text opens a new
    block whose index the head must carry."""
    batches: list[list[ChatEvent]] = [
        [TextDelta("a")],
        [TextDelta("b")],
        [ToolCallDelta(index=0, id="c", name="f", arguments="{}")],
        [TextDelta("c")],
        [TextDelta("d")],
    ]
    fast, plain = _both(batches)
    assert fast == plain
    assert fast[4] == (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":2,'
        b'"delta":{"type":"text_delta","text":"d"}}\n\n'
    )
