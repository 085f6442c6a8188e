//! `legacy-ping-pruning`: origin bug #13, "pong timeout that can never
//! fire". The origin pruned pending pings after 120 s but counted a ping as
//! missed only after 300 s, so no ping ever lived long enough to be counted
//! and a dead or half-open peer was never detected by pings.
//!
//! Modelled as the sound legacy node whose pending pings are pruned at the
//! pong timeout and counted as missed at 2.5 times it (the origin's
//! 120 s : 300 s). In the catalog scenario the peer crashes behind a one-way
//! partition (its FIN and every later reset are lost) and comes back knowing
//! nothing of us: we keep the dead connection as live while the peer has no
//! connection at all, past the detection bound: `ends-agree`.

use super::design::Design;

/// The design.
pub(crate) const DESIGN: Design = Design {
    name: "legacy-ping-pruning",
    summary: "origin #13: pings pruned at the pong timeout but counted missed only at 2.5x it",
    prune_before_miss: true,
    ..Design::SOUND
};
