//! `PeerConnectionRegistry`: send to one peer or broadcast to all, straight
//! onto the active connection's queue, without going through the manager's
//! task. The manager is its only writer; it updates an entry whenever a
//! peer's active connection changes, so a send never lands on a superseded
//! connection's queue by lookup (origin bug #3).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;

use crate::error::SendError;
use crate::id::PeerId;
use crate::peer::ConnectionSender;

/// The connected set and a sender for each; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct PeerConnectionRegistry {
    inner: Arc<RwLock<BTreeMap<PeerId, ConnectionSender>>>,
}

/// What a broadcast did, peer by peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BroadcastReport {
    /// Peers the payload was queued for, in order.
    pub queued: Vec<PeerId>,
    /// Peers it could not be queued for, and why.
    pub failed: Vec<(PeerId, SendError)>,
}

impl PeerConnectionRegistry {
    /// Queues `payload` on the peer's active connection.
    pub fn send(&self, peer: PeerId, payload: Bytes) -> Result<(), SendError> {
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&peer).ok_or(SendError::NotConnected)?.send(payload)
    }

    /// Queues `payload` for every connected peer. The payload buffer is
    /// shared, not copied per peer: each queue holds a reference to it, and
    /// each connection's writer adds the 5-byte frame header as it writes.
    pub fn broadcast(&self, payload: Bytes) -> BroadcastReport {
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let mut report = BroadcastReport {
            queued: Vec::with_capacity(map.len()),
            failed: Vec::new(),
        };
        for (peer, sender) in map.iter() {
            match sender.send(payload.clone()) {
                Ok(()) => report.queued.push(*peer),
                Err(e) => report.failed.push((*peer, e)),
            }
        }
        report
    }

    /// The connected peers, in order.
    pub fn connected_peers(&self) -> Vec<PeerId> {
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        map.keys().copied().collect()
    }

    /// Whether `peer` has an active connection.
    pub fn is_connected(&self, peer: PeerId) -> bool {
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        map.contains_key(&peer)
    }

    pub(crate) fn set(&self, peer: PeerId, sender: ConnectionSender) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(peer, sender);
    }

    pub(crate) fn remove(&self, peer: PeerId) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        map.remove(&peer);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use tokio::time::Instant;

    use super::*;
    use crate::id::{ConnectionDirection, ConnectionId, NodeId};
    use crate::peer::{ConnectionHandle, ConnectionInfo, Outgoing};
    use crate::wire::{Hello, PROTOCOL_VERSION};

    fn handle(last: u8) -> (ConnectionHandle, tokio::sync::mpsc::Receiver<Outgoing>) {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, last));
        let info = ConnectionInfo {
            id: ConnectionId(u64::from(last)),
            peer: PeerId::new(ip),
            direction: ConnectionDirection::Inbound,
            local_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 9000),
            remote_addr: SocketAddr::new(ip, 40000),
            remote: Hello {
                version: PROTOCOL_VERSION,
                network_id: 0,
                node_id: NodeId(u128::from(last)),
                listen_port: 9000,
            },
            established_at: Instant::now(),
        };
        let (handle, queue, _close) = ConnectionHandle::detached(info, 4);
        (handle, queue)
    }

    /// A broadcast queues the caller's one payload buffer for every peer,
    /// unserialised and uncopied: each queue holds the same bytes at the
    /// same address.
    #[test]
    fn broadcast_shares_one_payload_buffer() {
        let registry = PeerConnectionRegistry::default();
        let mut queues = Vec::new();
        for last in [2, 3, 4] {
            let (h, q) = handle(last);
            registry.set(h.info().peer, h.sender().clone());
            queues.push(q);
        }
        let payload = Bytes::from(vec![7u8; 1024]);
        let report = registry.broadcast(payload.clone());
        assert_eq!(report.queued.len(), 3);
        assert!(report.failed.is_empty());
        for q in &mut queues {
            match q.try_recv() {
                Ok(Outgoing::App(queued)) => assert_eq!(queued.as_ptr(), payload.as_ptr()),
                other => panic!("expected the shared payload, got {other:?}"),
            }
        }
    }
}
