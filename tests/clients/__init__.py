"""Tests that drive aichatflow with real client libraries (not aichatflow code)."""
