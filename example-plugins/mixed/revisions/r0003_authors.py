"""Revision 3 of the mixed chain, in Python: authors, and who wrote each note.

Python revisions are plain scripts run by Retort's Python interpreter
component; nothing to build. The metadata is module-level names, the work is
`upgrade()` and `downgrade()`, and the database is `retort.db`.
"""

from retort import db, log

id = "3c9f1a7e5b20"
parents = "b7e2a90c4d11"
message = "authors, in Python"

BLOB = {"postgres": "BYTEA", "mysql": "BLOB", "sqlite": "BLOB"}


def upgrade():
    db.execute(
        f"""CREATE TABLE authors (
            id INTEGER NOT NULL PRIMARY KEY,
            name VARCHAR(100) NOT NULL,
            karma DOUBLE PRECISION,
            active BOOLEAN NOT NULL,
            avatar {BLOB[db.dialect]}
        )"""
    )
    authors = [
        (1, "Ada O'Brien", 4.5, True, b"\x00\xffpng"),
        (2, "Bob \"the\" Builder", None, False, None),
    ]
    for author in authors:
        db.execute(
            "INSERT INTO authors (id, name, karma, active, avatar) VALUES ($1, $2, $3, $4, $5)",
            author,
        )
    db.execute("ALTER TABLE notes ADD COLUMN author_id INTEGER")
    if db.offline:
        # No rows to read offline: the same backfill, in SQL.
        db.execute("UPDATE notes SET author_id = $1", [1])
    else:
        notes = db.query("SELECT id FROM notes ORDER BY id")
        for (note_id,) in notes:
            db.execute("UPDATE notes SET author_id = $1 WHERE id = $2", [1, note_id])
        log.info(f"attributed {len(notes)} note(s) to Ada")


def downgrade():
    db.execute("ALTER TABLE notes DROP COLUMN author_id")
    db.execute("DROP TABLE authors")
