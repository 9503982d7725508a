"""Persistence: SQLAlchemy 2 models, repository functions and Alembic migrations.

Repository functions take a session and never commit; the caller (a service) owns the transaction.
"""
