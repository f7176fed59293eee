use std::fmt;
use std::str::FromStr;

use super::GraphError;

/// Where a plan should end (or what a command looks at), as written on the
/// command line.
///
/// | text | variant |
/// | --- | --- |
/// | `heads` | [`Target::Heads`] |
/// | `head` | [`Target::Head`] |
/// | `base` | [`Target::Base`] |
/// | `ae1027a6`, `auth` | [`Target::Revision`]: full id, branch label or unique id prefix |
/// | `+2`, `-1` | [`Target::Relative`] |
/// | `auth@head` | [`Target::BranchHead`] |
/// | `auth@base` | [`Target::BranchBase`] |
/// | `auth@+2`, `auth@-1` | [`Target::BranchRelative`] |
/// | `ae10+2`, `ae10-1` | [`Target::Offset`] |
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every head (`heads`).
    Heads,
    /// The single head (`head`); an error when there are several.
    Head,
    /// Nothing applied (`base`).
    Base,
    /// A revision by full id, branch label (the revision that declares it) or
    /// unique id prefix, tried in that order.
    Revision(String),
    /// `+N` (upgrade N steps) or `-N` (downgrade N steps).
    Relative(i64),
    /// `label@head`: the one head of the branch `label`.
    BranchHead(String),
    /// `label@base`: where the branch `label` has not started yet.
    BranchBase(String),
    /// `label@+N` / `label@-N`: N steps along the branch `label`.
    BranchRelative(String, i64),
    /// `id+N` / `id-N`: the revision N steps after (or before) `id`, walking
    /// down-revision links; an error where the way forks.
    Offset(String, i64),
}

/// A branch label or revision id: letters, digits, `_` and `-`, 1 to 64 of them.
pub(super) fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A step count: digits without a sign or leading zero, and not 0.
fn steps(s: &str) -> Option<i64> {
    let n: i64 = s.parse().ok()?;
    (n > 0 && n.to_string() == s).then_some(n)
}

impl FromStr for Target {
    type Err = GraphError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = |reason: &str| GraphError::BadTarget {
            target: s.to_string(),
            reason: reason.to_string(),
        };
        const FORMS: &str = "expected heads, head, base, a revision id (or unique prefix), a branch label, +N, -N, label@head, label@base, label@+N, label@-N, id+N or id-N";
        match s {
            "" => return Err(bad(&format!("it is empty; {FORMS}"))),
            "heads" => return Ok(Target::Heads),
            "head" => return Ok(Target::Head),
            "base" => return Ok(Target::Base),
            _ => {}
        }
        if let Some(rest) = s.strip_prefix(['+', '-']) {
            let n = steps(rest).ok_or_else(|| {
                bad("a relative target is +N or -N with N a whole number above 0")
            })?;
            return Ok(Target::Relative(if s.starts_with('-') { -n } else { n }));
        }
        if let Some((label, rest)) = s.split_once('@') {
            if !is_name(label) {
                return Err(bad(
                    "the part before @ must be a branch label (letters, digits, _ and -)",
                ));
            }
            let label = label.to_string();
            return match rest {
                "head" => Ok(Target::BranchHead(label)),
                "base" => Ok(Target::BranchBase(label)),
                _ => {
                    let n = rest
                        .strip_prefix(['+', '-'])
                        .and_then(steps)
                        .ok_or_else(|| bad("after label@ comes head, base, +N or -N"))?;
                    Ok(Target::BranchRelative(
                        label,
                        if rest.starts_with('-') { -n } else { n },
                    ))
                }
            };
        }
        if let Some((id, n)) = s.rsplit_once('+') {
            return match (is_name(id), steps(n)) {
                (true, Some(n)) => Ok(Target::Offset(id.to_string(), n)),
                _ => Err(bad(
                    "id+N needs a revision id before + and a number after it",
                )),
            };
        }
        if !is_name(s) {
            return Err(bad(FORMS));
        }
        // `ae10-2` is two revisions before ae10; ids may contain `-` too, so the
        // graph first checks whether the whole text is an id (see `resolve_offset`).
        if let Some((id, n)) = s.rsplit_once('-')
            && let Some(n) = steps(n)
            && !id.is_empty()
        {
            return Ok(Target::Offset(id.to_string(), -n));
        }
        Ok(Target::Revision(s.to_string()))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signed = |n: i64| {
            if n > 0 {
                format!("+{n}")
            } else {
                n.to_string()
            }
        };
        match self {
            Target::Heads => f.write_str("heads"),
            Target::Head => f.write_str("head"),
            Target::Base => f.write_str("base"),
            Target::Revision(id) => f.write_str(id),
            Target::Relative(n) => f.write_str(&signed(*n)),
            Target::BranchHead(label) => write!(f, "{label}@head"),
            Target::BranchBase(label) => write!(f, "{label}@base"),
            Target::BranchRelative(label, n) => write!(f, "{label}@{}", signed(*n)),
            Target::Offset(id, n) => write!(f, "{id}{}", signed(*n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let cases = [
            ("heads", Target::Heads),
            ("head", Target::Head),
            (" base ", Target::Base),
            ("+2", Target::Relative(2)),
            ("-3", Target::Relative(-3)),
            ("ae10", Target::Revision("ae10".into())),
            ("auth", Target::Revision("auth".into())),
            ("auth@head", Target::BranchHead("auth".into())),
            ("auth@base", Target::BranchBase("auth".into())),
            ("auth@+2", Target::BranchRelative("auth".into(), 2)),
            ("auth@-1", Target::BranchRelative("auth".into(), -1)),
            ("ae10+2", Target::Offset("ae10".into(), 2)),
            ("ae10-1", Target::Offset("ae10".into(), -1)),
            ("my-branch-2", Target::Offset("my-branch".into(), -2)),
            ("rev-01", Target::Revision("rev-01".into())),
            ("rev-", Target::Revision("rev-".into())),
        ];
        for (text, target) in cases {
            assert_eq!(text.parse(), Ok(target.clone()), "{text:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "heads", "head", "base", "ae10", "+2", "-3", "a@head", "a@base", "a@+1", "a@-4",
            "ae10+2", "ae10-1",
        ] {
            assert_eq!(text.parse::<Target>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "",
            "+",
            "-x",
            "+0",
            "+01",
            "a b",
            "x;y",
            "+99999999999999999999",
            "@head",
            "auth@",
            "auth@tip",
            "auth@+0",
            "a@b@head",
            "+ae10",
            "ae10+",
            "ae10+x",
            "ae10+0",
            "a+b+2",
        ] {
            assert!(bad.parse::<Target>().is_err(), "{bad:?} parsed");
        }
        let err = "auth@tip".parse::<Target>().unwrap_err();
        assert!(err.to_string().contains("head, base, +N or -N"), "{err}");
    }
}
