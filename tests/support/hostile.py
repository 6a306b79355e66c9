"""Model output written to break a wire format: shared by the dialects' "arrives intact" tests.

Every character a naive frame writer mishandles is in it: CR, LF and CRLF (which end an SSE
line), a NUL, U+2028/U+2029 (line ends for JavaScript source, not for SSE), text that reads as
SSE syntax (a blank line, ``event:``, ``data:`` and a comment line), then 200 KiB more so one
delta is far larger than any read buffer.
"""

from __future__ import annotations

HOSTILE = 'a\r\nb\rc\x00d\u2028e\u2029f\nevent: error\ndata: {"type":"error"}\n\n: x\n' + "z" * (
    200 * 1024
)

__all__ = ["HOSTILE"]
