//! `ConnectionInfo`: the facts about one established connection that the
//! shell learns from its socket and handshake and the peer table decides
//! from. Plain data; the connection itself (socket, queue, tasks) stays in
//! the shell, which re-exports this as `peerlink::peer::ConnectionInfo`.

use std::net::SocketAddr;
use std::time::Instant;

use crate::id::{ConnectionDirection, ConnectionId, PeerId};
use crate::wire::Hello;

/// Facts about one established connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionInfo {
    /// This connection's id (its generation).
    pub id: ConnectionId,
    /// The peer's identity (its IP).
    pub peer: PeerId,
    /// Who dialled.
    pub direction: ConnectionDirection,
    /// Our socket address.
    pub local_addr: SocketAddr,
    /// The peer's socket address.
    pub remote_addr: SocketAddr,
    /// The peer's hello (node id, listen port).
    pub remote: Hello,
    /// When the handshake completed: an instant of the shell's clock
    /// (virtual time under simulation), converted to `std`.
    pub established_at: Instant,
}
