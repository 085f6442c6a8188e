//! Identity newtypes: `PeerId` (the remote IP, the only peer identity),
//! `NodeId` (a random per-process id carried in the handshake) and
//! `ConnectionId` (a per-manager counter naming one TCP connection).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// A peer's identity: its IP address and nothing else.
///
/// The port is deliberately not part of it: an inbound connection arrives from
/// an ephemeral source port while an outbound one goes to the listen port, so
/// `IP:PORT` identity counts one machine as two peers (origin bug #4).
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are normalised to IPv4 so a
/// dual-stack listener and an IPv4 dialer agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(IpAddr);

impl PeerId {
    /// The identity of the host at `ip`, normalised.
    pub fn new(ip: IpAddr) -> Self {
        PeerId(ip.to_canonical())
    }

    /// The identity of the host behind a socket address; the port is dropped.
    pub fn from_socket_addr(addr: SocketAddr) -> Self {
        Self::new(addr.ip())
    }

    /// The normalised IP address.
    pub fn ip(&self) -> IpAddr {
        self.0
    }
}

impl From<IpAddr> for PeerId {
    fn from(ip: IpAddr) -> Self {
        PeerId::new(ip)
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A node's random 128-bit id, drawn fresh at every start and sent in `Hello`.
///
/// It is not the peer identity (that is [`PeerId`]); it serves two purposes:
/// detecting a connection to ourselves, and the simultaneous-dial tie-break,
/// which both ends compute from the same two ids.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u128);

impl NodeId {
    /// Draws a node id from the given RNG (seeded in the simulator).
    pub fn random(rng: &mut impl rand::Rng) -> Self {
        NodeId(rng.random())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({:032x})", self.0)
    }
}

impl fmt::Display for NodeId {
    /// The first 8 hex digits, enough to tell nodes apart in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", (self.0 >> 96) as u32)
    }
}

/// Names one TCP connection for the lifetime of the manager that owns it.
/// Ids increase monotonically, so a larger id is a newer connection: this is
/// the generation that guards cleanup (origin bug #10).
///
/// Only a [`ConnectionIds`] allocator makes one (the manager's peer table
/// keeps its own), so code outside this crate cannot build one from a
/// number. Ids are unique per allocator: the manager's ids name its own
/// connections and no others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub(crate) u64);

impl ConnectionId {
    /// The id's number: 1 for the first connection its allocator named.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Hands out [`ConnectionId`]s in increasing order, starting at 1. A
/// manager's peer table holds one; code that drives bare connections (a
/// test, a benchmark) keeps its own and names each connection from it.
/// `Clone` copies the sequence, as a state copy (a model checker's copy of
/// a peer table) needs: a clone hands out the same ids as the original, so
/// name one set of connections from one allocator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnectionIds {
    last: u64,
}

impl ConnectionIds {
    /// An allocator whose first id is 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next id, larger than every id this allocator handed out before.
    pub fn allocate(&mut self) -> ConnectionId {
        self.last += 1;
        ConnectionId(self.last)
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// Which side opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum ConnectionDirection {
    /// The remote peer dialled us.
    Inbound,
    /// We dialled the remote peer.
    Outbound,
}

impl fmt::Display for ConnectionDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectionDirection::Inbound => "inbound",
            ConnectionDirection::Outbound => "outbound",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// An allocator names connections 1, 2, 3... in order; two allocators
    /// are independent.
    #[test]
    fn connection_ids_grow_from_one() {
        let mut ids = ConnectionIds::new();
        let got: Vec<u64> = (0..3).map(|_| ids.allocate().get()).collect();
        assert_eq!(got, [1, 2, 3]);
        let mut other = ConnectionIds::new();
        let first = other.allocate();
        assert_eq!((first.get(), first.to_string()), (1, "c1".to_string()));
        assert!(ids.allocate() > first);
    }

    /// An IPv4-mapped IPv6 address and its IPv4 form are one peer.
    #[test]
    fn mapped_ipv6_normalises_to_ipv4() {
        let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 7).to_ipv6_mapped());
        let plain = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
        assert_eq!(PeerId::new(mapped), PeerId::new(plain));
        assert_eq!(PeerId::new(mapped).ip(), plain);
    }

    /// The port never takes part in identity.
    #[test]
    fn port_is_not_identity() {
        let a: SocketAddr = "127.0.0.2:9000".parse().unwrap();
        let b: SocketAddr = "127.0.0.2:51234".parse().unwrap();
        assert_eq!(PeerId::from_socket_addr(a), PeerId::from_socket_addr(b));
        let v6 = PeerId::new(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(v6.to_string(), "::1");
    }
}
