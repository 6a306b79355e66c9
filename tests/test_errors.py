"""Upstream HTTP statuses mapped to typed errors, and secrets redacted from their messages."""

from __future__ import annotations

from aichatflow.errors import UpstreamAuth, UpstreamRateLimited, error_from_status, redact


def test_status_mapping_and_redaction() -> None:
    err = error_from_status(
        429,
        b'{"error": {"message": "slow down, key sk-secretsecret123"}}',
        {"retry-after": "2"},
        provider="p",
        secrets=("sk-secretsecret123",),
    )
    assert isinstance(err, UpstreamRateLimited)
    assert err.retry_after == 2.0 and err.retryable
    assert "sk-secret" not in err.message
    assert isinstance(error_from_status(401, b"", {}, provider="p"), UpstreamAuth)
    conflict = error_from_status(409, b"", {}, provider="p")  # a lock upstream: worth a retry
    assert conflict.code == "upstream_error" and conflict.retryable
    assert error_from_status(422, b"", {}, provider="p").code == "bad_request"
    assert redact("Bearer abc.def and https://h/x?key=AIzaSECRET&x=1") == (
        "Bearer [REDACTED] and https://h/x?key=[REDACTED]&x=1"
    )
