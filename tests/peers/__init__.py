"""Tests against real upstream servers nobody on this team wrote (PEERS.md section 3.4)."""
