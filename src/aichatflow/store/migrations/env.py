"""Alembic's environment for the store: it runs on the connection ``store/migrate.py`` passes
(``config.attributes["connection"]``), inside that caller's transaction and lock, so it never
opens a connection, reads an ``alembic.ini`` or sees a URL (and so no password) itself."""

from __future__ import annotations

from alembic import context

from aichatflow.store.migrate import VERSION_TABLE
from aichatflow.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
