"""The tickets' "Redis unreachable" summary line formats (it once had two placeholders for one
value, so the flood it sums up raised ``TypeError`` instead of being logged) and keeps the
URL's password out."""

from __future__ import annotations

from aichatflow.server.redis_tickets import RedisTicketBook


def test_the_summary_of_a_flood_formats_without_the_password() -> None:
    book = RedisTicketBook("redis://:s3cret-pw@127.0.0.1:1/0", 30)
    line = book._unreachable.summary % 7
    assert "7 more ticket requests" in line
    assert "s3cret-pw" not in line
