//! peerlink's own `ConnectionManager` as a simulated node; under a scenario
//! with traffic it broadcasts at the interval and counts what it receives.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use peerlink::manager::{ConnectionManager, ManagerOptions, PeerState, TieBreakPolicy};
use peerlink::{PeerEvent, PeerId};

use super::{HostCtx, NodeFuture, NodeModel, Observe};
use crate::view::{ConnView, NodeView, PeerView};

/// Our manager under a tie-break policy (`node-id` is the default; the
/// others are comparison policies).
pub struct ManagerModel(pub TieBreakPolicy);

impl NodeModel for ManagerModel {
    fn name(&self) -> String {
        self.0.name().to_string()
    }

    fn describe(&self) -> String {
        match self.0 {
            TieBreakPolicy::NodeId => {
                "peerlink, default policy: larger node id keeps its outbound".into()
            }
            p => format!("peerlink with comparison policy {}", p.name()),
        }
    }

    fn start(&self, ctx: HostCtx) -> NodeFuture {
        let policy = self.0;
        Box::pin(async move {
            let config = {
                let mut c = ctx.config;
                c.tie_break = policy;
                c
            };
            let options = ManagerOptions {
                listen: Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), ctx.port)),
                local_ip: Some(ctx.ip),
                seed: Some(ctx.seed),
                peers: ctx.peers,
            };
            let (manager, mut events) =
                ConnectionManager::start(ctx.transport, config, options).await?;
            let received = Received::default();
            let mut node = ManagerNode::new(manager.clone());
            if let Some(every) = ctx.traffic {
                node.received = Some(received.clone());
                tokio::spawn(broadcast_every(manager, every));
            }
            *ctx.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(node));
            while let Some(event) = events.recv().await {
                if let PeerEvent::Message { peer, .. } = event {
                    let mut counts = received.lock().unwrap_or_else(PoisonError::into_inner);
                    *counts.entry(peer.ip()).or_default() += 1;
                }
            }
            Ok(())
        })
    }
}

/// Application messages received, per peer IP.
type Received = Arc<Mutex<BTreeMap<IpAddr, u64>>>;

/// The scenario's traffic: one broadcast, a round number, every `every`.
async fn broadcast_every(manager: ConnectionManager, every: Duration) {
    for round in 1u64.. {
        tokio::time::sleep(every).await;
        let report = manager.broadcast(Bytes::copy_from_slice(&round.to_be_bytes()));
        for (peer, error) in report.failed {
            tracing::debug!(%peer, %error, "broadcast not queued");
        }
    }
}

/// A running `ConnectionManager` as the simulator observes it: publish
/// `Arc::new(ManagerNode::new(manager.clone()))` in the host's slot, from
/// this crate's model or from a node project's own `NodeModel`.
pub struct ManagerNode {
    manager: ConnectionManager,
    /// Each peer's key as text, formatted once: the invariants observe
    /// every node at every check, and formatting IPs dominated that.
    keys: Mutex<BTreeMap<PeerId, String>>,
    /// Application messages received, when the scenario sends traffic.
    received: Option<Received>,
}

impl ManagerNode {
    /// Observes `manager`.
    pub fn new(manager: ConnectionManager) -> Self {
        ManagerNode {
            manager,
            keys: Mutex::default(),
            received: None,
        }
    }
}

impl Observe for ManagerNode {
    fn view(&self) -> NodeView {
        let snap = self.manager.snapshot();
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let received = self
            .received
            .as_ref()
            .map(|r| r.lock().unwrap_or_else(PoisonError::into_inner).clone());
        let peers = snap
            .peers
            .iter()
            .map(|row| {
                let conns: Vec<ConnView> = row
                    .connections
                    .iter()
                    .map(|c| ConnView {
                        local_addr: c.local_addr,
                        remote_addr: c.remote_addr,
                        direction: c.direction,
                        closing: c.closing,
                    })
                    .collect();
                let active = row.active.and_then(|id| {
                    let pos = row.connections.iter().position(|c| c.id == id)?;
                    conns.get(pos).cloned()
                });
                PeerView {
                    key: keys
                        .entry(row.peer)
                        .or_insert_with(|| row.peer.to_string())
                        .clone(),
                    ip: row.peer.ip(),
                    connected: row.state == PeerState::Connected,
                    active,
                    connections: conns,
                    pending: row.pending,
                    dials_in_flight: row.pending_outbound,
                    dials: row.counters.dials,
                    established: row.counters.connections,
                    closed: row.counters.closed,
                    disconnects: row.counters.disconnects,
                    rtt: row.last_rtt,
                    received: received
                        .as_ref()
                        .map(|r| r.get(&row.peer.ip()).copied().unwrap_or(0)),
                }
            })
            .collect();
        NodeView { peers }
    }
}
