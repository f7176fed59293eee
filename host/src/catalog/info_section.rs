//! The `retort:info` custom section: a revision's metadata, written into
//! the component by the SDK's `export_revision!` (see
//! `retort_sdk::__private::info_section`), so that planning, `history`,
//! `heads` and `--sql` need not compile a component to learn what it is.
//!
//! It is a claim, not a proof: the live `info()` is still checked in the
//! instance that runs the revision, before its first statement, as for
//! metadata read from the cache ([`super::Program::expecting`]); a section
//! that lies fails the run there. A section that does not decode is ignored
//! and the component is compiled as before.

use crate::sandbox::RevisionInfo;

/// The custom section's name.
pub const NAME: &str = "retort:info";

/// What the section starts with: the encoding's version.
const MAGIC: &[u8] = b"retort-info-v1";

/// The metadata the component `bytes` carries, if it has a section that
/// decodes (the first one found, in the component or a module inside it).
pub fn read(bytes: &[u8]) -> Option<RevisionInfo> {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(wasmparser::Payload::CustomSection(section)) if section.name() == NAME => {
                return decode(section.data());
            }
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Decodes the section's bytes; `None` unless they are exactly one record.
pub fn decode(bytes: &[u8]) -> Option<RevisionInfo> {
    let mut r = Reader(bytes.strip_prefix(MAGIC)?);
    let info = RevisionInfo {
        id: r.string()?,
        down_revisions: r.list()?,
        message: r.string()?,
        branch_labels: r.list()?,
        depends_on: r.list()?,
        transactional: match r.take(1)? {
            [0] => false,
            [1] => true,
            _ => return None,
        },
    };
    r.0.is_empty().then_some(info)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn len(&mut self) -> Option<usize> {
        let bytes: [u8; 4] = self.take(4)?.try_into().ok()?;
        Some(u32::from_le_bytes(bytes) as usize)
    }

    fn string(&mut self) -> Option<String> {
        let n = self.len()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    fn list(&mut self) -> Option<Vec<String>> {
        let n = self.len()?;
        // Each item takes at least its 4-byte length: no count can ask for
        // more than the bytes hold.
        if n > self.0.len() / 4 {
            return None;
        }
        (0..n).map(|_| self.string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(info: &RevisionInfo) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        let put = |out: &mut Vec<u8>, s: &str| {
            out.extend((s.len() as u32).to_le_bytes());
            out.extend(s.as_bytes());
        };
        let list = |out: &mut Vec<u8>, items: &[String]| {
            out.extend((items.len() as u32).to_le_bytes());
            for item in items {
                put(out, item);
            }
        };
        put(&mut out, &info.id);
        list(&mut out, &info.down_revisions);
        put(&mut out, &info.message);
        list(&mut out, &info.branch_labels);
        list(&mut out, &info.depends_on);
        out.push(u8::from(info.transactional));
        out
    }

    #[test]
    fn a_record_round_trips_and_anything_else_is_refused() {
        let info = RevisionInfo {
            id: "a94d0e6f3c21".into(),
            down_revisions: vec!["7c2e5b8a4d10".into(), "1f3a9c0d2b7e".into()],
            message: "merge; ünïcode".into(),
            branch_labels: vec!["auth".into()],
            depends_on: vec![],
            transactional: false,
        };
        let bytes = encode(&info);
        assert_eq!(decode(&bytes), Some(info));
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None);
        let mut bad_flag = bytes.clone();
        *bad_flag.last_mut().unwrap() = 2;
        assert_eq!(decode(&bad_flag), None);
        assert_eq!(decode(b"retort-info-v2"), None);
        // A count far larger than the bytes is refused without allocating.
        let mut huge = MAGIC.to_vec();
        huge.extend(0u32.to_le_bytes());
        huge.extend(u32::MAX.to_le_bytes());
        assert_eq!(decode(&huge), None);
    }
}
