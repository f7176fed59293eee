//! `[lint]` in retort.toml: levels per rule, rules disabled per revision,
//! whether inline ignores count, the PostgreSQL version the rules assume
//! offline, and the gate `retort run` applies (`lint = "error"` for short).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How much a finding counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Not reported.
    Off,
    /// Reported; `retort lint` still exits 0.
    Warn,
    /// Reported; `retort lint` exits 1 and a gated `retort run` refuses.
    Error,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Off => "off",
            Level::Warn => "warn",
            Level::Error => "error",
        })
    }
}

/// What `retort run` does with lint before it migrates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gate {
    /// Lint, and refuse (exit 4) when a finding is at `error` level.
    Error,
    /// Lint and report, then migrate whatever it found.
    Warn,
    /// No lint (the default).
    #[default]
    Off,
}

impl std::str::FromStr for Gate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "error" => Ok(Gate::Error),
            "warn" => Ok(Gate::Warn),
            "off" => Ok(Gate::Off),
            other => Err(format!(
                "unknown lint gate {other:?}: use error, warn or off"
            )),
        }
    }
}

/// `lint` as written: the gate alone, or the whole table.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LintEntry {
    /// `lint = "error"`.
    Gate(Gate),
    /// `[lint]`.
    Table(LintSpec),
}

impl LintEntry {
    /// The settings either form gives.
    pub fn into_spec(self) -> LintSpec {
        match self {
            LintEntry::Gate(gate) => LintSpec {
                run: Some(gate),
                ..LintSpec::default()
            },
            LintEntry::Table(spec) => spec,
        }
    }
}

/// `[lint]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LintSpec {
    /// The gate of `retort run` (`--lint` overrides it).
    pub run: Option<Gate>,
    /// The PostgreSQL version the rules assume when no server says
    /// (`"11"`, `"16.2"`); online, the server's own.
    pub postgres_version: Option<String>,
    /// Whether `-- retort:lint-ignore RULE` comments in a revision's SQL
    /// count [default: yes for first-party revisions, no for third-party:
    /// someone else's revision cannot silence its own findings].
    pub inline_ignores: Option<bool>,
    /// Levels by rule name (`off` disables a rule).
    pub rules: Option<BTreeMap<String, Level>>,
    /// Per revision, by id: rules it is exempt from.
    pub revisions: Option<BTreeMap<String, RevisionLint>>,
}

/// `[lint.revisions.<id>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevisionLint {
    /// Rule names, or `"all"`.
    pub disable: Vec<String>,
}

impl LintSpec {
    /// Checks every rule name it mentions, and the version.
    pub fn validate(&self) -> Result<(), String> {
        let known = |name: &str, key: &str| {
            if super::rules::find(name).is_some() {
                Ok(())
            } else {
                Err(format!(
                    "{key}: unknown rule {name:?}; the rules are: {}",
                    super::rules::names().join(", ")
                ))
            }
        };
        for name in self.rules.iter().flat_map(|r| r.keys()) {
            known(name, "lint.rules")?;
        }
        for (id, revision) in self.revisions.iter().flatten() {
            for name in &revision.disable {
                if name != "all" {
                    known(name, &format!("lint.revisions.{id}.disable"))?;
                }
            }
        }
        if let Some(version) = &self.postgres_version {
            super::postgres::major(version).ok_or_else(|| {
                format!(
                    "lint.postgres_version: {version:?} is not a PostgreSQL version (such as \"11\" or \"16.2\")"
                )
            })?;
        }
        Ok(())
    }

    /// The level rule `name` reports at, before per-revision exemptions.
    pub fn level(&self, name: &str, default: Level) -> Level {
        self.rules
            .as_ref()
            .and_then(|r| r.get(name).copied())
            .unwrap_or(default)
    }

    /// Whether revision `id` is exempt from rule `name`.
    pub fn exempt(&self, id: &str, name: &str) -> bool {
        self.revisions
            .as_ref()
            .and_then(|r| r.get(id))
            .is_some_and(|r| r.disable.iter().any(|d| d == "all" || d == name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_form_reads() {
        #[derive(Deserialize)]
        struct File {
            lint: LintEntry,
        }
        let short: File = toml::from_str(r#"lint = "error""#).unwrap();
        assert_eq!(short.lint.into_spec().run, Some(Gate::Error));
        let table: File = toml::from_str(
            r#"
            [lint]
            run = "warn"
            postgres_version = "11"
            [lint.rules]
            renaming-column = "error"
            [lint.revisions.ab12]
            disable = ["all"]
            "#,
        )
        .unwrap();
        let spec = table.lint.into_spec();
        spec.validate().unwrap();
        assert_eq!(spec.run, Some(Gate::Warn));
        assert_eq!(spec.level("renaming-column", Level::Warn), Level::Error);
        assert!(spec.exempt("ab12", "ban-drop-table"));
        assert!(!spec.exempt("cd34", "ban-drop-table"));
    }

    #[test]
    fn unknown_names_are_refused_with_the_list() {
        let spec = LintSpec {
            rules: Some([("no-such-rule".to_string(), Level::Off)].into()),
            ..LintSpec::default()
        };
        let e = spec.validate().unwrap_err();
        assert!(e.contains("unknown rule \"no-such-rule\""), "{e}");
        assert!(e.contains("require-concurrent-index-creation"), "{e}");
        let spec = LintSpec {
            postgres_version: Some("eleven".into()),
            ..LintSpec::default()
        };
        assert!(spec.validate().unwrap_err().contains("postgres_version"));
    }
}
