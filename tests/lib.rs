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
