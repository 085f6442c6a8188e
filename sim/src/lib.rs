//! peerlink-sim: the deterministic testbed. One seed determines a whole run
//! (start times, latencies, faults, scheduling); a failing seed replays
//! byte-for-byte with `peerlink-sim replay`.
//!
//! # Layout
//!
//! - [`scenario`]: scenarios as data, and the builder.
//! - [`check`]: the model checker: every interleaving of 2 or 3 nodes over the real core.
//! - [`bench`](mod@bench): harness overhead against a bare turmoil loop.
//! - [`faults`]: fault kinds and the seeded fault generator.
//! - [`file`](mod@file): scenario files (TOML) read and written, errors with line and column.
//! - [`scenarios`]: the built-in scenarios by name.
//! - [`model`]: what runs in a host: peerlink under a policy, or a legacy model.
//! - [`legacy`]: small models of the origin project's buggy designs.
//! - [`hostile`]: hostile peers (valid handshake, then garbage) for one node of a scenario.
//! - [`catalog`]: the bug catalog (origin bug → scenario, naive model, seed).
//! - [`runner`]: one seed of one scenario, with invariants at every checkpoint.
//! - [`invariants`]: the checks and their `Violation`s.
//! - [`trace`]: the canonical event trace and its SHA-256.
//! - [`view`]: the node table shape invariants read.
//! - [`shrink`]: a failing run reduced to the smallest run that breaks the same invariant.
//! - [`snapshot`]: a run as a reviewable, seed-fixed structure for insta snapshots.
//! - [`sweep`]: many seeds across threads.
//! - [`wallclock`]: the one wall clock, for speed reports only.

pub mod bench;
pub mod catalog;
pub mod check;
pub mod faults;
pub mod file;
pub mod hostile;
pub mod invariants;
pub mod legacy;
pub mod model;
pub mod runner;
pub mod scenario;
pub mod scenarios;
pub mod shrink;
pub mod snapshot;
pub mod sweep;
pub mod trace;
pub mod view;
pub mod wallclock;

pub use runner::{run, RunOptions, RunReport};
pub use scenario::Scenario;
