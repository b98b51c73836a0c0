"""Copying a whole store to another database (outgrowing SQLite without losing what was there).

Every table of the schema is copied row for row with its ids, parents before
children, in one transaction on the target: runs, trajectories and their
candidates, critiques and judgments, preference pairs, the review queue and its
decisions, the model registry and retrain records. Leases are not copied (they
are claims of live processes on the old store). The counts are compared before
the commit, so a target either holds everything or nothing new.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from oversight.errors import OversightError
from oversight.store.db import Store
from oversight.store.tables import Base

# Claims of live processes on the source store; meaningless elsewhere.
NOT_COPIED = ("leases",)
CHUNK = 500


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied (= rows in the target)
    replaced: int = 0                                    # rows the target held before (with force)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def copied_tables() -> list[Table]:
    """The schema's tables in dependency order (parents first), leases left out."""
    return [t for t in Base.metadata.sorted_tables if t.name not in NOT_COPIED]


def row_counts(store: Store) -> dict[str, int]:
    with store.connect() as conn:
        return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one()) for t in copied_tables()}


def copy_store(source: Store, target: Store, *, force: bool = False,
               on_rows: Callable[[str, int], None] = lambda _t, _n: None) -> CopyReport:
    """Copy every row of `source` into `target` (migrated first); refuse a non-empty target unless `force`.

    With `force`, the target's rows are replaced, in the same transaction as the copy.
    `on_rows(table, n)` is called after each chunk, for a progress bar.
    """
    if source.url.render_as_string(hide_password=False) == target.url.render_as_string(hide_password=False):
        raise OversightError(f"source and target are the same database ({source.safe_url})")
    source.migrate()
    target.migrate()
    if source.current_revisions() != target.current_revisions():
        raise OversightError(f"schemas differ after migration (source {source.current_revisions()}, target "
                             f"{target.current_revisions()}); upgrade Oversight where the older one runs")
    tables = copied_tables()
    held = {name: n for name, n in row_counts(target).items() if n}
    if held and not force:
        listing = ", ".join(f"{name} {n}" for name, n in held.items())
        raise OversightError(f"target {target.safe_url} is not empty ({listing}); copy into an empty database, "
                             "or pass --force to replace its rows")
    report = CopyReport(replaced=sum(held.values()))
    try:
        _copy_rows(source, target, tables, held, report, on_rows)
    except DBAPIError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc).splitlines()[0]
        raise OversightError(f"copy to {target.safe_url} failed, nothing was kept: {first}") from exc
    return report


def _copy_rows(source: Store, target: Store, tables: list[Table], held: dict[str, int], report: CopyReport,
               on_rows: Callable[[str, int], None]) -> None:
    with source.connect() as src, target.connect() as dst:
        for table in reversed(tables):
            if held.get(table.name):
                dst.execute(delete(table))
        for table in tables:
            order = list(table.primary_key.columns) or list(table.columns)
            copied = 0
            batch: list[dict[str, object]] = []
            for row in src.execute(select(table).order_by(*order)).mappings():
                batch.append(dict(row))
                if len(batch) >= CHUNK:
                    dst.execute(insert(table), batch)
                    copied += len(batch)
                    on_rows(table.name, len(batch))
                    batch = []
            if batch:
                dst.execute(insert(table), batch)
                copied += len(batch)
                on_rows(table.name, len(batch))
            report.rows[table.name] = copied
        if dst.dialect.name == "postgresql":
            _advance_sequences(dst, tables)
        counted = {t.name: int(dst.execute(select(func.count()).select_from(t)).scalar_one()) for t in tables}
        expected = {t.name: int(src.execute(select(func.count()).select_from(t)).scalar_one()) for t in tables}
        if counted != expected:
            wrong = ", ".join(f"{n}: {counted[n]} of {expected[n]}" for n in expected if counted[n] != expected[n])
            raise OversightError(f"copy to {target.safe_url} did not match the source ({wrong}); nothing was kept")


def _advance_sequences(conn: object, tables: list[Table]) -> None:
    """Rows came with their ids; move each serial sequence past them so new rows do not collide."""
    for table in tables:
        for column in table.primary_key.columns:
            if column.autoincrement is True or (column.autoincrement == "auto" and column.type.python_type is int):
                conn.execute(text(  # type: ignore[attr-defined]
                    f'SELECT setval(pg_get_serial_sequence(:t, :c), COALESCE(MAX("{column.name}"), 1), '
                    f'MAX("{column.name}") IS NOT NULL) FROM "{table.name}"'), {"t": f'"{table.name}"', "c": column.name})
