use std::fmt;
use std::str::FromStr;

use super::GraphError;

/// Where a plan should end, as written on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every head (`heads`).
    Heads,
    /// The single head (`head`); an error when there are several.
    Head,
    /// Nothing applied (`base`).
    Base,
    /// A revision by full id or unique prefix.
    Revision(String),
    /// `+N` (upgrade N steps) or `-N` (downgrade N steps).
    Relative(i64),
}

impl FromStr for Target {
    type Err = GraphError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = |reason: &str| GraphError::BadTarget {
            target: s.to_string(),
            reason: reason.to_string(),
        };
        match s {
            "" => Err(bad(
                "it is empty; use heads, head, base, a revision id, +N or -N",
            )),
            "heads" => Ok(Target::Heads),
            "head" => Ok(Target::Head),
            "base" => Ok(Target::Base),
            _ if s.starts_with(['+', '-']) => {
                let n: i64 = s[1..]
                    .parse()
                    .map_err(|_| bad("a relative target is +N or -N with N a whole number"))?;
                if n == 0 {
                    return Err(bad("a relative step of 0 does nothing"));
                }
                Ok(Target::Relative(if s.starts_with('-') { -n } else { n }))
            }
            _ if s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                Ok(Target::Revision(s.to_string()))
            }
            _ => Err(bad(
                "expected heads, head, base, a revision id (or unique prefix), +N or -N",
            )),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Heads => f.write_str("heads"),
            Target::Head => f.write_str("head"),
            Target::Base => f.write_str("base"),
            Target::Revision(id) => f.write_str(id),
            Target::Relative(n) if *n > 0 => write!(f, "+{n}"),
            Target::Relative(n) => write!(f, "{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("heads".parse(), Ok(Target::Heads));
        assert_eq!("head".parse(), Ok(Target::Head));
        assert_eq!(" base ".parse(), Ok(Target::Base));
        assert_eq!("+2".parse(), Ok(Target::Relative(2)));
        assert_eq!("-3".parse(), Ok(Target::Relative(-3)));
        assert_eq!("ae10".parse(), Ok(Target::Revision("ae10".into())));
    }

    #[test]
    fn rejects_nonsense() {
        for bad in ["", "+", "-x", "+0", "a b", "x;y", "+99999999999999999999"] {
            assert!(bad.parse::<Target>().is_err(), "{bad:?} parsed");
        }
    }
}
