//! Planted faults for the simulator's own socket-level checks, not origin
//! flaws: each `check-*` model is the sound legacy node with one fault
//! planted, so a test can show that the check meant to catch that fault
//! fires (`sim/tests/checks.rs`). They are fixtures, outside the catalog.
//!
//! - `check-keeps-closed`: the table keeps a connection whose socket has
//!   closed (the checkpoint check "held > open").
//! - `check-leaks-stream`: a closed connection leaves the table but its
//!   socket stays open (the end-of-run exact check).
//! - `check-raw-stream`: a stream turmoil holds that the transport's tally
//!   never saw, as a transport that lost track of a socket would leave it
//!   (the end-of-run check against turmoil's own count).
//! - `check-miscounts`: a close is not counted (`counters-match-table`).
//! - `check-ignores-silence`: the node never closes a connection for
//!   missed pongs, so a stream a partition stalled stays open on both ends
//!   (`link-liveness`).

use super::design::Design;

/// Which fault is planted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plant {
    /// None: every legacy model but the `check-*` ones.
    None,
    /// The table ignores a connection's end: the row keeps it.
    KeepsClosed,
    /// A connection that ended keeps its socket open, outside the table.
    LeaksStream,
    /// The node opens one stream to its first peer behind its transport's
    /// back and holds it for good.
    RawStream,
    /// A connection's end is not counted in `closed`.
    Miscounts,
    /// Missed pongs never close a connection: the node keeps pinging a
    /// peer that cannot answer, for good.
    IgnoresSilence,
}

const fn planted(name: &'static str, summary: &'static str, plant: Plant) -> Design {
    Design {
        name,
        summary,
        plant,
        ..Design::SOUND
    }
}

/// The planted-fault designs.
pub(crate) const DESIGNS: [Design; 5] = [
    planted(
        "check-keeps-closed",
        "check fixture: the table keeps a connection whose socket closed",
        Plant::KeepsClosed,
    ),
    planted(
        "check-leaks-stream",
        "check fixture: an ended connection leaves the table, its socket stays open",
        Plant::LeaksStream,
    ),
    planted(
        "check-raw-stream",
        "check fixture: a stream turmoil holds that the transport never counted",
        Plant::RawStream,
    ),
    planted(
        "check-miscounts",
        "check fixture: a connection's end is not counted in `closed`",
        Plant::Miscounts,
    ),
    planted(
        "check-ignores-silence",
        "check fixture: missed pongs never close a connection",
        Plant::IgnoresSilence,
    ),
];
