//! `NodeView`: what the simulator can see of one node between steps, in the
//! same shape for our manager and for every legacy model. Invariants read
//! only this.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use peerlink::ConnectionDirection;

/// Bytes one end of an established stream has carried, counted after the
/// handshake's own frames: what it read off the stream, and what it
/// finished writing onto it. At rest, one end's `bytes_out` equals the
/// other end's `bytes_in`; the `link-liveness` invariant watches the gap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamBytes {
    /// Read from the stream.
    pub bytes_in: u64,
    /// Written to the stream.
    pub bytes_out: u64,
}

/// The counters behind a [`StreamBytes`], for a model whose connection
/// tasks count as they go (the reader and the writer each own one figure).
#[derive(Debug, Default)]
pub struct StreamCounter {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl StreamCounter {
    /// The reader took `n` bytes off the stream.
    pub fn received(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Relaxed);
    }

    /// The writer finished writing `n` bytes.
    pub fn sent(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Relaxed);
    }

    /// The figures now.
    pub fn read(&self) -> StreamBytes {
        StreamBytes {
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
        }
    }
}

/// One open connection as a node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnView {
    /// The node's socket address.
    pub local_addr: SocketAddr,
    /// The peer's socket address.
    pub remote_addr: SocketAddr,
    /// Who dialled.
    pub direction: ConnectionDirection,
    /// Asked to close; the socket may still be open.
    pub closing: bool,
    /// What the stream carried, for a model that counts it (ours and the
    /// legacy models; the hostile ones do not).
    pub traffic: Option<StreamBytes>,
}

/// One row of a node's peer table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerView {
    /// The key the node files the peer under, as text ("10.0.0.2", or
    /// "10.0.0.2:51234" for a legacy IP:PORT table).
    pub key: String,
    /// The IP behind the key.
    pub ip: IpAddr,
    /// Whether the node considers the peer connected.
    pub connected: bool,
    /// The connection sends go to, if any.
    pub active: Option<ConnView>,
    /// Every connection the row holds, closing ones included.
    pub connections: Vec<ConnView>,
    /// Handshakes in flight.
    pub pending: usize,
    /// Dials in flight (connect and handshake), whichever task runs them.
    pub dials_in_flight: usize,
    /// Dials started.
    pub dials: u64,
    /// Connections established.
    pub established: u64,
    /// Connections ended.
    pub closed: u64,
    /// Times the peer went from connected to not connected.
    pub disconnects: u64,
    /// Last round-trip time measured on the active connection, for a model
    /// that publishes one (ours; the legacy and hostile models do not).
    pub rtt: Option<std::time::Duration>,
    /// Application messages received from this peer, for a model that
    /// counts them under a scenario with traffic (`None`: not counted; the
    /// invariant `sends-arrive` reads it).
    pub received: Option<u64>,
}

/// A node's whole table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeView {
    /// Rows in a stable order.
    pub peers: Vec<PeerView>,
}

impl NodeView {
    /// Rows for peers at `ip` (one, for a correct IP-keyed table).
    pub fn rows_for(&self, ip: IpAddr) -> impl Iterator<Item = &PeerView> {
        self.peers.iter().filter(move |p| p.ip == ip)
    }

    /// Connections not asked to close, over all rows.
    pub fn open_connections(&self) -> usize {
        let conns = self.peers.iter().flat_map(|p| &p.connections);
        conns.filter(|c| !c.closing).count()
    }

    /// Every connection held, closing ones included.
    pub fn held_connections(&self) -> usize {
        self.peers.iter().map(|p| p.connections.len()).sum()
    }

    /// Handshakes in flight over all rows.
    pub fn pending(&self) -> usize {
        self.peers.iter().map(|p| p.pending).sum()
    }

    /// Sum of dials over all rows.
    pub fn dials(&self) -> u64 {
        self.peers.iter().map(|p| p.dials).sum()
    }

    /// Sum of disconnects over all rows.
    pub fn disconnects(&self) -> u64 {
        self.peers.iter().map(|p| p.disconnects).sum()
    }
}
