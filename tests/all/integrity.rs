//! Integrity: the version table keeps each applied component's sha256; a
//! changed component is refused until it is restored or explicitly accepted.

use retort_tests::{EXAMPLE_CHAIN, EXAMPLE_IDS};

use crate::common::{Scratch, retort, sqlite3, text};

/// The same component with a custom section appended: valid, same
/// revision, different bytes (what a rebuild with another toolchain gives).
fn rebuilt(bytes: &[u8]) -> Vec<u8> {
    let name = b"rebuilt-by";
    let payload = b"another toolchain";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(payload);
    let mut out = bytes.to_vec();
    out.push(0); // custom section id
    out.push(section.len() as u8);
    out.extend_from_slice(&section);
    out
}

fn project() -> Scratch {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    std::fs::write(
        s.dir.path().join("retort.toml"),
        "database_url = \"sqlite:app.db\"\nmigrations = \"migrations\"\n",
    )
    .unwrap();
    let out = retort(s.dir.path(), &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    s
}

#[test]
fn a_changed_component_is_refused_until_accepted() {
    let s = project();
    let path = s.migrations.join("r0003_user_slugs.wasm");
    let old = sqlite3(
        &s.db("app.db"),
        "SELECT sha256 FROM retort_version WHERE revision_id = 'a94d0e6f3c21'",
    );
    std::fs::write(&path, rebuilt(&std::fs::read(&path).unwrap())).unwrap();

    let out = retort(s.dir.path(), &["run"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("refusing to run: 1 applied revision(s) no longer match"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("a94d0e6f3c21: applied from sha256 {}", old.trim())),
        "{stderr}"
    );
    assert!(
        stderr.contains("r0003_user_slugs.wasm now has sha256 "),
        "{stderr}"
    );
    assert!(
        stderr.contains("retort verify --accept a94d0e6f3c21"),
        "{stderr}"
    );
    // downgrade refuses too: it would run code nobody reviewed.
    assert_eq!(
        retort(s.dir.path(), &["downgrade", "-1"]).status.code(),
        Some(4)
    );

    let out = retort(s.dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(text(&out).1.contains("a94d0e6f3c21: applied from sha256"));

    let out = retort(s.dir.path(), &["verify", "--accept", "a94d"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(
        text(&out).1.contains("Accepted a94d0e6f3c21"),
        "{}",
        text(&out).1
    );
    let new = sqlite3(
        &s.db("app.db"),
        "SELECT sha256 FROM retort_version WHERE revision_id = 'a94d0e6f3c21'",
    );
    assert_ne!(new, old);
    let out = retort(s.dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(
        text(&out)
            .1
            .contains("Every applied revision matches its file")
    );
    assert_eq!(
        retort(s.dir.path(), &["downgrade", "-1"]).status.code(),
        Some(0)
    );

    let out = retort(s.dir.path(), &["verify", "--accept", "1f3a9c0d2b7e"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out)
            .1
            .contains("revision 1f3a9c0d2b7e has not drifted"),
        "{}",
        text(&out).1
    );
}

#[test]
fn renaming_or_moving_a_component_is_not_drift() {
    let s = project();
    std::fs::rename(
        s.migrations.join("r0004_indexes.wasm"),
        s.migrations.join("0004 renamed by hand.wasm"),
    )
    .unwrap();
    let out = retort(s.dir.path(), &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    let out = retort(s.dir.path(), &["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert_eq!(crate::common::version_ids(&s.db("app.db")), EXAMPLE_IDS);
}

#[test]
fn a_dry_run_refuses_drift_like_the_real_run() {
    let s = project();
    let path = s.migrations.join("r0004_indexes.wasm");
    std::fs::write(&path, rebuilt(&std::fs::read(&path).unwrap())).unwrap();
    let out = retort(s.dir.path(), &["run", "--dry-run"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out).1);
    assert!(
        text(&out).1.contains("e05b7d9c1a42: applied from sha256"),
        "{}",
        text(&out).1
    );
}
