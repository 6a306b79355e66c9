"""The store's alembic migrations: ``env.py`` and ``versions/`` (run by ``store/migrate.py``)."""
