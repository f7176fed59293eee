"""Retort's port of Alembic's ``op``, for the revision scripts ``retort import
alembic`` writes: they keep Alembic's module as written, with ``from alembic
import op`` bound to :data:`op` and each other name imported from alembic or
sqlalchemy bound to :func:`unported`.

``op.execute(sql)`` (``sql`` a string, or ``sa.text("...")``) runs ``sql``
with ``db.execute``, in the revision's transaction, as Alembic would;
``op.f(name)`` is ``name``. Any other ``op.*`` operation raises
``NotImplementedError`` when called: rewrite it as SQL. Module code that only
builds SQLAlchemy objects (``sa.Column(...)`` at module level) still loads.
"""

from retort import db

# The dotted names that are SQLAlchemy's ``text()``: SQL given as a string.
_TEXT = frozenset(
    {"sqlalchemy.text", "sqlalchemy.sql.text", "sqlalchemy.sql.expression.text"}
)


def text(sql):
    """``sa.text(sql)``: the SQL itself, which ``op.execute`` runs."""
    return str(sql)


class Unported:
    """A name from alembic or sqlalchemy with no Retort port. Reading its
    attributes or calling it gives more of them (so module code that only
    builds objects still loads); running one as SQL raises."""

    def __init__(self, path):
        self._retort_path = path

    def __getattr__(self, name):
        return unported(f"{self._retort_path}.{name}")

    def __call__(self, *args, **kwargs):
        return Unported(f"{self._retort_path}(...)")

    def __repr__(self):
        return self._retort_path


def unported(path):
    """The stand-in for ``path`` (``"sqlalchemy.dialects.postgresql"``)."""
    return text if path in _TEXT else Unported(path)


class Operations:
    """Alembic's ``op``, as far as Retort runs it."""

    def execute(self, sqltext, execution_options=None):
        """Runs ``sqltext`` (SQL text) in the revision's transaction."""
        if not isinstance(sqltext, str):
            raise NotImplementedError(
                f"op.execute({sqltext!r}): a SQLAlchemy construct, not SQL text; "
                "write the SQL it stands for: op.execute(\"<SQL>\")"
            )
        db.execute(sqltext)

    def f(self, name):
        """``op.f(name)``: the name as given."""
        return name

    def __getattr__(self, name):
        def not_ported(*args, **kwargs):
            raise NotImplementedError(
                f"op.{name}() is an Alembic operation Retort has no port of: "
                "rewrite it as op.execute(\"<SQL>\") (retort import listed this call)"
            )

        return not_ported


op = Operations()
