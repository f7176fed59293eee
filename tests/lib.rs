//! Paths of the guest components `build.rs` built for the integration tests.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// The example chain (`example-plugins/rust`), in upgrade order.
pub const EXAMPLE_CHAIN: [&str; 4] = [R0001_USERS, R0002_POSTS, R0003_USER_SLUGS, R0004_INDEXES];

/// The example chain's revision ids, in upgrade order.
pub const EXAMPLE_IDS: [&str; 4] = [
    "1f3a9c0d2b7e",
    "7c2e5b8a4d10",
    "a94d0e6f3c21",
    "e05b7d9c1a42",
];

/// The branching example (`example-plugins/branching`): every component.
pub const BRANCHING: [&str; 7] = [
    B0001_ACCOUNTS,
    B0002_SESSIONS,
    B0003_API_TOKENS,
    B0004_PLANS,
    B0005_INVOICES,
    B0006_MERGE_AUTH_BILLING,
    B0007_AUDIT_LOG,
];

/// Ids of the branching example.
pub mod branching {
    /// The base: accounts.
    pub const ACCOUNTS: &str = "5e1a0c3b7d01";
    /// auth (label `auth`): sessions.
    pub const SESSIONS: &str = "a7c3e9d1f002";
    /// auth: api_tokens.
    pub const API_TOKENS: &str = "a7f04b2c8e03";
    /// billing (label `billing`): plans.
    pub const PLANS: &str = "b3d6f8a1c204";
    /// billing: invoices, depends on SESSIONS.
    pub const INVOICES: &str = "b9e2c5d7a405";
    /// The merge of API_TOKENS and INVOICES.
    pub const MERGE: &str = "d4f7a2b9e806";
    /// A second base (label `audit`).
    pub const AUDIT: &str = "c0ffee5a1e07";
}

/// The mixed chain (`example-plugins/mixed`), in upgrade order: a Rust
/// revision, a hand-written WAT one, a Python script and a JavaScript one.
pub const MIXED_CHAIN: [&str; 4] = [
    R0001_NOTES,
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../example-plugins/mixed/revisions/r0002_tags.wat"
    ),
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../example-plugins/mixed/revisions/r0003_authors.py"
    ),
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../example-plugins/mixed/revisions/r0004_note_counts.js"
    ),
];

/// The mixed chain's revision ids, in upgrade order.
pub const MIXED_IDS: [&str; 4] = [
    "5d0c1e2f3a4b",
    "b7e2a90c4d11",
    "3c9f1a7e5b20",
    "e4a7b2c9d031",
];

/// The interpreter component that runs a script revision, by the script's
/// extension (`py`, `js`); `None` for anything else.
pub fn interpreter_for(script: &std::path::Path) -> Option<&'static str> {
    match script.extension()?.to_str()? {
        "py" => Some(PYTHON_INTERPRETER),
        "js" => Some(JS_INTERPRETER),
        _ => None,
    }
}
