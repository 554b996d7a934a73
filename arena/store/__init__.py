"""The arena's SQLite file: connection rules, schema, players, match records and ratings.

Heavy only in what it imports lazily: `sqlite_utils` loads when a database is opened.
"""

from arena.store.db import StoreError, default_db_path, open_db, write

__all__ = ["StoreError", "default_db_path", "open_db", "write"]
