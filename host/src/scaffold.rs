//! New revision crates for `retort revision` and `retort merge`: a fresh id,
//! a `Cargo.toml` and a `src/lib.rs` that implements `retort_sdk::Revision`.
//!
//! Where `retort-sdk` comes from (it is not published, so it is a path
//! dependency):
//! - if the directory above the revisions directory holds a cargo workspace
//!   whose `[workspace.dependencies]` has `retort-sdk` (as the examples do),
//!   the crate inherits it and becomes a member through `members = ["revisions/*"]`;
//! - otherwise the crate is a workspace of its own with a path dependency on
//!   the SDK given by `--sdk` or `RETORT_SDK`, or else on the `plugin-sdk`
//!   directory of the source tree this `retort` was built from.

use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

mod script;
mod wat;

/// The source languages a revision can be scaffolded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lang {
    /// A Rust `cdylib` crate built for `wasm32-wasip2`.
    Rust,
    /// A component in the WebAssembly text format: one `.wat` file, run as it is.
    Wat,
    /// A Python script (`.py`), run by the Python interpreter component.
    Python,
    /// A JavaScript script (`.js`), run by the JavaScript interpreter component.
    JavaScript,
    /// Plain SQL (`.sql`, with `-- retort:up` / `-- retort:down` sections), run by the host.
    Sql,
}

impl Lang {
    /// The extension of a single-file revision in this language; `None` for
    /// a crate.
    pub fn file_extension(self) -> Option<&'static str> {
        match self {
            Lang::Rust => None,
            Lang::Wat => Some("wat"),
            Lang::Python => Some("py"),
            Lang::JavaScript => Some("js"),
            Lang::Sql => Some("sql"),
        }
    }
}

/// What the new revision says about itself.
#[derive(Debug, Clone)]
pub struct NewRevision {
    /// Its id (see [`fresh_id`]).
    pub id: String,
    /// Its one-line message.
    pub message: String,
    /// Parents: none for a new base, several for a merge.
    pub down_revisions: Vec<String>,
    /// Branch labels it declares.
    pub branch_labels: Vec<String>,
    /// Revisions it depends on without following them.
    pub depends_on: Vec<String>,
    /// Source language.
    pub lang: Lang,
}

/// Where the crate was written and how to build it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scaffolded {
    /// The revision id.
    pub id: String,
    /// The crate's directory (for a single-file revision such as `.wat`: the file).
    pub dir: PathBuf,
    /// The crate's name (also the `.wasm` file's stem; for a single-file
    /// revision, the file's stem).
    pub crate_name: String,
    /// The parents it was given.
    pub down_revisions: Vec<String>,
    /// The workspace the crate belongs to: the one found above the revisions
    /// directory, or the crate itself.
    pub workspace: PathBuf,
}

/// A crate could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScaffoldError {
    /// Writing failed.
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The crate directory exists already.
    #[error("{} exists already; remove it or choose another message", .0.display())]
    Exists(PathBuf),
    /// No retort-sdk to depend on.
    #[error(
        "cannot find retort-sdk: pass --sdk PATH (or set RETORT_SDK) to the plugin-sdk directory of a Retort checkout"
    )]
    NoSdk,
}

/// A fresh 12-hex-digit id, not among `taken`.
pub fn fresh_id(seed: &str, taken: &dyn Fn(&str) -> bool) -> String {
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    for attempt in 0u32.. {
        let mut h = Sha256::new();
        h.update(format!("{time}\0{}\0{attempt}\0{seed}", std::process::id()).as_bytes());
        let id = hex::encode(h.finalize())[..12].to_string();
        // Never all digits, so an id cannot be mistaken for a step count.
        if !taken(&id) && id.chars().any(|c| c.is_ascii_alphabetic()) {
            return id;
        }
    }
    unreachable!("an unbounded counter always finds a free id")
}

/// `r<id>_<words of the message>`: a valid crate name that sorts by id.
pub fn crate_name(id: &str, message: &str) -> String {
    let mut slug = String::new();
    for word in message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if slug.len() + word.len() > 40 {
            break;
        }
        if !slug.is_empty() {
            slug.push('_');
        }
        slug.push_str(&word.to_ascii_lowercase());
    }
    if slug.is_empty() {
        format!("r{id}")
    } else {
        format!("r{id}_{slug}")
    }
}

/// The SDK compiled into this binary's source tree, if it is still there.
pub fn built_in_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk");
    sdk.join("Cargo.toml")
        .is_file()
        .then(|| sdk.canonicalize().ok())
        .flatten()
}

/// Writes the crate for `rev` into `revisions/<crate name>/`.
pub fn write_crate(
    revisions: &Path,
    rev: &NewRevision,
    sdk: Option<&Path>,
) -> Result<Scaffolded, ScaffoldError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Io { path, source }
    };
    let crate_name = crate_name(&rev.id, &rev.message);
    if let Some(extension) = rev.lang.file_extension() {
        let file = revisions.join(format!("{crate_name}.{extension}"));
        if file.exists() {
            return Err(ScaffoldError::Exists(file));
        }
        let text = match rev.lang {
            Lang::Python => script::python(rev),
            Lang::JavaScript => script::javascript(rev),
            Lang::Sql => script::sql(rev),
            _ => wat::component(rev),
        };
        std::fs::create_dir_all(revisions).map_err(io(revisions))?;
        std::fs::write(&file, text).map_err(io(&file))?;
        return Ok(Scaffolded {
            id: rev.id.clone(),
            dir: file,
            crate_name,
            down_revisions: rev.down_revisions.clone(),
            workspace: revisions.to_path_buf(),
        });
    }
    let dir = revisions.join(&crate_name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let parent_workspace = revisions
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .filter(|p| workspace_with_sdk(p).is_some());
    let (manifest, workspace) = match parent_workspace {
        Some(ws) => {
            let inherited = workspace_with_sdk(ws).unwrap_or_default();
            (member_manifest(&crate_name, &inherited), ws.to_path_buf())
        }
        None => {
            let sdk = sdk.map(Path::to_path_buf).or_else(built_in_sdk);
            let sdk = sdk.ok_or(ScaffoldError::NoSdk)?;
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            let sdk_path = relative_to(&sdk, &dir);
            (standalone_manifest(&crate_name, &sdk_path), dir.clone())
        }
    };
    let src = dir.join("src");
    std::fs::create_dir_all(&src).map_err(io(&src))?;
    let toml = dir.join("Cargo.toml");
    std::fs::write(&toml, manifest).map_err(io(&toml))?;
    let lib = src.join("lib.rs");
    std::fs::write(&lib, lib_rs(rev)).map_err(io(&lib))?;
    Ok(Scaffolded {
        id: rev.id.clone(),
        dir,
        crate_name,
        down_revisions: rev.down_revisions.clone(),
        workspace,
    })
}

/// If `dir/Cargo.toml` is a workspace that provides `retort-sdk`, the
/// `[workspace.package]` keys a member can inherit.
fn workspace_with_sdk(dir: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
    let doc: toml::Table = toml::from_str(&text).ok()?;
    let ws = doc.get("workspace")?.as_table()?;
    ws.get("dependencies")?.as_table()?.get("retort-sdk")?;
    let package = ws.get("package").and_then(|p| p.as_table());
    Some(
        ["version", "edition", "publish"]
            .into_iter()
            .filter(|k| package.is_some_and(|p| p.contains_key(*k)))
            .map(str::to_string)
            .collect(),
    )
}

fn member_manifest(name: &str, inherited: &[String]) -> String {
    let mut out = format!("[package]\nname = \"{name}\"\n");
    for (key, default) in [
        ("version", "\"0.1.0\""),
        ("edition", "\"2024\""),
        ("publish", "false"),
    ] {
        if inherited.iter().any(|k| k == key) {
            out.push_str(&format!("{key}.workspace = true\n"));
        } else {
            out.push_str(&format!("{key} = {default}\n"));
        }
    }
    out.push_str(
        "\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nretort-sdk.workspace = true\n",
    );
    out
}

fn standalone_manifest(name: &str, sdk: &Path) -> String {
    let sdk = toml::Value::String(sdk.display().to_string());
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\nretort-sdk = {{ path = {sdk} }}\n\n\
         # A workspace of its own: guest crates build for wasm32, apart from any host workspace.\n\
         [workspace]\n\n\
         [profile.release]\nopt-level = \"s\"\nlto = true\ncodegen-units = 1\npanic = \"abort\"\nstrip = true\n"
    )
}

fn str_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("&[{}]", quoted.join(", "))
}

fn lib_rs(rev: &NewRevision) -> String {
    let mut consts = format!(
        "    const ID: &'static str = {:?};\n    const DOWN_REVISIONS: &'static [&'static str] = {};\n    const MESSAGE: &'static str = {:?};\n",
        rev.id,
        str_list(&rev.down_revisions),
        rev.message
    );
    if !rev.branch_labels.is_empty() {
        consts.push_str(&format!(
            "    const BRANCH_LABELS: &'static [&'static str] = {};\n",
            str_list(&rev.branch_labels)
        ));
    }
    if !rev.depends_on.is_empty() {
        consts.push_str(&format!(
            "    const DEPENDS_ON: &'static [&'static str] = {};\n",
            str_list(&rev.depends_on)
        ));
    }
    let doc = rev.message.lines().next().unwrap_or("").trim();
    let doc = if doc.is_empty() {
        "A Retort revision."
    } else {
        doc
    };
    format!(
        "//! {doc}\n\
         use retort_sdk::{{Db, Result, Revision, export_revision}};\n\
         \n\
         struct Migration;\n\
         \n\
         impl Revision for Migration {{\n\
         {consts}\n\
         \x20   fn upgrade(db: &Db) -> Result<()> {{\n\
         \x20       // Apply the change, for example:\n\
         \x20       // db.execute(\"CREATE TABLE widgets (id INTEGER PRIMARY KEY)\", &[])?;\n\
         \x20       let _ = db;\n\
         \x20       Ok(())\n\
         \x20   }}\n\
         \n\
         \x20   fn downgrade(db: &Db) -> Result<()> {{\n\
         \x20       // Undo exactly what upgrade did, for example:\n\
         \x20       // db.execute(\"DROP TABLE widgets\", &[])?;\n\
         \x20       let _ = db;\n\
         \x20       Ok(())\n\
         \x20   }}\n\
         }}\n\
         \n\
         export_revision!(Migration);\n"
    )
}

/// The components of `p` with `.` dropped and `dir/..` folded.
fn normal(p: &Path) -> Vec<Component<'_>> {
    let mut out = Vec::new();
    for c in p.components() {
        match c {
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `target` as a path relative to `from` when both are absolute (or both
/// relative to the same directory); `target` itself otherwise.
pub(crate) fn relative_to(target: &Path, from: &Path) -> PathBuf {
    let abs = |p: &Path| {
        if p.is_absolute() {
            Some(p.to_path_buf())
        } else {
            std::env::current_dir().ok().map(|cwd| cwd.join(p))
        }
    };
    let (Some(target), Some(from)) = (abs(target), abs(from)) else {
        return target.to_path_buf();
    };
    let (t, f) = (normal(&target), normal(&from));
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return target;
    }
    let mut rel = PathBuf::new();
    for _ in common..f.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c.as_os_str());
    }
    rel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fresh_hex() {
        let id = fresh_id("x", &|_| false);
        assert_eq!(id.len(), 12);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        let first = id.clone();
        let other = fresh_id("x", &|candidate| candidate == first);
        assert_ne!(other, first);
    }

    #[test]
    fn crate_names() {
        assert_eq!(
            crate_name("ab12", "Add users.email (unique)!"),
            "rab12_add_users_email_unique"
        );
        assert_eq!(crate_name("ab12", "   "), "rab12");
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_to(Path::new("/a/b/sdk"), Path::new("/a/c/d")),
            PathBuf::from("../../b/sdk")
        );
        assert_eq!(
            relative_to(Path::new("/a/x/../sdk"), Path::new("/a/c")),
            PathBuf::from("../sdk")
        );
    }

    #[test]
    fn sources_quote_what_they_embed() {
        let rev = NewRevision {
            id: "0123456789ab".into(),
            message: "say \"hi\" \\ bye".into(),
            down_revisions: vec!["p1".into(), "p2".into()],
            branch_labels: vec!["auth".into()],
            depends_on: vec![],
            lang: Lang::Rust,
        };
        let lib = lib_rs(&rev);
        assert!(
            lib.contains(r#"const MESSAGE: &'static str = "say \"hi\" \\ bye";"#),
            "{lib}"
        );
        assert!(
            lib.contains(r#"const DOWN_REVISIONS: &'static [&'static str] = &["p1", "p2"];"#),
            "{lib}"
        );
        assert!(lib.contains(r#"BRANCH_LABELS: &'static [&'static str] = &["auth"];"#));
        assert!(!lib.contains("DEPENDS_ON"));
    }

    #[test]
    fn member_or_standalone() {
        let dir = tempfile::tempdir().unwrap();
        let revisions = dir.path().join("revisions");
        let rev = NewRevision {
            id: "0123456789ab".into(),
            message: "first".into(),
            down_revisions: vec![],
            branch_labels: vec![],
            depends_on: vec![],
            lang: Lang::Rust,
        };
        let sdk = dir.path().join("sdk");
        let made = write_crate(&revisions, &rev, Some(&sdk)).unwrap();
        let toml = std::fs::read_to_string(made.dir.join("Cargo.toml")).unwrap();
        assert!(
            toml.contains("retort-sdk = { path = \"../../sdk\" }"),
            "{toml}"
        );
        assert!(toml.contains("[workspace]"), "{toml}");
        assert_eq!(made.workspace, made.dir);
        assert!(matches!(
            write_crate(&revisions, &rev, Some(&sdk)),
            Err(ScaffoldError::Exists(_))
        ));

        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[workspace]\nmembers = [\"revisions/*\"]\n[workspace.package]\nedition = \"2024\"\n[workspace.dependencies]\nretort-sdk = { path = \"sdk\" }\n",
        )
        .unwrap();
        let rev = NewRevision {
            id: "ba9876543210".into(),
            ..rev
        };
        let made = write_crate(&revisions, &rev, None).unwrap();
        let toml = std::fs::read_to_string(made.dir.join("Cargo.toml")).unwrap();
        assert!(toml.contains("retort-sdk.workspace = true"), "{toml}");
        assert!(toml.contains("edition.workspace = true"), "{toml}");
        assert!(toml.contains("version = \"0.1.0\""), "{toml}");
        assert_eq!(made.workspace, dir.path());
    }
}
