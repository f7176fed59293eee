"""Type stub of ``retort``, the module a Python revision imports:
``from retort import db, log``. Written by ``retort init --lang python`` so
that editors and type checkers know the API; the module itself is built into
Retort's Python interpreter.

A revision sets ``id``, ``parents`` and ``message`` at module level
(optionally ``branch_labels``, ``depends_on`` and ``transactional``) and
defines ``upgrade()`` and ``downgrade()``.
"""

from typing import Any, Iterator, Literal, Sequence, Tuple, Union

Param = Union[None, bool, int, float, str, bytes, bytearray, memoryview]
"""What a statement parameter may be."""

Value = Union[None, bool, int, float, str, bytes]
"""What a query returns in a row."""

class DatabaseError(Exception):
    """The database refused a statement; ``code`` is its SQLSTATE or error code."""

    message: str
    code: str | None
    def __init__(self, message: str, code: str | None = ...) -> None: ...

class Rows:
    """Rows returned by ``db.query``: iterate for tuples; ``columns`` names them."""

    columns: list[str]
    rows: list[Tuple[Value, ...]]
    def __iter__(self) -> Iterator[Tuple[Value, ...]]: ...
    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> Tuple[Value, ...]: ...
    def dicts(self) -> list[dict[str, Value]]:
        """The rows as dicts keyed by column name."""
        ...

class _Db:
    @property
    def dialect(self) -> Literal["postgres", "mysql", "sqlite"]:
        """The database the revision runs against."""
        ...
    @property
    def mode(self) -> Literal["online", "offline"]:
        """``"offline"`` when statements are recorded into a script rather than run."""
        ...
    @property
    def offline(self) -> bool: ...
    def execute(self, sql: str, params: Sequence[Param] = ...) -> int:
        """Runs one statement (``$1``..``$N`` placeholders on every dialect);
        returns the rows it affected (0 offline). Raises :class:`DatabaseError`."""
        ...
    def query(self, sql: str, params: Sequence[Param] = ...) -> Rows:
        """Runs one statement that returns rows; raises offline."""
        ...

class _Log:
    """Messages to the person running the migration; ``log(m)`` is ``log.info(m)``."""

    def __call__(self, msg: Any) -> None: ...
    def trace(self, msg: Any) -> None: ...
    def debug(self, msg: Any) -> None: ...
    def info(self, msg: Any) -> None: ...
    def warn(self, msg: Any) -> None: ...
    def error(self, msg: Any) -> None: ...

db: _Db
log: _Log
