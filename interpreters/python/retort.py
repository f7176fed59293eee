"""The API a Python revision script sees: ``from retort import db, log``.

``db.execute(sql, params)`` runs one statement (placeholders ``$1``..``$N``
on every dialect) and returns the rows it affected (0 offline);
``db.query(sql, params)`` returns :class:`Rows` online and raises offline;
``db.dialect`` is ``"postgres"``, ``"mysql"`` or ``"sqlite"``; ``db.mode`` is
``"online"`` or ``"offline"``. A statement the database refuses raises
:class:`DatabaseError`; left uncaught, it fails the revision, which is rolled
back.
"""

from wit_world.imports import database as _database
from wit_world.imports import log as _log
from wit_world.imports import types as _types
from componentize_py_types import Err as _Err


class DatabaseError(Exception):
    """The database refused a statement; ``code`` is its SQLSTATE or error code."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        self.code = code


def _to_value(v):
    if v is None:
        return _types.Value_Null()
    if isinstance(v, bool):
        return _types.Value_Boolean(v)
    if isinstance(v, int):
        return _types.Value_Integer(v)
    if isinstance(v, float):
        return _types.Value_Float(v)
    if isinstance(v, str):
        return _types.Value_Text(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return _types.Value_Blob(bytes(v))
    raise TypeError(f"cannot bind a {type(v).__name__} as a SQL parameter: use None, bool, int, float, str or bytes")


def _from_value(v):
    if isinstance(v, _types.Value_Null):
        return None
    return v.value


class Rows:
    """Rows returned by ``db.query``: iterate for tuples; ``columns`` names them."""

    def __init__(self, columns, rows):
        self.columns = list(columns)
        self.rows = rows

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]

    def dicts(self):
        """The rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row)) for row in self.rows]

    def __repr__(self):
        return f"Rows(columns={self.columns!r}, rows={self.rows!r})"


class _Db:
    """The database the revision runs against."""

    @property
    def dialect(self):
        """``"postgres"``, ``"mysql"`` or ``"sqlite"``."""
        return _database.dialect().name.lower()

    @property
    def mode(self):
        """``"online"`` or ``"offline"``."""
        return _database.mode().name.lower()

    @property
    def offline(self):
        """True when statements are recorded into a script rather than run."""
        return self.mode == "offline"

    def execute(self, sql, params=()):
        """Runs one statement (``$1``..``$N`` placeholders); returns rows affected (0 offline)."""
        try:
            return _database.execute(sql, [_to_value(p) for p in params])
        except _Err as e:
            raise DatabaseError(e.value.message, e.value.code) from None

    def query(self, sql, params=()):
        """Runs one statement that returns rows; fails offline."""
        try:
            r = _database.query(sql, [_to_value(p) for p in params])
        except _Err as e:
            raise DatabaseError(e.value.message, e.value.code) from None
        return Rows(r.columns, [tuple(_from_value(v) for v in row) for row in r.values])


class _Log:
    """Messages to the person running the migration; ``log(m)`` is ``log.info(m)``."""

    def trace(self, msg):
        _log.log(_log.Level.TRACE, str(msg))

    def debug(self, msg):
        _log.log(_log.Level.DEBUG, str(msg))

    def info(self, msg):
        _log.log(_log.Level.INFO, str(msg))

    def warn(self, msg):
        _log.log(_log.Level.WARN, str(msg))

    def error(self, msg):
        _log.log(_log.Level.ERROR, str(msg))

    __call__ = info


db = _Db()
log = _Log()
