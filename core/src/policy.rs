//! Tie-break policies: which of two connections to one peer survives, and
//! the admission and dial rules that go with each. Pure functions of what
//! the node knows; no clock, no I/O.

use std::net::IpAddr;

use crate::id::{ConnectionDirection, ConnectionId, NodeId};

/// How a node chooses between two connections to the same peer.
///
/// Only [`TieBreakPolicy::NodeId`] is a recommendation. The others are
/// *comparison policies*: rules that real projects shipped and that fail one
/// side of a race. They exist so the simulator can reproduce those failures
/// next to ours (see `docs/architecture.md`); do not use them in a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TieBreakPolicy {
    /// Keep the connection dialled by the node with the larger node id. Both
    /// ends compare the same two ids, so both keep the same connection
    /// without a round trip (Nethermind's rule). A connection from a
    /// different node id at the same IP (the peer restarted), or a second
    /// connection in the same direction (its dialer gave up on the first),
    /// replaces the older one.
    #[default]
    NodeId,
    /// Comparison: never resolve; two connections stay open (Bitcoin Core).
    KeepBoth,
    /// Comparison: refuse any inbound handshake while a connection to that
    /// peer exists or is being dialled (origin bugs #1 and #9).
    RejectInbound,
    /// Comparison: the connection established first wins, the later one is
    /// closed (Zebra's "keep oldest"; ends can disagree).
    KeepOldest,
    /// Comparison: the connection established last wins (reth's local
    /// "first handshake" view, inverted; ends can disagree).
    KeepNewest,
    /// Comparison: only the node with the higher IP dials; the lower one
    /// waits (origin bug #8). Duplicates are resolved as [`Self::KeepOldest`].
    HigherIpDials,
}

impl TieBreakPolicy {
    /// Every policy, default first.
    pub const ALL: [TieBreakPolicy; 6] = [
        TieBreakPolicy::NodeId,
        TieBreakPolicy::KeepBoth,
        TieBreakPolicy::RejectInbound,
        TieBreakPolicy::KeepOldest,
        TieBreakPolicy::KeepNewest,
        TieBreakPolicy::HigherIpDials,
    ];

    /// Stable kebab-case name (CLI flags, snapshots).
    pub fn name(self) -> &'static str {
        match self {
            TieBreakPolicy::NodeId => "node-id",
            TieBreakPolicy::KeepBoth => "keep-both",
            TieBreakPolicy::RejectInbound => "reject-inbound",
            TieBreakPolicy::KeepOldest => "keep-oldest",
            TieBreakPolicy::KeepNewest => "keep-newest",
            TieBreakPolicy::HigherIpDials => "higher-ip-dials",
        }
    }

    /// The policy with this [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// One side of a duplicate: what the tie-break may look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionView {
    /// Connection id; larger is newer.
    pub id: ConnectionId,
    /// Who dialled it.
    pub direction: ConnectionDirection,
    /// The node id the peer announced on it.
    pub remote_node: NodeId,
}

/// Which connection(s) survive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Keep the connection that was there; close the new one.
    KeepExisting,
    /// Keep the new connection; close the one that was there.
    KeepNew,
    /// Keep both (only under [`TieBreakPolicy::KeepBoth`]).
    KeepBoth,
}

/// Resolves two established connections to the same peer IP.
pub fn resolve(
    policy: TieBreakPolicy,
    local: NodeId,
    existing: &ConnectionView,
    new: &ConnectionView,
) -> Resolution {
    match policy {
        TieBreakPolicy::NodeId => {
            if existing.remote_node != new.remote_node || existing.direction == new.direction {
                return Resolution::KeepNew;
            }
            // The survivor is the connection the larger node dialled.
            let keep = if local > new.remote_node {
                ConnectionDirection::Outbound
            } else {
                ConnectionDirection::Inbound
            };
            if new.direction == keep {
                Resolution::KeepNew
            } else {
                Resolution::KeepExisting
            }
        }
        TieBreakPolicy::KeepBoth => Resolution::KeepBoth,
        TieBreakPolicy::KeepNewest => Resolution::KeepNew,
        TieBreakPolicy::RejectInbound
        | TieBreakPolicy::KeepOldest
        | TieBreakPolicy::HigherIpDials => Resolution::KeepExisting,
    }
}

/// Whether an inbound handshake may proceed given what already exists for
/// that peer. Only [`TieBreakPolicy::RejectInbound`] refuses here; every
/// other policy admits and resolves after the handshake, when both ids are
/// known.
pub fn admits_inbound(policy: TieBreakPolicy, has_connection_or_dial: bool) -> bool {
    !(policy == TieBreakPolicy::RejectInbound && has_connection_or_dial)
}

/// Whether this node may dial `peer` at all. Only
/// [`TieBreakPolicy::HigherIpDials`] forbids it, when our own idea of our IP
/// is not higher (and an unknown or unspecified own IP is never higher).
pub fn may_dial(policy: TieBreakPolicy, own_ip: Option<IpAddr>, peer: IpAddr) -> bool {
    match policy {
        TieBreakPolicy::HigherIpDials => own_ip.is_some_and(|ip| ip > peer),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnectionDirection::{Inbound, Outbound};

    fn view(id: u64, direction: ConnectionDirection, node: u128) -> ConnectionView {
        ConnectionView {
            id: ConnectionId(id),
            direction,
            remote_node: NodeId(node),
        }
    }

    /// The node-id rule keeps the same TCP connection on both ends, whatever
    /// order each end saw the two connections in.
    #[test]
    fn node_id_rule_agrees_on_both_ends() {
        let (big, small) = (NodeId(9), NodeId(3));
        // Connection X is dialled by `big`: outbound at big, inbound at small.
        // Connection Y is dialled by `small`.
        for big_saw_x_first in [true, false] {
            for small_saw_x_first in [true, false] {
                let (bx, by) = (view(1, Outbound, 3), view(2, Inbound, 3));
                let big_keeps_x = match (
                    big_saw_x_first,
                    resolve(
                        TieBreakPolicy::NodeId,
                        big,
                        &if big_saw_x_first { bx } else { by },
                        &if big_saw_x_first { by } else { bx },
                    ),
                ) {
                    (true, Resolution::KeepExisting) | (false, Resolution::KeepNew) => true,
                    (_, r) => panic!("big dropped x: {r:?}"),
                };
                let (sx, sy) = (view(5, Inbound, 9), view(6, Outbound, 9));
                let (first, second) = if small_saw_x_first {
                    (sx, sy)
                } else {
                    (sy, sx)
                };
                let small_keeps_x = matches!(
                    (
                        small_saw_x_first,
                        resolve(TieBreakPolicy::NodeId, small, &first, &second)
                    ),
                    (true, Resolution::KeepExisting) | (false, Resolution::KeepNew)
                );
                assert!(big_keeps_x && small_keeps_x);
            }
        }
    }

    /// A new session (another node id at the same IP) or a re-dial in the
    /// same direction replaces the old connection.
    #[test]
    fn newer_session_replaces_stale() {
        let me = NodeId(5);
        let old = view(1, Outbound, 7);
        assert_eq!(
            resolve(TieBreakPolicy::NodeId, me, &old, &view(2, Inbound, 8)),
            Resolution::KeepNew
        );
        let old_in = view(1, Inbound, 7);
        assert_eq!(
            resolve(TieBreakPolicy::NodeId, me, &old_in, &view(2, Inbound, 7)),
            Resolution::KeepNew
        );
    }

    /// Comparison policies resolve the way the projects that shipped them did.
    #[test]
    fn comparison_policies() {
        let (a, b) = (view(1, Outbound, 7), view(2, Inbound, 7));
        let me = NodeId(1);
        assert_eq!(
            resolve(TieBreakPolicy::KeepBoth, me, &a, &b),
            Resolution::KeepBoth
        );
        assert_eq!(
            resolve(TieBreakPolicy::KeepOldest, me, &a, &b),
            Resolution::KeepExisting
        );
        assert_eq!(
            resolve(TieBreakPolicy::KeepNewest, me, &a, &b),
            Resolution::KeepNew
        );
        assert!(!admits_inbound(TieBreakPolicy::RejectInbound, true));
        assert!(admits_inbound(TieBreakPolicy::RejectInbound, false));
        assert!(admits_inbound(TieBreakPolicy::NodeId, true));
        let (lo, hi): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(may_dial(TieBreakPolicy::HigherIpDials, Some(hi), lo));
        assert!(!may_dial(TieBreakPolicy::HigherIpDials, Some(lo), hi));
        assert!(!may_dial(TieBreakPolicy::HigherIpDials, None, lo));
        assert!(may_dial(TieBreakPolicy::NodeId, None, lo));
        for p in TieBreakPolicy::ALL {
            assert_eq!(TieBreakPolicy::from_name(p.name()), Some(p));
        }
    }
}
