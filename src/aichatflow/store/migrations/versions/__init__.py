"""One file per schema change, oldest first (``v0001_...``); alembic reads them by path."""
