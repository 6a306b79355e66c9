"""Fixtures shared by the production layer's tests. The session's real Redis, ``redis_url``,
is in tests/conftest.py (the journal's tests use it too)."""
