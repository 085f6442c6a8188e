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
    /// shared, not copied per peer.
    pub fn broadcast(&self, payload: Bytes) -> BroadcastReport {
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let mut report = BroadcastReport::default();
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
