"""SQLite persistence: one row per object (`kind`, `uuid`, JSON body), written on every mutation."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL, uuid TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, uuid)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def load(self) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, Any]]:
        """All objects by kind and uuid, and the meta values; both empty for a new file."""
        tables: dict[str, dict[str, dict[str, Any]]] = {}
        with self._lock:
            for kind, uuid, body in self._db.execute("SELECT kind, uuid, body FROM objects"):
                tables.setdefault(kind, {})[uuid] = json.loads(body)
            meta = {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}
        return tables, meta

    def save(
        self,
        changed: list[tuple[str, str, dict[str, Any] | None]],
        meta: dict[str, Any],
    ) -> None:
        """Write changed objects (None = deleted) and the meta values in one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for kind, uuid, body in changed:
                    if body is None:
                        self._db.execute(
                            "DELETE FROM objects WHERE kind = ? AND uuid = ?", (kind, uuid)
                        )
                    else:
                        self._db.execute(
                            "INSERT OR REPLACE INTO objects VALUES (?, ?, ?)",
                            (kind, uuid, json.dumps(body)),
                        )
                for key, value in meta.items():
                    self._db.execute(
                        "INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value))
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
