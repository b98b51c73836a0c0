"""Cleaning up retired versions: their registry rows first, then their folders (never an active one)."""

from __future__ import annotations

import shutil
from pathlib import Path

from oversight.settings import Settings
from oversight.store.db import Store
from oversight.store.records import VersionRecord
from oversight.store.registry import delete_retired


def cleanup_retired(settings: Settings, store: Store, role: str, keep: int) -> list[VersionRecord]:
    """Delete retired versions of `role` beyond the newest `keep` (and the rollback target), rows then files.

    Rows go first, in one transaction: a crash afterwards leaves an orphan folder,
    never a registry row pointing at nothing. Only folders inside the data folder's
    adapters/ are removed; a version registered from elsewhere keeps its files.
    """
    removed = delete_retired(store, role, keep)
    root = settings.adapters_dir.resolve()
    for version in removed:
        folder = Path(version.path).resolve()
        if folder.is_dir() and folder != root and root in folder.parents:
            shutil.rmtree(folder, ignore_errors=True)
    return removed
