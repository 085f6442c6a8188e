//! `legacy-ip-port-identity`: origin bug #4, "one machine counted as two
//! peers". The origin keyed its peer table by IP:PORT. An outbound
//! connection goes to the peer's listen port; an inbound one arrives from an
//! ephemeral source port. When two nodes both dial each other, each files
//! the other twice, the duplicate is never recognised as one, and both
//! connections stay up: 14 entries for 6 nodes on the origin's testnet.
//!
//! Modelled as the sound legacy node keyed by IP:PORT. The `one-row-per-ip`
//! invariant breaks as soon as a pair's two connections are established.

use super::design::Design;

/// The design.
pub(crate) const DESIGN: Design = Design {
    name: "legacy-ip-port-identity",
    summary: "origin #4: peers keyed by IP:PORT, so inbound and outbound are two peers",
    ip_port_identity: true,
    ..Design::SOUND
};
