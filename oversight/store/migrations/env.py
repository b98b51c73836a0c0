"""Alembic environment: runs on the connection `Store.migrate` hands over.

No alembic.ini is needed at run time. Revisions are written by hand to match
`oversight/store/tables.py`; the store tests compare the two.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from oversight.store.tables import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Fallback for the alembic command line: `-x url=...` or sqlalchemy.url.
    url = context.get_x_argument(as_dictionary=True).get("url") \
        or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given; use Store.migrate() or -x url=...")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations()
