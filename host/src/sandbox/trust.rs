//! How far a revision's author is trusted.

use std::fmt;
use std::str::FromStr;

/// Who may have written a chain's revisions.
///
/// Whatever the trust, the host's state stays the host's and the built-in
/// deny list applies. `third-party` adds what containing a stranger's code
/// takes: every statement must be readable by the policy checker, no
/// deny-list exemptions, and (PostgreSQL, MySQL) a connection whose role
/// cannot reach outside its database, checked before anything runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trust {
    /// Written and reviewed by the team that deploys them (the default for
    /// the project's own migrations).
    #[default]
    FirstParty,
    /// Written by someone else (a plugin, a vendor): contained whatever the
    /// connection could do.
    ThirdParty,
}

impl FromStr for Trust {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "first-party" => Ok(Trust::FirstParty),
            "third-party" => Ok(Trust::ThirdParty),
            other => Err(format!(
                "unknown trust {other:?}: use first-party or third-party"
            )),
        }
    }
}

impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trust::FirstParty => "first-party",
            Trust::ThirdParty => "third-party",
        })
    }
}
