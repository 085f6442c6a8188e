//! `Action`: what the peer table asks its shell to do. The table never
//! touches a connection, a socket or the owner's queue; each decision
//! returns these, in the order their effects must happen, and the shell
//! carries them out in that order.

use std::net::SocketAddr;

use crate::event::PeerEvent;
use crate::id::{ConnectionId, PeerId};
use crate::wire::Reason;

/// Something the shell must do after a decision of the
/// [`PeerTable`](super::PeerTable). Carry them out in the order returned:
/// a `Route` comes before the `Connected` it makes true, and closes come in
/// the order the table decided them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Open a connection to `addr` and run the dialer's handshake as
    /// connection `id`; report the outcome with
    /// [`on_established`](super::PeerTable::on_established) or
    /// [`on_handshake_failed`](super::PeerTable::on_handshake_failed).
    Dial {
        /// The id reserved for the connection.
        id: ConnectionId,
        /// The peer being dialled.
        peer: PeerId,
        /// Where to dial it.
        addr: SocketAddr,
    },
    /// Ask connection `id` to close: it sends `Goodbye(reason)` after the
    /// frames already queued, then ends; report its end with
    /// [`on_closed`](super::PeerTable::on_closed). A connection that has
    /// already ended ignores it.
    Close {
        /// The connection.
        id: ConnectionId,
        /// The reason its goodbye carries.
        reason: Reason,
    },
    /// Sends to `peer` go to connection `id` from now on.
    Route {
        /// The peer.
        peer: PeerId,
        /// Its active connection.
        id: ConnectionId,
    },
    /// `peer` has no active connection: sends to it fail from now on.
    Unroute {
        /// The peer.
        peer: PeerId,
    },
    /// Deliver this event to the owner.
    Emit(PeerEvent),
}
