//! `retort revision --lang python|js`: a revision script, run as it is by
//! the language's interpreter component. The scaffold carries the new
//! revision's metadata, an `upgrade` and a `downgrade` that do nothing yet,
//! and comments showing the database API.

use super::NewRevision;

/// A string (or list of strings) literal both Python and JavaScript read:
/// JSON's escapes are a subset of theirs.
fn literal(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| literal(s)).collect();
    format!("[{}]", items.join(", "))
}

/// The text of a Python revision script.
pub fn python(rev: &NewRevision) -> String {
    let mut meta = format!(
        "id = {}\nparents = {}\nmessage = {}\n",
        literal(&rev.id),
        list(&rev.down_revisions),
        literal(&rev.message)
    );
    if !rev.branch_labels.is_empty() {
        meta.push_str(&format!("branch_labels = {}\n", list(&rev.branch_labels)));
    }
    if !rev.depends_on.is_empty() {
        meta.push_str(&format!("depends_on = {}\n", list(&rev.depends_on)));
    }
    format!(
        r#""""{message}

A Retort revision script, run by Retort's Python interpreter component: no
build step. `db.execute(sql, params)` runs one statement with `$1`..`$N`
placeholders; `db.query(sql, params)` returns rows (online only: check
`db.offline`); `db.dialect` is "postgres", "mysql" or "sqlite"; `log.info(...)`
reports progress. An exception rolls the revision back.
"""

from retort import db, log

{meta}

def upgrade():
    # db.execute("CREATE TABLE example (id INTEGER PRIMARY KEY, name TEXT)")
    # db.execute("INSERT INTO example (id, name) VALUES ($1, $2)", [1, "first"])
    pass


def downgrade():
    # db.execute("DROP TABLE example")
    pass
"#,
        message = rev
            .message
            .replace('\\', "\\\\")
            .replace("\"\"\"", "\\\"\\\"\\\""),
    )
}

/// The text of a JavaScript revision script.
pub fn javascript(rev: &NewRevision) -> String {
    let mut meta = format!(
        "exports.id = {};\nexports.parents = {};\nexports.message = {};\n",
        literal(&rev.id),
        list(&rev.down_revisions),
        literal(&rev.message)
    );
    if !rev.branch_labels.is_empty() {
        meta.push_str(&format!(
            "exports.branchLabels = {};\n",
            list(&rev.branch_labels)
        ));
    }
    if !rev.depends_on.is_empty() {
        meta.push_str(&format!("exports.dependsOn = {};\n", list(&rev.depends_on)));
    }
    format!(
        r#"// A Retort revision script, run by Retort's JavaScript interpreter component
// (QuickJS): no build step. `db.execute(sql, params)` runs one statement with
// `$1`..`$N` placeholders; `db.query(sql, params)` returns rows (online only:
// check `db.offline`); `db.dialect` is "postgres", "mysql" or "sqlite";
// `log.info(...)` reports progress. A thrown error rolls the revision back.

{meta}
exports.upgrade = function () {{
  // db.execute('CREATE TABLE example (id INTEGER PRIMARY KEY, name TEXT)');
  // db.execute('INSERT INTO example (id, name) VALUES ($1, $2)', [1, 'first']);
}};

exports.downgrade = function () {{
  // db.execute('DROP TABLE example');
}};
"#
    )
}

/// A plain SQL revision: its metadata header, then its two sections.
pub fn sql(rev: &NewRevision) -> String {
    let header = crate::catalog::sql_file::header_lines(&crate::sandbox::RevisionInfo {
        id: rev.id.clone(),
        down_revisions: rev.down_revisions.clone(),
        message: rev.message.clone(),
        branch_labels: rev.branch_labels.clone(),
        depends_on: rev.depends_on.clone(),
        transactional: true,
    });
    format!(
        "{header}-- A Retort revision in plain SQL: no build step. Each statement is sent on its\n\
         -- own (a failure names its line); add transactional=false to the header for\n\
         -- statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY).\n\n\
         -- retort:up\n\
         -- CREATE TABLE example (id INTEGER PRIMARY KEY, name VARCHAR(100));\n\n\
         -- retort:down\n\
         -- DROP TABLE example;\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaffold::Lang;

    fn rev() -> NewRevision {
        NewRevision {
            id: "0123456789ab".into(),
            message: "it's \"quoted\" \\ and \u{e9}".into(),
            down_revisions: vec!["aaaaaaaaaaaa".into(), "bbbbbbbbbbbb".into()],
            branch_labels: vec!["auth".into()],
            depends_on: vec![],
            lang: Lang::Python,
        }
    }

    #[test]
    fn metadata_is_written_as_literals() {
        let py = python(&rev());
        assert!(py.contains(r#"id = "0123456789ab""#), "{py}");
        assert!(
            py.contains(r#"parents = ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]"#),
            "{py}"
        );
        assert!(
            py.contains(r#"message = "it's \"quoted\" \\ and é""#),
            "{py}"
        );
        assert!(py.contains(r#"branch_labels = ["auth"]"#), "{py}");
        assert!(!py.contains("depends_on"), "{py}");
        let js = javascript(&rev());
        assert!(js.contains(r#"exports.id = "0123456789ab";"#), "{js}");
        assert!(js.contains(r#"exports.branchLabels = ["auth"];"#), "{js}");
    }
}
