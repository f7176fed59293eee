//! Revisions written as scripts (`*.py`, `*.js`), and the interpreter
//! components that run them.
//!
//! A script is data: one interpreter component per language is compiled once
//! (and kept in the compile cache) and runs every script of that language,
//! so a hundred Python revisions cost one interpreter compile, not a
//! hundred. A script's identity is the sha256 of its source text, what the
//! user wrote (`sha256sum r1.py` prints it): editing the script is drift; a
//! new interpreter (a Retort upgrade) is not. The interpreter a script ran
//! under is recorded beside it, and a different one is reported, not
//! refused.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use super::CatalogError;
use super::compile_cache::CompileCache;
use crate::sandbox::{Program, Sandbox, Script};

/// A language revisions can be written in as a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// Python (`*.py`), run by a componentize-py interpreter.
    Python,
    /// JavaScript (`*.js`), run by a ComponentizeJS (SpiderMonkey) interpreter.
    JavaScript,
}

impl Language {
    /// Every script language.
    pub const ALL: [Language; 2] = [Language::Python, Language::JavaScript];

    /// The language of a script file, by its extension; `None` for a component.
    pub fn of(path: &Path) -> Option<Language> {
        match path.extension()?.to_str()? {
            "py" => Some(Language::Python),
            "js" => Some(Language::JavaScript),
            _ => None,
        }
    }

    /// The name used in config keys, flags and messages: `python` or `js`.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "js",
        }
    }

    /// The file name of the interpreter component in its default place.
    pub fn component_file(self) -> String {
        format!("{}.wasm", self.name())
    }

    /// The interpreter component built into this binary, if it was built
    /// with one (see `host/build.rs`).
    pub fn built_in(self) -> Option<&'static [u8]> {
        match self {
            Language::Python => built_in::PYTHON,
            Language::JavaScript => built_in::JS,
        }
    }
}

/// The interpreter components `host/build.rs` put in the binary.
mod built_in {
    include!(concat!(env!("OUT_DIR"), "/embedded_interpreters.rs"));
}

/// Where each language's interpreter component is (from the config), and
/// where their compiled code is cached.
///
/// A language whose component is not at its default place runs under the
/// interpreter built into the binary; one configured explicitly (a
/// directory or a file) must be there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterpreterPaths {
    paths: HashMap<Language, PathBuf>,
    /// Languages whose component was configured rather than defaulted.
    explicit: HashSet<Language>,
    /// Where their compiled code is cached (`None`: not cached).
    cache_dir: Option<PathBuf>,
}

impl InterpreterPaths {
    /// The interpreters in their default place `dir`, as `python.wasm` and
    /// `js.wasm`; the built-in ones where those are missing.
    pub fn in_dir(dir: &Path) -> InterpreterPaths {
        InterpreterPaths {
            paths: Language::ALL
                .iter()
                .map(|&lang| (lang, dir.join(lang.component_file())))
                .collect(),
            ..InterpreterPaths::default()
        }
    }

    /// The interpreters in `dir`, configured: each must be there.
    pub fn in_configured_dir(dir: &Path) -> InterpreterPaths {
        let mut paths = InterpreterPaths::in_dir(dir);
        paths.explicit.extend(Language::ALL);
        paths
    }

    /// Sets the interpreter of `lang` (configured: it must be there).
    pub fn set(&mut self, lang: Language, path: PathBuf) {
        self.paths.insert(lang, path);
        self.explicit.insert(lang);
    }

    /// Caches the interpreters' compiled code in `dir` (`None`: not at all).
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> InterpreterPaths {
        self.cache_dir = dir;
        self
    }

    /// The interpreter of `lang`, if one is configured.
    pub fn get(&self, lang: Language) -> Option<&Path> {
        self.paths.get(&lang).map(PathBuf::as_path)
    }

    /// Where the interpreters' compiled code is cached.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }
}

/// One interpreter component: where it is, its hash and, once a script
/// needs it, its compiled form (shared by every script of its language).
#[derive(Debug)]
struct Interpreter {
    lang: Language,
    /// Its file, or for the built-in one a description for messages.
    path: PathBuf,
    /// The built-in component's bytes (`None`: read from `path`).
    built_in: Option<&'static [u8]>,
    digest: String,
    compiled: Mutex<Option<Component>>,
}

/// The interpreters the scripts of one catalog use, hashed when it loads,
/// with the cache of their compiled code (per machine by default: every
/// project on it shares one compile).
#[derive(Debug, Default)]
pub struct Interpreters {
    by_language: HashMap<Language, Interpreter>,
    cache: CompileCache,
}

impl Interpreters {
    /// Hashes the interpreter of each language in `needed`: the configured
    /// component, or the built-in one where none is at the default place.
    pub fn load(
        sandbox: &Sandbox,
        paths: &InterpreterPaths,
        needed: impl IntoIterator<Item = (Language, PathBuf)>,
    ) -> Result<Interpreters, CatalogError> {
        let mut by_language = HashMap::new();
        for (lang, script) in needed {
            if by_language.contains_key(&lang) {
                continue;
            }
            let missing = |path: Option<&Path>| CatalogError::NoInterpreter {
                script: script.clone(),
                language: lang.name(),
                path: path.map(Path::to_path_buf),
            };
            let path = paths.get(lang);
            let on_disk = path.and_then(|p| std::fs::read(p).ok());
            let interpreter = match (on_disk, lang.built_in()) {
                (Some(bytes), _) => Interpreter {
                    lang,
                    path: path.expect("read from it").to_path_buf(),
                    built_in: None,
                    digest: super::ComponentKind::Interpreter.digest(&bytes),
                    compiled: Mutex::new(None),
                },
                (None, Some(bytes)) if !paths.explicit.contains(&lang) => Interpreter {
                    lang,
                    path: PathBuf::from(format!(
                        "<the {} interpreter built into retort>",
                        lang.name()
                    )),
                    built_in: Some(bytes),
                    digest: built_in_digest(lang, bytes),
                    compiled: Mutex::new(None),
                },
                (None, _) => return Err(missing(path)),
            };
            by_language.insert(lang, interpreter);
        }
        let cache = if by_language.is_empty() {
            CompileCache::default()
        } else {
            CompileCache::open(paths.cache_dir(), sandbox)
        };
        Ok(Interpreters { by_language, cache })
    }

    /// How many interpreters were loaded compiled, and how many compiled.
    pub fn compile_counts(&self) -> (usize, usize) {
        (self.cache.hits(), self.cache.compiled())
    }

    /// Whether `lang`'s interpreter has compiled code in its cache.
    pub fn is_compiled(&self, lang: Language) -> bool {
        self.digest(lang).is_some_and(|d| self.cache.has(d))
    }

    /// The digest (BLAKE3) of `lang`'s interpreter component: the compile
    /// cache's key for it.
    pub fn digest(&self, lang: Language) -> Option<&str> {
        self.by_language.get(&lang).map(|i| i.digest.as_str())
    }

    /// Every interpreter's digest, so the compile cache keeps their artifacts.
    pub fn digests(&self) -> impl Iterator<Item = &str> {
        self.by_language.values().map(|i| i.digest.as_str())
    }

    /// The identity of a script: the sha256 of its text.
    pub fn script_sha256(source: &[u8]) -> String {
        hex::encode(Sha256::digest(source))
    }

    /// The identity earlier releases recorded for a script: sha256 over
    /// its language, its interpreter's digest and its text. A version-table
    /// row holding it is rewritten to [`Interpreters::script_sha256`] when
    /// it still matches (see `Project::adopt_legacy_identities`). It also
    /// keys a script's cached metadata, which its interpreter produced.
    pub fn legacy_script_sha256(&self, lang: Language, source: &[u8]) -> Option<String> {
        let interpreter = self.digest(lang)?;
        let mut hasher = Sha256::new();
        hasher.update(b"retort-script\0");
        hasher.update(lang.name().as_bytes());
        hasher.update(b"\0");
        hasher.update(interpreter.as_bytes());
        hasher.update(b"\0");
        hasher.update(source);
        Some(hex::encode(hasher.finalize()))
    }

    /// The script at `path` (which was loaded with identity `sha256`), ready
    /// to run in its interpreter: the interpreter is compiled (or loaded from
    /// the compile cache) the first time and shared after that.
    pub fn program(
        &self,
        sandbox: &Sandbox,
        lang: Language,
        path: &Path,
        sha256: &str,
    ) -> Result<Program, CatalogError> {
        let source = std::fs::read(path).map_err(super::io(path))?;
        if Self::script_sha256(&source) != sha256 {
            return Err(CatalogError::Changed {
                path: path.to_path_buf(),
                sha256: sha256.to_string(),
            });
        }
        let source = String::from_utf8(source)
            .map_err(|_| super::invalid(path, "the script is not UTF-8 text".into()))?;
        let interpreter = self
            .by_language
            .get(&lang)
            .ok_or_else(|| super::invalid(path, format!("no {} interpreter", lang.name())))?;
        let component = interpreter.component(sandbox, &self.cache)?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        Ok(Program::script(
            component,
            Arc::new(Script { path: name, source }),
        ))
    }
}

impl Interpreter {
    fn component(
        &self,
        sandbox: &Sandbox,
        compiled: &CompileCache,
    ) -> Result<Component, CatalogError> {
        // Held while compiling: the other loading threads wait for this one
        // compile instead of each compiling the interpreter again.
        let mut slot = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(component) = &*slot {
            return Ok(component.clone());
        }
        let component = match self.built_in {
            Some(bytes) => super::built_in_component(
                sandbox,
                compiled,
                self.lang,
                &self.path,
                bytes,
                &self.digest,
            )?,
            None => super::component(
                sandbox,
                compiled,
                &self.path,
                &self.digest,
                super::ComponentKind::Interpreter,
            )?,
        };
        *slot = Some(component.clone());
        Ok(component)
    }
}

/// The digest of a built-in interpreter, computed once per process.
fn built_in_digest(lang: Language, bytes: &[u8]) -> String {
    static DIGESTS: [std::sync::OnceLock<String>; 2] = [const { std::sync::OnceLock::new() }; 2];
    let slot = match lang {
        Language::Python => &DIGESTS[0],
        Language::JavaScript => &DIGESTS[1],
    };
    slot.get_or_init(|| super::ComponentKind::Interpreter.digest(bytes))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_come_from_extensions() {
        assert_eq!(Language::of(Path::new("a/r1.py")), Some(Language::Python));
        assert_eq!(Language::of(Path::new("r1.js")), Some(Language::JavaScript));
        assert_eq!(Language::of(Path::new("r1.wasm")), None);
        assert_eq!(Language::of(Path::new("py")), None);
    }

    #[test]
    fn a_script_identity_is_its_text_and_the_legacy_one_covers_its_interpreter() {
        let with = |sha: &str| Interpreters {
            by_language: [(
                Language::Python,
                Interpreter {
                    lang: Language::Python,
                    path: PathBuf::new(),
                    built_in: None,
                    digest: sha.into(),
                    compiled: Mutex::new(None),
                },
            )]
            .into(),
            cache: CompileCache::default(),
        };
        assert_eq!(
            Interpreters::script_sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let legacy = |i: &str, text: &[u8]| with(i).legacy_script_sha256(Language::Python, text);
        assert_ne!(legacy("aa", b"id = 'x'"), legacy("bb", b"id = 'x'"));
        assert_ne!(legacy("aa", b"id = 'x'"), legacy("aa", b"id = 'y'"));
        assert_eq!(
            with("aa").legacy_script_sha256(Language::JavaScript, b""),
            None
        );
    }
}
