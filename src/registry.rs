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

    /// Queues several payloads on the peer's active connection in one step
    /// (see [`ConnectionSender::send_batch`]); returns how many it queued.
    pub fn send_batch(&self, peer: PeerId, payloads: &[Bytes]) -> Result<usize, SendError> {
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&peer)
            .ok_or(SendError::NotConnected)?
            .send_batch(payloads)
    }

    /// Queues `payload` on the peer's active connection, waiting while its
    /// send queue is full (see [`ConnectionSender::send_wait`]).
    pub async fn send_wait(&self, peer: PeerId, payload: Bytes) -> Result<(), SendError> {
        let sender = {
            let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
            map.get(&peer).ok_or(SendError::NotConnected)?.clone()
        };
        sender.send_wait(payload).await
    }

    /// Queues `payload` for every connected peer, framed once per peer (a
    /// 5-byte header). A payload of 16 KiB or more is shared, not copied:
    /// each queue holds a reference to the caller's buffer. A smaller one is
    /// copied into each connection's write buffer, the copy its writer would
    /// otherwise make.
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
    use crate::id::{ConnectionDirection, ConnectionIds, NodeId};
    use crate::peer::{Batch, ConnectionHandle, ConnectionInfo, SendQueue};
    use crate::wire::{Hello, PROTOCOL_VERSION};

    fn handle(last: u8) -> (ConnectionHandle, SendQueue) {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, last));
        // The node's connection number `last`, like its peer's address.
        let mut ids = ConnectionIds::new();
        let mut id = ids.allocate();
        for _ in 1..last {
            id = ids.allocate();
        }
        let info = ConnectionInfo {
            id,
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
            established_at: Instant::now().into_std(),
        };
        let (handle, queue, _close) = ConnectionHandle::detached(info, 4);
        (handle, queue)
    }

    /// A broadcast queues a large payload (16 KiB and up) by reference for
    /// every peer: each queue holds the caller's one buffer, unserialised and
    /// uncopied. A small one is framed into each queue's write buffer.
    #[tokio::test]
    async fn broadcast_shares_a_large_payload_and_frames_a_small_one() {
        let registry = PeerConnectionRegistry::default();
        let mut queues = Vec::new();
        for last in [2, 3, 4] {
            let (h, q) = handle(last);
            registry.set(h.info().peer, h.sender().clone());
            queues.push(q);
        }
        let large = Bytes::from(vec![7u8; 16 * 1024]);
        let small = Bytes::from_static(b"hello");
        for payload in [&large, &small] {
            let report = registry.broadcast(payload.clone());
            assert_eq!(report.queued.len(), 3);
            assert!(report.failed.is_empty());
        }
        for q in &queues {
            let mut batch = Batch::default();
            q.take(&mut batch).await;
            let runs: Vec<(&[u8], &[u8])> = batch.runs().collect();
            assert_eq!(runs.len(), 2);
            assert_eq!(
                runs[0].0,
                [0, 0, 0x40, 1, crate::wire::MessageType::App as u8]
            );
            assert_eq!(runs[0].1.as_ptr(), large.as_ptr());
            assert_eq!(
                runs[1].0,
                [
                    0,
                    0,
                    0,
                    6,
                    crate::wire::MessageType::App as u8,
                    b'h',
                    b'e',
                    b'l',
                    b'l',
                    b'o'
                ]
            );
            assert!(runs[1].1.is_empty());
        }
    }
}
