//! `legacy-zombie-slots`: origin bug #11, "zombie connected slots". When a
//! connection died without a goodbye (its socket closed or reset under it,
//! or its pongs stopped), that exit path removed the writer but never moved
//! the slot out of Connected. The periodic reconnect loop skipped Connected
//! slots and the server refused the peer's new inbound as "already
//! connected", so the slot stayed a zombie for good: a node collapsed from N
//! peers to 1.
//!
//! Modelled as the sound legacy node whose silent-death exit path leaves the
//! slot connected. When peers lose power, every survivor's connection to
//! them dies of missed pongs and its row is left saying connected with no
//! connection behind it: `table-matches-sockets`.

use super::design::Design;

/// The design.
pub(crate) const DESIGN: Design = Design {
    name: "legacy-zombie-slots",
    summary: "origin #11: a connection that dies silently leaves its slot Connected; the redial loop skips it",
    silent_death_keeps_slot: true,
    ..Design::SOUND
};
