// Revision 4 of the mixed chain, in JavaScript: how many notes each author
// wrote. JavaScript revisions are scripts run by Retort's JavaScript
// interpreter component (QuickJS); `db` and `log` are in scope.

exports.id = 'e4a7b2c9d031';
exports.parents = '3c9f1a7e5b20';
exports.message = 'note counts, in JavaScript';

exports.upgrade = function () {
  db.execute(`CREATE TABLE note_counts (
    author_id INTEGER NOT NULL PRIMARY KEY,
    notes INTEGER NOT NULL
  )`);
  if (db.offline) {
    db.execute(`INSERT INTO note_counts (author_id, notes)
      SELECT a.id, (SELECT COUNT(*) FROM notes n WHERE n.author_id = a.id) FROM authors a`);
    return;
  }
  const authors = db.query('SELECT id FROM authors ORDER BY id');
  for (const [authorId] of authors) {
    const [[count]] = db.query('SELECT COUNT(*) FROM notes WHERE author_id = $1', [authorId]);
    db.execute('INSERT INTO note_counts (author_id, notes) VALUES ($1, $2)', [authorId, Number(count)]);
  }
  log.info(`counted notes of ${authors.length} author(s)`);
};

exports.downgrade = function () {
  db.execute('DROP TABLE note_counts');
};
