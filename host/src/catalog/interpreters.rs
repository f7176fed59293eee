//! Revisions written as scripts (`*.py`, `*.js`), and the interpreter
//! components that run them.
//!
//! A script is data: one interpreter component per language is compiled once
//! (and kept in the compile cache) and runs every script of that language,
//! so a hundred Python revisions cost one interpreter compile, not a
//! hundred. A script's identity is the sha256 of its source text together
//! with its interpreter's digest: editing the script, or swapping the
//! interpreter it ran under, is drift.

use std::collections::HashMap;
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
}

/// Where each language's interpreter component is (from the config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterpreterPaths {
    paths: HashMap<Language, PathBuf>,
}

impl InterpreterPaths {
    /// The interpreters in `dir`, as `python.wasm` and `js.wasm`.
    pub fn in_dir(dir: &Path) -> InterpreterPaths {
        InterpreterPaths {
            paths: Language::ALL
                .iter()
                .map(|&lang| (lang, dir.join(lang.component_file())))
                .collect(),
        }
    }

    /// Sets the interpreter of `lang`.
    pub fn set(&mut self, lang: Language, path: PathBuf) {
        self.paths.insert(lang, path);
    }

    /// The interpreter of `lang`, if one is configured.
    pub fn get(&self, lang: Language) -> Option<&Path> {
        self.paths.get(&lang).map(PathBuf::as_path)
    }
}

/// One interpreter component: its hash and, once a script needs it, its
/// compiled form (shared by every script of its language).
#[derive(Debug)]
struct Interpreter {
    path: PathBuf,
    digest: String,
    compiled: Mutex<Option<Component>>,
}

/// The interpreters the scripts of one catalog use, hashed when it loads.
#[derive(Debug, Default)]
pub struct Interpreters {
    by_language: HashMap<Language, Interpreter>,
}

impl Interpreters {
    /// Hashes the interpreter of each language in `needed`.
    pub fn load(
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
            let path = paths.get(lang).ok_or_else(|| missing(None))?;
            let bytes = std::fs::read(path).map_err(|_| missing(Some(path)))?;
            by_language.insert(
                lang,
                Interpreter {
                    path: path.to_path_buf(),
                    digest: super::ComponentKind::Interpreter.digest(&bytes),
                    compiled: Mutex::new(None),
                },
            );
        }
        Ok(Interpreters { by_language })
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

    /// The identity of a script: sha256 over its interpreter's digest and its text.
    pub fn script_sha256(&self, lang: Language, source: &[u8]) -> Option<String> {
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
        compiled: &CompileCache,
        lang: Language,
        path: &Path,
        sha256: &str,
    ) -> Result<Program, CatalogError> {
        let source = std::fs::read(path).map_err(super::io(path))?;
        if self.script_sha256(lang, &source).as_deref() != Some(sha256) {
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
        let component = interpreter.component(sandbox, compiled)?;
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
        let component = super::component(
            sandbox,
            compiled,
            &self.path,
            &self.digest,
            super::ComponentKind::Interpreter,
        )?;
        *slot = Some(component.clone());
        Ok(component)
    }
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
    fn a_script_identity_covers_its_text_and_its_interpreter() {
        let with = |sha: &str| Interpreters {
            by_language: [(
                Language::Python,
                Interpreter {
                    path: PathBuf::new(),
                    digest: sha.into(),
                    compiled: Mutex::new(None),
                },
            )]
            .into(),
        };
        let a = with("aa")
            .script_sha256(Language::Python, b"id = 'x'")
            .unwrap();
        let b = with("bb")
            .script_sha256(Language::Python, b"id = 'x'")
            .unwrap();
        let c = with("aa")
            .script_sha256(Language::Python, b"id = 'y'")
            .unwrap();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(with("aa").script_sha256(Language::JavaScript, b""), None);
    }
}
