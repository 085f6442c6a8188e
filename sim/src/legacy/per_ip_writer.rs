//! `legacy-per-ip-writer`: origin bug #3, "pongs lost on outbound". The
//! origin registered one writer per peer IP, and the last connection to
//! finish its handshake won. Replies were sent through that registry instead
//! of on the connection the request came in on. With two sockets per pair
//! (a simultaneous dial, before the duplicate is closed), a pong went out on
//! the *other* socket and was dropped there as "unexpected"; three missed
//! pongs at a 30 s interval disconnected a healthy peer at ~90 s, and the
//! redial 5 s later started the cycle again.
//!
//! Modelled as the sound legacy node (both ends keep the same connection by
//! the node-id rule) whose pongs go through a per-IP writer registry, last
//! handshake wins. Over a fixed symmetric link each node finishes its own
//! outbound handshake last, so on one of the two ends the registry holds the
//! losing connection: its pongs for the survivor's pings go to the loser,
//! which is closing, and are lost. The survivor misses three pongs and is
//! declared dead 15 s in: `no-churn` breaks on a healthy pair.

use super::design::Design;

/// The design.
pub(crate) const DESIGN: Design = Design {
    name: "legacy-per-ip-writer",
    summary: "origin #3: pongs go through a per-IP writer registry (last handshake wins)",
    replies_via_ip_writer: true,
    ..Design::SOUND
};
