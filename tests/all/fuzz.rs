//! Bounded fuzzing on stable Rust: random and mutated inputs for the parsers
//! that face untrusted or hand-written input (component bytes and metadata,
//! the config file, targets and ranges, SQL placeholders). Every input must
//! give `Ok` or a clean error, never a panic or a hang.
//!
//! `cargo fuzz` needs a nightly toolchain, which these machines do not have;
//! proptest drives the same idea here. Cases per target default to a few
//! hundred so CI spends seconds; `RETORT_FUZZ_CASES=100000` fuzzes for longer.

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use retort::{Catalog, Config, Dialect, Overrides, Range, Sandbox, Target, Value};
use retort_tests::EXAMPLE_CHAIN;

fn cases(default: u32) -> u32 {
    std::env::var("RETORT_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default)
}

fn runner(default_cases: u32) -> TestRunner {
    TestRunner::new(RunnerConfig {
        cases: cases(default_cases),
        failure_persistence: None,
        ..RunnerConfig::default()
    })
}

/// A mutation of a valid input: flip, overwrite, insert, delete or truncate.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, Vec<u8>),
    Delete(prop::sample::Index, usize),
    Truncate(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<prop::sample::Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        match m {
            Mutation::Flip(i, x) => {
                let at = i.index(bytes.len());
                bytes[at] ^= x;
            }
            Mutation::Insert(i, extra) => {
                let at = i.index(bytes.len());
                bytes.splice(at..at, extra.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = i.index(bytes.len());
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
            Mutation::Truncate(i) => {
                let at = i.index(bytes.len());
                bytes.truncate(at);
            }
        }
    }
    bytes
}

fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| Sandbox::new().expect("engine"))
}

#[test]
fn mutated_components_load_or_fail_cleanly() {
    let originals: Vec<Vec<u8>> = EXAMPLE_CHAIN
        .iter()
        .map(|p| std::fs::read(p).expect("component"))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let strategy = (
        prop::sample::select((0..originals.len()).collect::<Vec<_>>()),
        prop::collection::vec(mutation(), 1..4),
    );
    runner(48)
        .run(&strategy, |(which, mutations)| {
            let dir = tempfile::tempdir().unwrap();
            let bytes = mutate(originals[which].clone(), &mutations);
            std::fs::write(dir.path().join("fuzzed.wasm"), &bytes).unwrap();
            let loaded = rt.block_on(Catalog::load(
                sandbox(),
                dir.path(),
                None,
                None,
                &Default::default(),
            ));
            if let Err(e) = loaded {
                // A mutation that keeps the component valid may still break
                // the graph (a parent id flipped); either way, a message.
                let message = e.to_string();
                prop_assert!(
                    message.contains("fuzzed.wasm") || message.contains("revision "),
                    "the error names neither the file nor a revision: {message}"
                );
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn random_bytes_never_load() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runner(200)
        .run(&prop::collection::vec(any::<u8>(), 0..512), |bytes| {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("random.wasm"), &bytes).unwrap();
            let result = rt.block_on(Catalog::load(
                sandbox(),
                dir.path(),
                None,
                None,
                &Default::default(),
            ));
            prop_assert!(result.is_err());
            Ok(())
        })
        .unwrap();
}

/// Config files built from real keys, real and hostile values, and noise.
fn config_text() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "database_url",
        "migrations",
        "version_table",
        "schema",
        "lock",
        "lock_timeout",
        "transaction_mode",
        "cache_dir",
        "revisions",
        "[limits]",
        "[policy]",
        "[limits.revisions.ab12]",
        "cpu_secs",
        "timeout_secs",
        "memory_mb",
        "deny",
        "allow",
        "tables",
    ]);
    let value = prop_oneof![
        Just("\"sqlite:${HOME:-x}.db\"".to_string()),
        Just("\"${UNSET}\"".to_string()),
        Just("\"${\"".to_string()),
        Just("-1".to_string()),
        Just("1e308".to_string()),
        Just("[\"drop\", \"nonsense\"]".to_string()),
        Just("[\"a.b.c\"]".to_string()),
        Just("true".to_string()),
        "\\PC{0,12}".prop_map(|s| format!("{s:?}")),
        any::<i64>().prop_map(|i| i.to_string()),
    ];
    prop::collection::vec((key, value, "\\PC{0,3}"), 0..8).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(k, v, noise)| {
                if k.starts_with('[') {
                    format!("{k}\n")
                } else {
                    format!("{k} = {v}{noise}\n")
                }
            })
            .collect()
    })
}

#[test]
fn config_files_parse_or_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("retort.toml");
    runner(500)
        .run(&prop_oneof![config_text(), "\\PC{0,200}"], |text| {
            std::fs::write(&path, &text).unwrap();
            let overrides = Overrides {
                config: Some(path.clone()),
                ..Overrides::default()
            };
            if let Err(e) = Config::load_with_env(&overrides, &|_| None) {
                prop_assert!(!e.to_string().is_empty());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn targets_and_ranges_parse_or_fail_cleanly() {
    let pieces = prop::sample::select(vec![
        "head",
        "heads",
        "base",
        "@",
        "+",
        "-",
        ":",
        "ab",
        "1f3a",
        "auth",
        "99999999999999999999",
        "0",
        "@head",
        "@base",
        "@-",
        "@+",
        " ",
        "é",
    ]);
    let strategy = prop_oneof![
        prop::collection::vec(pieces, 0..6).prop_map(|p| p.concat()),
        "\\PC{0,40}",
    ];
    runner(2000)
        .run(&strategy, |text| {
            let _ = text.parse::<Target>();
            let _ = text.parse::<Range>();
            Ok(())
        })
        .unwrap();
}

#[test]
fn sql_placeholders_scan_or_fail_cleanly() {
    let pieces = prop::sample::select(vec![
        "$", "$1", "$2", "$$", "$tag$", "'", "''", "\"", "`", "[", "]", "--", "\n", "/*", "*/",
        "#", "\\", "E'", "SELECT ", "x", ";", "?", "😀",
    ]);
    runner(3000)
        .run(&prop::collection::vec(pieces, 0..24), |parts| {
            let sql = parts.concat();
            let params = [Value::Integer(1), Value::Text("it's".into())];
            for dialect in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
                let _ = dialect.translate(&sql, &params);
                let _ = dialect.inline_params(&sql, &params);
                let _ = dialect.commits_implicitly(&sql);
            }
            Ok(())
        })
        .unwrap();
}
