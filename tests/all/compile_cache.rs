//! The compile cache (`<migrations>/.retort-cache/compiled/`): a warm run
//! loads what it runs from it, and a damaged, truncated or foreign artifact
//! is deleted and compiled again, never loaded.

use std::path::{Path, PathBuf};

use retort::{Config, Overrides, Project, Target};
use retort_tests::{EXAMPLE_CHAIN, EXAMPLE_IDS};

use crate::common::{Scratch, quiet, version_ids};

fn artifacts(migrations: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let compiled = migrations.join(".retort-cache/compiled");
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
                runtime.block_on(s.project());
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
