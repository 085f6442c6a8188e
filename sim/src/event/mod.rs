//! The event-driven backend (`--backend event`): every node of a run on one
//! current-thread tokio runtime with paused time and a seeded scheduler,
//! over an in-memory network. No threads, no wall clock: when every task
//! waits, time jumps to the next timer, so a run costs what its events
//! cost, not hosts × ticks as on turmoil.
//!
//! - `net`: the network's state (latency, partitions, holds, crashes,
//!   streams as byte pipes), synchronous;
//! - `stream`: the `Transport` over it;
//! - `tasks`: which host each task belongs to, for the trace and crashes;
//! - `runner`: the run loop, the event twin of `runner::Run`.

mod net;
mod runner;
mod stream;
mod tasks;

pub use net::{CrashKind, Net, BACKLOG, WINDOW};
pub use runner::{crash_census, run};
pub use stream::{EventListener, EventReader, EventTransport, EventWriter, SharedNet};
pub use tasks::{adopt, Census, CrashCensus, Owner};
