//! `legacy-torn-frames`: origin bug #12, "torn frames". The origin's
//! connection loop read each frame inside a `select!` with `read_exact`, the
//! length prefix then the body. `read_exact` is not cancel-safe: when
//! another branch (a timer) won the `select!` while the read waited for the
//! rest of a frame, the bytes it had read were lost with the dropped
//! future, and the next read took the middle of a frame for a length
//! prefix. The logs showed "frames" of 100 MB to 3 GB.
//!
//! Modelled as the sound legacy node whose loop reads that way. Its writer,
//! like every legacy node's, writes a frame's prefix and body as two
//! writes, and with a latency range the body can arrive after the prefix.
//! The peer's ping then lands while the loop waits for a body, often at
//! the loop's own ping tick (both ends tick every interval from nearly the
//! same start): the tick wins, the prefix is gone, and the body's first
//! bytes are read as an absurd length. The connection closes as a protocol
//! violation between two honest nodes and the healthy mesh churns.

use super::design::Design;

/// The design.
pub(crate) const DESIGN: Design = Design {
    name: "legacy-torn-frames",
    summary: "origin #12: read_exact inside a select! loses a frame's prefix when a timer wins",
    cancel_unsafe_reader: true,
    ..Design::SOUND
};
