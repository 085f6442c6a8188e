//! `PeerEvent`: what the peer manager tells its owner. Plain data: the peer
//! table emits the connection-state events as actions, and the shell's
//! connections add messages and round-trip times. The queue the owner
//! drains (`peerlink::manager::Events`) is the shell's; this module only
//! defines what travels on it.

use std::time::Duration;

use bytes::Bytes;

use crate::close::DisconnectReason;
use crate::id::{ConnectionDirection, ConnectionId, NodeId, PeerId};

/// An event from the connection manager, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PeerEvent {
    /// `conn_id` became the peer's active connection. A `Connected` for a
    /// peer that is already connected means its active connection was
    /// replaced (a duplicate was resolved in favour of the new one, or the
    /// peer restarted); the peer stayed reachable throughout.
    Connected {
        /// The peer.
        peer: PeerId,
        /// Its now-active connection.
        conn_id: ConnectionId,
        /// Who dialled that connection.
        direction: ConnectionDirection,
        /// The node id the peer announced.
        node_id: NodeId,
    },
    /// The peer has no connection left; `conn_id` was the last.
    Disconnected {
        /// The peer.
        peer: PeerId,
        /// The connection that ended.
        conn_id: ConnectionId,
        /// Why it ended: who closed it, with which reason, or that it was
        /// lost.
        reason: DisconnectReason,
    },
    /// An application payload from the peer.
    Message {
        /// The peer.
        peer: PeerId,
        /// The connection it arrived on.
        conn_id: ConnectionId,
        /// The payload.
        bytes: Bytes,
    },
    /// A round-trip time measured by ping/pong on the peer's connection.
    Rtt {
        /// The peer.
        peer: PeerId,
        /// Send-to-receive time of one ping.
        rtt: Duration,
    },
}
