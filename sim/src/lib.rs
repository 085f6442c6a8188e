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
//! - [`event`]: the event-driven backend: one paused runtime, an in-memory network.
//! - [`transport`]: the transport a model gets, on either backend.
//! - [`invariants`]: the checks and their `Violation`s.
//! - [`trace`]: the canonical event trace and its SHA-256.
//! - [`timeline`]: the run as a self-contained HTML timeline (`replay --html`).
//! - [`record`]: one trace event as a typed record (time, node, connection, peer, kind, fields).
//! - [`view`]: the node table shape invariants read.
//! - [`shrink`]: a failing run reduced to the smallest run that breaks the same invariant.
//! - [`snapshot`]: a run as a reviewable, seed-fixed structure for insta snapshots.
//! - [`sweep`]: many seeds across threads.
//! - [`merge`]: `--shard I/N`, and combining shards' JSON results.
//! - [`wallclock`]: the one wall clock, for speed reports only.

pub mod bench;
pub mod catalog;
pub mod check;
pub mod event;
pub mod faults;
pub mod file;
pub mod hostile;
pub mod invariants;
pub mod legacy;
pub mod merge;
pub mod model;
pub mod record;
pub mod runner;
pub mod scenario;
pub mod scenarios;
pub mod shrink;
pub mod snapshot;
pub mod sweep;
pub mod timeline;
mod timetable;
pub mod trace;
pub mod transport;
pub mod view;
pub mod wallclock;

pub use runner::{run, RunOptions, RunReport};
pub use scenario::Scenario;
