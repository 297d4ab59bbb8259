//! The flow index's previous builder and key extraction, verbatim (before the compact key and
//! the per-kind block term sets): the reference the builder is held to, byte for byte, by the
//! tests below.
//!
//! * `key.rs`: the old `FlowKey` extraction ([`RefKey`]).
//! * `builder.rs`: the old `IndexBuilder` ([`RefBuilder`]).
//! * `tests.rs`: the proptests holding the new builder and key to them.
#![allow(dead_code)]

mod builder;
mod key;
#[cfg(test)]
mod tests;

pub use builder::RefBuilder;
pub use key::RefKey;
