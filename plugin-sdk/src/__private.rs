//! Plumbing used by [`export_revision!`](crate::export_revision); not part of the API.

/// The wit-bindgen output for the `revision` world.
pub mod bindings {
    wit_bindgen::generate!({
        world: "revision",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_revision_world",
        default_bindings_module: "retort_sdk::__private::bindings",
    });
}

pub use bindings::Guest;
pub use bindings::RevisionInfo;

use crate::{Db, Revision};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Builds the WIT `revision-info` from a revision's constants.
pub fn info<R: Revision>() -> RevisionInfo {
    RevisionInfo {
        id: R::ID.to_string(),
        down_revisions: strings(R::DOWN_REVISIONS),
        message: R::MESSAGE.to_string(),
        branch_labels: strings(R::BRANCH_LABELS),
        depends_on: strings(R::DEPENDS_ON),
        transactional: R::TRANSACTIONAL,
    }
}

/// Runs `R::upgrade` and renders its error for the host.
pub fn upgrade<R: Revision>() -> Result<(), String> {
    R::upgrade(&Db::__new()).map_err(|e| e.to_string())
}

/// Runs `R::downgrade` and renders its error for the host.
pub fn downgrade<R: Revision>() -> Result<(), String> {
    R::downgrade(&Db::__new()).map_err(|e| e.to_string())
}

/// The name of the custom section that carries a revision's metadata, so
/// that the host reads it without compiling the component (it still checks
/// `info()` in the instance that runs the revision).
pub const INFO_SECTION: &str = "retort:info";

/// What the section's bytes start with: the encoding's version.
///
/// ```text
/// section = "retort-info-v1" str(id) list(down_revisions) str(message)
///           list(branch_labels) list(depends_on) u8(transactional)
/// str     = u32-le(len) utf-8 bytes          list = u32-le(count) str*
/// ```
pub const INFO_MAGIC: &[u8] = b"retort-info-v1";

/// The length of `R`'s `retort:info` section.
pub const fn info_section_len<R: Revision>() -> usize {
    INFO_MAGIC.len()
        + str_len(R::ID)
        + list_len(R::DOWN_REVISIONS)
        + str_len(R::MESSAGE)
        + list_len(R::BRANCH_LABELS)
        + list_len(R::DEPENDS_ON)
        + 1
}

/// `R`'s `retort:info` section, `N` = [`info_section_len`] bytes.
pub const fn info_section<R: Revision, const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = put(&mut out, 0, INFO_MAGIC);
    at = put_str(&mut out, at, R::ID);
    at = put_list(&mut out, at, R::DOWN_REVISIONS);
    at = put_str(&mut out, at, R::MESSAGE);
    at = put_list(&mut out, at, R::BRANCH_LABELS);
    at = put_list(&mut out, at, R::DEPENDS_ON);
    out[at] = R::TRANSACTIONAL as u8;
    out
}

const fn str_len(s: &str) -> usize {
    4 + s.len()
}

const fn list_len(items: &[&str]) -> usize {
    let mut n = 4;
    let mut i = 0;
    while i < items.len() {
        n += str_len(items[i]);
        i += 1;
    }
    n
}

const fn put<const N: usize>(out: &mut [u8; N], mut at: usize, bytes: &[u8]) -> usize {
    let mut i = 0;
    while i < bytes.len() {
        out[at] = bytes[i];
        at += 1;
        i += 1;
    }
    at
}

const fn put_u32<const N: usize>(out: &mut [u8; N], at: usize, n: usize) -> usize {
    put(out, at, &(n as u32).to_le_bytes())
}

const fn put_str<const N: usize>(out: &mut [u8; N], at: usize, s: &str) -> usize {
    let at = put_u32(out, at, s.len());
    put(out, at, s.as_bytes())
}

const fn put_list<const N: usize>(out: &mut [u8; N], mut at: usize, items: &[&str]) -> usize {
    at = put_u32(out, at, items.len());
    let mut i = 0;
    while i < items.len() {
        at = put_str(out, at, items[i]);
        i += 1;
    }
    at
}
