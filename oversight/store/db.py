"""The database handle: one engine per process, migrated before use.

SQLite is the default (a file in the data folder) and PostgreSQL the choice for
several machines; both go through the same `Store`. Graph workers write from
many threads at once, so SQLite runs in WAL mode with a busy timeout and every
transaction takes the write lock up front (BEGIN IMMEDIATE): a deferred
transaction that reads and then writes can fail at once with "database is
locked" instead of waiting its turn.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from oversight.errors import OversightError

if TYPE_CHECKING:
    from oversight.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 60
# Any constant works; it only has to be the same in every Oversight process.
_PG_MIGRATION_LOCK = 0x0F5E_4151


class Store:
    """A SQLAlchemy engine plus session factory; safe to share across threads."""

    def __init__(self, url: str | URL, *, connect_args: dict[str, Any] | None = None,
                 **engine_options: Any) -> None:
        try:
            self.url = make_url(url)
        except ArgumentError as exc:
            raise OversightError(f"not a database URL: {url!s}") from exc
        args = dict(connect_args or {})
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            args.setdefault("check_same_thread", False)
            args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
        else:
            engine_options.setdefault("pool_pre_ping", True)
        try:
            self.engine: Engine = create_engine(self.url, connect_args=args, **engine_options)
        except (NoSuchModuleError, ImportError) as exc:
            raise OversightError(
                f"no driver for database URL {self.safe_url} ({exc}); "
                "install it, e.g. pip install 'oversight[postgres]'") from exc
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_on_connect)
            event.listen(self.engine, "begin", _sqlite_on_begin)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, settings: Settings, **engine_options: Any) -> Store:
        """The store named by the settings, its folder created and schema at head."""
        store = cls(settings.database_url, **engine_options)
        if store.is_sqlite and store.url.database not in (None, "", ":memory:"):
            Path(store.url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        store.migrate()
        return store

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, fit for messages."""
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits when the block ends, rolls back if it raises."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection inside one transaction, for core statements and migrations."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            if _is_unreachable(exc):
                raise OversightError(
                    f"cannot open database {self.safe_url}: {exc.orig}".splitlines()[0]) from exc
            raise

    def migrate(self, revision: str = "heads") -> None:
        """Upgrade the schema to `revision` (every head by default); a no-op where it is there already.

        Revisions after 0002 branch per feature area (registry, review, ...), so
        "heads" rather than "head": each area's chain is applied independently.
        """
        from alembic import command
        from alembic.util import CommandError

        with self.connect() as conn:
            if conn.dialect.name == "postgresql":
                # Two processes opening a fresh database must not both create tables.
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            config = _alembic_config(conn)
            try:
                command.upgrade(config, revision)
            except CommandError as exc:
                raise OversightError(
                    f"database {self.safe_url} cannot be migrated to {revision!r}: {exc}; "
                    "it may have been written by a newer Oversight") from exc

    def current_revisions(self) -> tuple[str, ...]:
        """The schema revisions stamped in the database, sorted; empty before any migration."""
        from alembic.runtime.migration import MigrationContext

        with self.connect() as conn:
            return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))

    @staticmethod
    def head_revisions() -> tuple[str, ...]:
        """The newest revision of each branch this code knows, sorted."""
        from alembic.script import ScriptDirectory

        return tuple(sorted(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()))

    def dispose(self) -> None:
        """Close pooled connections (tests, and before dropping a schema)."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.safe_url!r})"


def _alembic_config(conn: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    return config


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _is_unreachable(exc: OperationalError) -> bool:
    """Connection-level failures (server down, bad file path) versus SQL errors."""
    return exc.connection_invalidated or "connect" in str(exc.orig).lower() \
        or "unable to open" in str(exc.orig).lower()
