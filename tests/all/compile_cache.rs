//! The compile cache (the machine's, or a configured `cache_dir`'s `compiled/`): a warm run
//! loads what it runs from it, and a damaged, truncated or foreign artifact
//! is deleted and compiled again, never loaded.

use std::path::{Path, PathBuf};

use retort::{Config, Overrides, Project, Target};
use retort_tests::{EXAMPLE_CHAIN, EXAMPLE_IDS};

use crate::common::{Scratch, quiet, version_ids};

fn artifacts(migrations: &Path) -> Vec<PathBuf> {
    artifacts_in(&migrations.join(".retort-cache"))
}

/// The artifacts under a cache directory (`<dir>/compiled/<engine>/…`).
fn artifacts_in(cache_dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let compiled = cache_dir.join("compiled");
    for engine in std::fs::read_dir(compiled).expect("the compile cache exists") {
        for file in std::fs::read_dir(engine.unwrap().path()).unwrap() {
            found.push(file.unwrap().path());
        }
    }
    found.sort();
    found
}

fn sorted(ids: &[&str]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn damaged_artifacts_are_compiled_again_not_loaded() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let cold = s.project().await;
    // The metadata came from the components' sections: compile them now.
    assert_eq!(cold.precompile().unwrap(), 4);
    assert_eq!(cold.catalog().compile_counts(), (0, 4));
    let files = artifacts(&s.migrations);
    assert_eq!(files.len(), 4, "{files:?}");

    // One byte flipped, one truncated, one replaced by something else.
    let mut flipped = std::fs::read(&files[0]).unwrap();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    std::fs::write(&files[0], flipped).unwrap();
    let whole = std::fs::read(&files[1]).unwrap();
    std::fs::write(&files[1], &whole[..whole.len() / 2]).unwrap();
    std::fs::write(&files[2], b"\x7fELF but not really").unwrap();

    let warm = s.project().await;
    warm.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert_eq!(version_ids(&s.db("app.db")), sorted(&EXAMPLE_IDS));
    assert_eq!(warm.catalog().compile_counts(), (1, 3));
    assert_eq!(
        artifacts(&s.migrations),
        files,
        "rebuilt under the same names"
    );

    let again = s.project().await;
    again
        .downgrade(&"base".parse().unwrap(), &mut quiet())
        .await
        .unwrap();
    assert_eq!(again.catalog().compile_counts(), (4, 0));
}

#[test]
fn concurrent_cold_runs_leave_whole_artifacts() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let project = runtime.block_on(s.project());
                project.precompile().unwrap();
            });
        }
    });
    let files = artifacts(&s.migrations);
    assert_eq!(files.len(), 4, "no temporary files are left: {files:?}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let warm = s.project().await;
        warm.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
        assert_eq!(warm.catalog().compile_counts(), (4, 0));
    });
}

#[tokio::test]
async fn without_a_cache_components_stay_in_memory() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let config = Config::load_with_env(
        &Overrides {
            database_url: Some(s.url()),
            migrations: Some(s.migrations.clone()),
            ..Overrides::default()
        },
        &|name| (name == "RETORT_CACHE_DIR").then(|| "off".to_string()),
    )
    .unwrap();
    let project = Project::open(config).await.unwrap();
    project.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert_eq!(version_ids(&s.db("app.db")), sorted(&EXAMPLE_IDS));
    assert_eq!(project.catalog().compile_counts(), (0, 4));
    assert!(!s.migrations.join(".retort-cache").exists());
}

/// The `retort:info` section that `export_revision!` writes: the catalog
/// reads a cold directory's metadata from it without compiling anything.
#[tokio::test]
async fn a_cold_catalog_reads_sdk_metadata_from_the_section_without_compiling() {
    for path in EXAMPLE_CHAIN {
        let bytes = std::fs::read(path).unwrap();
        assert!(
            bytes.windows(14).any(|w| w == b"retort-info-v1"),
            "{path} has no retort:info section"
        );
    }
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let cold = s.project().await;
    assert_eq!(cold.catalog().compile_counts(), (0, 0));
    let ids: Vec<&str> = cold.graph().ordered().into_iter().collect();
    assert_eq!(ids, EXAMPLE_IDS);
    // The run compiles what it runs, and checks each live info() first.
    cold.upgrade(&Target::Heads, &mut quiet()).await.unwrap();
    assert_eq!(version_ids(&s.db("app.db")), sorted(&EXAMPLE_IDS));
}

/// A section that claims other metadata than the component's `info()`:
/// `history` believes it, the run refuses before anything runs.
#[test]
fn a_section_that_lies_fails_the_run_before_any_statement() {
    let s = Scratch::new(&EXAMPLE_CHAIN[..1]);
    let file = std::fs::read_dir(&s.migrations)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "wasm"))
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let at = wasmparser::Parser::new(0)
        .parse_all(&bytes)
        .find_map(|payload| match payload.unwrap() {
            wasmparser::Payload::CustomSection(c) if c.name() == "retort:info" => {
                Some(c.data_offset() as usize)
            }
            _ => None,
        })
        .expect("the component has a retort:info section")
        + 14;
    // id (u32 length + bytes), down_revisions (count 0), then the message.
    let id_len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let message = at + 4 + id_len + 4 + 4;
    let message_len = u32::from_le_bytes(bytes[message - 4..message].try_into().unwrap()) as usize;
    assert!(message_len > 0);
    for b in &mut bytes[message..message + message_len] {
        *b = b'X';
    }
    std::fs::write(&file, &bytes).unwrap();
    let cwd = s.dir.path();
    let url = s.url();
    let migrations = s.migrations.to_str().unwrap();
    let history = crate::common::retort(cwd, &["--migrations", migrations, "history"]);
    assert!(
        history.status.success(),
        "{}",
        crate::common::text(&history).1
    );
    let shown = crate::common::text(&history).0;
    assert!(shown.contains(&"X".repeat(message_len)), "{shown}");
    let out = crate::common::retort(
        cwd,
        &[
            "--database-url",
            &url,
            "--migrations",
            migrations,
            "upgrade",
        ],
    );
    let stderr = crate::common::text(&out).1;
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("its retort:info section claims other metadata"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was run"), "{stderr}");
    assert_eq!(
        crate::common::sqlite3(
            &s.db("app.db"),
            "SELECT count(*) FROM sqlite_master WHERE name = 'users';"
        ),
        "0\n"
    );
}

/// The deploy-image recipe (README, "Shipping warm"): the image's build
/// stage runs `retort build` over migrations whose components arrived
/// prebuilt (no revision crates to build), and the image starts warm: its
/// first `retort run` compiles nothing.
#[test]
fn retort_build_warms_a_deploy_image_so_its_first_run_compiles_nothing() {
    let s = Scratch::new(&EXAMPLE_CHAIN);
    let cwd = s.dir.path();
    let machine = cwd.join("image-cache");
    let migrations = s.migrations.to_str().unwrap();
    let retort = |args: &[&str]| {
        crate::common::retort_command(cwd, args)
            .env("XDG_CACHE_HOME", &machine)
            .output()
            .unwrap()
    };
    let out = retort(&["--migrations", migrations, "build"]);
    let (stdout, stderr) = crate::common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("Compiled 4 component(s) into the compile cache"),
        "{stdout}{stderr}"
    );
    // Into the machine's cache: every checkout on it shares them.
    assert_eq!(artifacts_in(&machine.join("retort")).len(), 4);
    assert!(!s.migrations.join(".retort-cache/compiled").exists());
    assert!(!s.db("app.db").exists(), "build connects to no database");
    let url = s.url();
    let out = retort(&[
        "--database-url",
        &url,
        "--migrations",
        migrations,
        "--format",
        "json",
        "run",
    ]);
    let (stdout, stderr) = crate::common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let done = crate::deploy::events(&stdout)
        .into_iter()
        .find(|e| e["event"] == "done")
        .expect("a done event");
    assert_eq!(done["compiled"], 0, "{stdout}");
    assert_eq!(done["count"], 4, "{stdout}");
    assert_eq!(version_ids(&s.db("app.db")), sorted(&EXAMPLE_IDS));
}
