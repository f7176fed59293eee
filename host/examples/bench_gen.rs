//! Writes N distinct benchmark revisions: copies of the template components
//! built from `bench/guest` with their placeholder ids replaced (same length,
//! so every copy stays a valid component with its own sha256). Copy 0 is a
//! base; copy i follows copy i-1. See `scripts/bench`.
//!
//! ```sh
//! bench_gen FIRST.wasm NEXT.wasm DIR N
//! ```

#[path = "bench/workload.rs"]
#[allow(dead_code)]
mod workload;

use std::process::ExitCode;

fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    let mut count = 0;
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
        let start = at + found;
        bytes[start..start + from.len()].copy_from_slice(to);
        at = start + from.len();
        count += 1;
    }
    count
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [first, next, dir, n] = args.as_slice() else {
        eprintln!("usage: bench_gen FIRST.wasm NEXT.wasm DIR N");
        return ExitCode::from(2);
    };
    let Ok(n) = n.parse::<usize>() else {
        eprintln!("error: N must be a whole number, not {n:?}");
        return ExitCode::from(2);
    };
    let read = |path: &str| {
        std::fs::read(path).map_err(|e| {
            format!(
                "cannot read template {path}: {e}; build bench/guest first (scripts/bench does)"
            )
        })
    };
    let (first, next) = match (read(first), read(next)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: cannot create {dir}: {e}");
        return ExitCode::from(2);
    }
    for i in 0..n {
        let mut bytes = if i == 0 { first.clone() } else { next.clone() };
        let ids = replace_all(
            &mut bytes,
            workload::ID_PLACEHOLDER,
            workload::id(i).as_bytes(),
        );
        let parents = match i {
            0 => 1,
            _ => replace_all(
                &mut bytes,
                workload::PARENT_PLACEHOLDER,
                workload::id(i - 1).as_bytes(),
            ),
        };
        if ids == 0 || parents == 0 {
            eprintln!("error: the template lacks its placeholders; is it built from bench/guest?");
            return ExitCode::from(2);
        }
        let path = std::path::Path::new(dir).join(format!("{}.wasm", workload::id(i)));
        if let Err(e) = std::fs::write(&path, &bytes) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
