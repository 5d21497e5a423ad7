"""Alembic environment: the connection is handed in by geogrid.db.migrate (never from a .ini)."""

from alembic import context

from geogrid.db.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
