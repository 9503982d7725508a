"""Alembic environment: runs on the connection handed over by `spark_gateway.db.migrate`."""

from __future__ import annotations

from alembic import context

from spark_gateway.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via `alembic` CLI without our runner
    raise RuntimeError("run migrations through spark_gateway.db.migrate.upgrade()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
