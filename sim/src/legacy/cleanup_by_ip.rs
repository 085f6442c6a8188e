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
//! with it. The slot still holds the survivor, whose socket stays open and
//! whose pings are answered, so nothing closes or redials; but every send
//! the node makes to that peer finds no writer, and the peer receives
//! nothing: `sends-arrive`, under the scenario's traffic.

use super::design::Design;

/// The design.
pub(crate) const DESIGN: Design = Design {
    name: "legacy-cleanup-by-ip",
    summary: "origin #10: a superseded connection's cleanup unregisters the peer's writer by IP",
    cleanup_by_ip: true,
    ..Design::SOUND
};
