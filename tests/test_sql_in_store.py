"""SQL lives in `arena/store` only (ARCHITECTURE.md, "Each concept in one place"): the TUI, the
CLI, jobs and the trainer call store functions. This test reads every other module of `arena/`
and `trainer/` with the AST and names the file and line of each piece of SQL it finds:

- a string that starts like an SQL statement (docstrings are prose and skipped; an f-string is
  read with its fields as `{}`);
- a call of `.execute(`, `.executemany(` or `.executescript(` on anything;
- a call of `.query(` or of sqlite-utils' table API on a database or connection (`db.query(...)`,
  `self.app.db.table(...)`); on anything else `.query(` is Textual's DOM query;
- `db.conn` (the raw connection; closing it is fine) and `db["table"]`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("arena", "trainer")
STORE = Path("arena/store")

# Files allowed to hold SQL outside the store, each with its reason (none today).
ALLOWLIST: set[str] = set()

_SQL_START = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|WITH)\b", re.I
)
# What must follow the first word, so that prose ("Delete a player", " with weight ...") is not
# taken for SQL.
_SQL_STATEMENT = re.compile(
    r"""^\s*(
        SELECT\s[\s\S]*\bFROM\b | SELECT\s+(\d|\?|\{\}|COUNT\s*\(|COALESCE\s*\(|MAX\s*\()
      | INSERT\s+(OR\s+\w+\s+)?INTO\b
      | UPDATE\s+(\w+|\{\})\s+SET\b
      | DELETE\s+FROM\b
      | (CREATE|DROP)\s+(TEMP\w*\s+|UNIQUE\s+)?(TABLE|INDEX|VIEW|TRIGGER)\b
      | ALTER\s+TABLE\b
      | PRAGMA\s+\w
      | (BEGIN|COMMIT)(\s+(IMMEDIATE|DEFERRED|EXCLUSIVE|TRANSACTION))?\s*;?\s*$
      | WITH\s+(RECURSIVE\s+)?\w+(\s*\([^)]*\))?\s+AS\s*\(
    )""",
    re.I | re.X,
)
_ANY_EXECUTE = {"execute", "executemany", "executescript"}
_DB_CALLS = {
    "query",
    "table",
    "rows_where",
    "insert",
    "insert_all",
    "upsert",
    "upsert_all",
    "create_table",
    "table_names",
    "lookup",
}


def is_sql(text: str) -> bool:
    return bool(_SQL_START.match(text) and _SQL_STATEMENT.match(text))


def _db_like(node: ast.AST) -> bool:
    """`db`, `conn`, `self.db`, `self.app.db`, `self._db`, `store_db`, `db.conn`..."""
    if isinstance(node, ast.Name):
        name = node.id
    elif isinstance(node, ast.Attribute):
        name = node.attr
    else:
        return False
    name = name.lower().lstrip("_")
    return name in {"db", "conn", "database", "connection"} or name.endswith("_db")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def sql_sites(source: str) -> list[tuple[int, str]]:
    """(line, what) for each piece of SQL in a module's source."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)  # read whole, below
        elif isinstance(node, ast.Attribute) and node.attr == "close":
            skip.add(id(node.value))  # `db.conn.close()` ends a connection: no SQL
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            if is_sql(text):
                found.append((node.lineno, f"SQL f-string {text[:50]!r}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in skip and is_sql(node.value):
                found.append((node.lineno, f"SQL string {node.value[:50]!r}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr, receiver = node.func.attr, node.func.value
            if attr in _ANY_EXECUTE or (attr in _DB_CALLS and _db_like(receiver)):
                found.append((node.lineno, f".{attr}() call"))
        elif isinstance(node, ast.Attribute) and node.attr == "conn" and _db_like(node.value):
            if id(node) not in skip:
                found.append((node.lineno, "raw connection .conn"))
        elif isinstance(node, ast.Subscript) and _db_like(node.value):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                found.append((node.lineno, f"table subscript [{node.slice.value!r}]"))
    return sorted(set(found))


def _modules() -> list[Path]:
    files = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if STORE not in rel.parents:
                files.append(rel)
    return files


def test_sql_lives_only_in_the_store() -> None:
    problems = []
    for rel in _modules():
        if rel.as_posix() in ALLOWLIST:
            continue
        for line, what in sql_sites((ROOT / rel).read_text(encoding="utf-8")):
            problems.append(f"{rel.as_posix()}:{line}: {what}")
    assert not problems, "SQL outside arena/store (call a store function):\n" + "\n".join(problems)


def test_allowlist_names_only_files_that_still_hold_sql() -> None:
    stale = sorted(
        name
        for name in ALLOWLIST
        if not (ROOT / name).exists() or not sql_sites((ROOT / name).read_text(encoding="utf-8"))
    )
    assert not stale, f"no SQL left in {stale}: remove them from ALLOWLIST"


def test_the_scanner_finds_sql_and_leaves_prose_alone() -> None:
    source = '''
"""Delete a player, or update it."""
def f(db, self, table):
    """Select the players from the list."""
    db.conn.execute("SELECT 1")
    db.query("SELECT name FROM players WHERE id = ?", [1])
    self.app.db["players"].insert({})
    rows = f"SELECT {table}.* FROM {table}"
    sql = "insert or replace into ratings (a) VALUES (?)"
    self.query(Cell)
    text = " with weight repacking on (repack = true)"
    note = "Drop the first columns"
    db.conn.close()
'''
    lines = {line for line, _ in sql_sites(source)}
    assert lines == {5, 6, 7, 8, 9}
