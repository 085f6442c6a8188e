//! `legacy-cleanup-by-ip`: origin bug #10, "stale cleanup wipes the new
//! session". When a superseded connection finally ended, its cleanup
//! unregistered the peer by IP: it removed whatever writer was registered
//! for that IP, which by then was the *live* connection's. The slot stayed
//! Connected, every send failed with "not found in registry", and nothing
//! redialled, because the slot said connected.
//!
//! Modelled as the sound legacy node whose cleanup has no generation guard
//! on the writer registry. Every simultaneous dial supersedes one of the two
//! connections; when the loser's task ends, it takes the survivor's writer
//! with it, and the row is left connected with no connection to send on:
//! `table-matches-sockets`.

use super::design::Design;

/// The design.
pub(crate) const DESIGN: Design = Design {
    name: "legacy-cleanup-by-ip",
    summary: "origin #10: a superseded connection's cleanup unregisters the peer's writer by IP",
    cleanup_by_ip: true,
    ..Design::SOUND
};
