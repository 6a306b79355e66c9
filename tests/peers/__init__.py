"""Tests against real upstream servers nobody on this team wrote (docs/testing.md)."""
