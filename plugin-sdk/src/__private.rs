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
