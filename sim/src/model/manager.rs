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
use crate::view::{ConnView, NodeView, PeerView, StreamBytes};

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
                crate::transport::spawn(broadcast_every(manager, every));
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
    /// every node at every check, and formatting IPs dominated that. It
    /// holds exactly the rows of the last view: a row the table dropped
    /// (an inbound peer that left) is forgotten with it.
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
        let mut cached = std::mem::take(&mut *keys);
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
                        traffic: c.stats.as_ref().map(|s| StreamBytes {
                            bytes_in: s.traffic.bytes_in,
                            bytes_out: s.traffic.bytes_out,
                        }),
                    })
                    .collect();
                let active = row.active.and_then(|id| {
                    let pos = row.connections.iter().position(|c| c.id == id)?;
                    conns.get(pos).cloned()
                });
                PeerView {
                    key: keys
                        .entry(row.peer)
                        .or_insert_with(|| {
                            cached
                                .remove(&row.peer)
                                .unwrap_or_else(|| row.peer.to_string())
                        })
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use peerlink::manager::{ConnectionManager, ManagerOptions, PeerEvent};
    use peerlink::transport::SimTransport;
    use peerlink::Config;

    use super::*;

    type Published = Arc<Mutex<Option<Arc<ManagerNode>>>>;

    fn listen() -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 7000)
    }

    /// Steps `sim` until `done` holds of the server's view and key cache;
    /// panics after 20 simulated seconds.
    fn step_until(
        sim: &mut turmoil::Sim<'_>,
        server: &Published,
        done: impl Fn(&NodeView, usize) -> bool,
    ) {
        for _ in 0..20_000 {
            sim.step().unwrap();
            let node = server.lock().unwrap().clone();
            if let Some(node) = node {
                let view = node.view();
                let cached = node.keys.lock().unwrap().len();
                if done(&view, cached) {
                    return;
                }
            }
        }
        panic!("not reached in 20 simulated seconds");
    }

    /// The key cache holds the rows of the last view and no more: three
    /// inbound peers connect (three rows, three keys), then shut down; the
    /// table drops their rows and the cache forgets their keys (before the
    /// fix it kept all three for good).
    #[test]
    fn keys_of_rows_the_table_dropped_are_forgotten() {
        let mut sim = turmoil::Builder::new().build();
        let server: Published = Arc::default();
        let publish = server.clone();
        sim.host("server", move || {
            let publish = publish.clone();
            async move {
                let options = ManagerOptions {
                    listen: Some(listen()),
                    seed: Some(1),
                    ..ManagerOptions::default()
                };
                let (manager, mut events) =
                    ConnectionManager::start(SimTransport::new(), Config::default(), options)
                        .await?;
                *publish.lock().unwrap() = Some(Arc::new(ManagerNode::new(manager)));
                while events.recv().await.is_some() {}
                Ok(())
            }
        });
        for i in 0..3u64 {
            sim.client(format!("c{i}"), async move {
                let options = ManagerOptions {
                    peers: vec![SocketAddr::new(turmoil::lookup("server"), 7000)],
                    seed: Some(10 + i),
                    ..ManagerOptions::default()
                };
                let (manager, mut events) =
                    ConnectionManager::start(SimTransport::new(), Config::default(), options)
                        .await?;
                while let Some(event) = events.recv().await {
                    if matches!(event, PeerEvent::Connected { .. }) {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
                manager.shutdown().await;
                Ok(())
            });
        }
        step_until(&mut sim, &server, |view, cached| {
            view.peers.len() == 3 && cached == 3
        });
        step_until(&mut sim, &server, |view, cached| {
            view.peers.is_empty() && cached == 0
        });
    }
}
