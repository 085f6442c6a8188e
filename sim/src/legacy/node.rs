//! The legacy node: a small model of the origin project's connection layer,
//! shared by every legacy model. Reconnect tasks with exponential backoff,
//! spawned by a periodic loop for every configured peer that is neither
//! connected nor marked as being dialled; a server that refuses an inbound
//! connection from a peer it is already connected to; and, when two
//! connections to one peer are both established (a simultaneous dial),
//! peerlink's node-id rule, so both ends keep the same one (`table`).
//!
//! This file is the async shell: tasks, sockets, timers. Decisions live in
//! `table`, the flaws' switches in `design`, the connections in `handshake`
//! and `conn`. It speaks the real wire protocol and opens every socket
//! through the host's transport, so socket accounting stays exact. It
//! must not touch the library's internals: naive behaviour lives here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use peerlink::transport::{Link, Listener, Transport};
use peerlink::wire::{Hello, Message, Reason, PROTOCOL_VERSION};
use peerlink::{Config, ConnectionDirection, ConnectionId, NodeId};
use peerlink_core::backoff::backoff_delay;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;

use super::conn::{self, ConnParts, End, Out};
use super::design::{Design, Key};
use super::handshake::{self, Shaken};
use super::plants::Plant;
use super::table::{Held, Table};
use crate::model::{HostCtx, Observe};
use crate::transport::{HostReader, HostTransport, HostWriter};
use crate::view::{ConnView, NodeView, StreamCounter};

/// How often the periodic loop looks for configured peers that are neither
/// connected nor being dialled (the origin's 5 s reconnect loop, scaled).
pub(crate) const ENSURE_EVERY: Duration = Duration::from_secs(2);

/// Pause after a failed `accept`, so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// One running legacy node.
pub(crate) struct Node {
    pub(crate) design: Design,
    pub(crate) config: Config,
    local: Hello,
    transport: HostTransport,
    table: Mutex<Table>,
    /// Backoff jitter.
    rng: Mutex<ChaCha8Rng>,
    /// Seed of each connection's RNG (ping nonces), one stream per id.
    conn_seed: [u8; 32],
}

impl Node {
    /// Runs a node of `design` in the current host until it is crashed.
    pub(crate) async fn run(design: Design, ctx: HostCtx) -> turmoil::Result {
        let listen = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), ctx.port);
        let mut listener = ctx.transport.bind(listen).await?;
        let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed);
        let node_id = NodeId::random(&mut rng);
        let mut conn_seed = [0u8; 32];
        rng.fill_bytes(&mut conn_seed);
        let node = Arc::new(Node {
            design,
            local: Hello {
                version: PROTOCOL_VERSION,
                network_id: ctx.config.network_id,
                node_id,
                listen_port: ctx.port,
            },
            config: ctx.config,
            transport: ctx.transport,
            table: Mutex::new(Table::new(
                design,
                node_id,
                &ctx.peers,
                ctx.traffic.is_some(),
            )),
            rng: Mutex::new(rng),
            conn_seed,
        });
        *ctx.slot.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Arc::new(Observer(node.clone())));
        tracing::debug!(node = %node_id, model = design.name, "legacy node up");
        crate::transport::spawn(node.clone().ensure_loop());
        // turmoil's own streams exist only on the turmoil backend; the
        // event backend's stream count has no second ledger to disagree.
        if let (Plant::RawStream, Some(&peer), HostTransport::Turmoil(_)) =
            (design.plant, ctx.peers.first(), &node.transport)
        {
            crate::transport::spawn(hold_raw_stream(peer));
        }
        if let Some(every) = design.blind_redial_every {
            crate::transport::spawn(node.clone().blind_redial_loop(every));
        }
        if let Some(every) = ctx.traffic {
            crate::transport::spawn(node.clone().send_loop(every));
        }
        loop {
            match listener.accept().await {
                Ok(link) => node.on_accept(link),
                Err(error) => {
                    tracing::debug!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                }
            }
        }
    }

    pub(crate) fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The periodic loop: a reconnect task for every configured peer that is
    /// neither connected nor marked as being dialled.
    async fn ensure_loop(self: Arc<Self>) {
        loop {
            let due = self.table().take_due();
            for (key, addr) in due {
                tracing::debug!(peer = %key, "reconnect task spawned");
                crate::transport::spawn(self.clone().reconnect(key, addr));
            }
            tokio::time::sleep(ENSURE_EVERY).await;
        }
    }

    /// Origin bug #2: every `every`, one dial to every configured peer,
    /// ignoring whether it is connected or being dialled. The loop shares
    /// the peer's slot: when its dial ends without a connection (a connected
    /// server refuses the duplicate and closes it), it runs the peer's
    /// disconnect path, which closes the live session too; the reconnect
    /// loop then dials the peer again.
    async fn blind_redial_loop(self: Arc<Self>, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            let peers = self.table().configured();
            for (key, addr) in peers {
                tracing::debug!(peer = %key, "periodic redial");
                let node = self.clone();
                crate::transport::spawn(async move {
                    if !node.dial(key, addr).await {
                        let closed = node.table().drop_peer(key);
                        tracing::debug!(peer = %key, closed, "periodic redial ended: peer dropped");
                    }
                });
            }
        }
    }

    /// The scenario's traffic: every `every`, one application message (a
    /// round number) to each peer the table shows as connected, through
    /// the writer registered for it, as the origin's `send` did.
    async fn send_loop(self: Arc<Self>, every: Duration) {
        for round in 1u64.. {
            tokio::time::sleep(every).await;
            let frame = Message::App(Bytes::copy_from_slice(&round.to_be_bytes())).to_frame();
            let targets = self.table().send_targets();
            for (key, writer) in targets {
                if self.design.send_is_stub {
                    // Origin bug #7: `Ok(())`, and nothing queued.
                    tracing::debug!(peer = %key, "send stub: ok, nothing sent");
                    continue;
                }
                let Some(writer) = writer else {
                    tracing::debug!(peer = %key, "send failed: not found in registry");
                    continue;
                };
                if writer.try_send(Out::Frame(frame.clone())).is_err() {
                    tracing::debug!(peer = %key, "send failed: queue full or closed");
                }
            }
        }
    }

    /// A reconnect task: dials until a dial succeeds or the peer is
    /// connected by other means, backing off between attempts.
    async fn reconnect(self: Arc<Self>, key: Key, addr: SocketAddr) {
        let mut failures = 0u32;
        loop {
            if self.dial(key, addr).await {
                break;
            }
            failures += 1;
            if self.table().is_connected(key) {
                break;
            }
            let c = &self.config;
            let delay = {
                let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
                backoff_delay(
                    c.redial_backoff_min,
                    c.redial_backoff_max,
                    failures,
                    &mut *rng,
                )
            };
            if self.design.backoff_clears_mark {
                // Origin bug #5: the peer looks free while this task sleeps.
                self.table().set_dialing(key, false);
                tracing::debug!(peer = %key, failures, "backoff: connecting mark cleared");
            }
            tokio::time::sleep(delay).await;
            if self.design.backoff_clears_mark {
                self.table().set_dialing(key, true);
            }
            if self.table().is_connected(key) {
                break;
            }
        }
        self.table().set_dialing(key, false);
    }

    /// One dial: connect, handshake, establish. Returns whether a connection
    /// was established.
    async fn dial(self: &Arc<Self>, key: Key, addr: SocketAddr) -> bool {
        self.table().dial_started(key);
        tracing::debug!(peer = %key, %addr, "dial");
        let established = self.connect_and_shake(key, addr).await;
        self.table().dial_ended(key);
        established
    }

    async fn connect_and_shake(self: &Arc<Self>, key: Key, addr: SocketAddr) -> bool {
        let c = &self.config;
        let link = match self.transport.connect(addr, None, c.connect_timeout).await {
            Ok(link) => link,
            Err(error) => {
                tracing::debug!(peer = %key, %error, "dial failed");
                return false;
            }
        };
        self.table().handshake_started(key);
        let shake = handshake::dial(link, self.local, c.max_frame_len);
        match tokio::time::timeout(c.handshake_timeout, shake).await {
            Ok(Ok(shaken)) => {
                self.establish(key, shaken, ConnectionDirection::Outbound);
                true
            }
            Ok(Err(error)) => {
                self.handshake_failed(key, &error.to_string());
                false
            }
            Err(_) => {
                self.handshake_failed(key, "handshake timed out");
                false
            }
        }
    }

    fn handshake_failed(&self, key: Key, error: &str) {
        tracing::debug!(peer = %key, error, "handshake failed");
        self.table().handshake_failed(key);
    }

    /// The server side: refuse a peer we are connected to, else handshake.
    fn on_accept(self: &Arc<Self>, link: Link<HostReader, HostWriter>) {
        let key = self.design.key_for(link.remote_addr);
        if !self.table().admit_inbound(key) {
            let reason = Reason::Duplicate;
            tracing::debug!(peer = %key, %reason, "inbound refused: already connected");
            crate::transport::spawn(handshake::reject(link, reason));
            return;
        }
        let node = self.clone();
        crate::transport::spawn(async move {
            let c = &node.config;
            let shake = handshake::accept(link, node.local, c.max_frame_len);
            match tokio::time::timeout(c.handshake_timeout, shake).await {
                Ok(Ok(shaken)) => node.establish(key, shaken, ConnectionDirection::Inbound),
                Ok(Err(error)) => node.handshake_failed(key, &error.to_string()),
                Err(_) => node.handshake_failed(key, "handshake timed out"),
            }
        });
    }

    /// A handshake finished: hand the connection to the table, start its loop.
    fn establish(self: &Arc<Self>, key: Key, shaken: Shaken, direction: ConnectionDirection) {
        let (out_tx, out_rx) = mpsc::channel::<Out>(self.config.send_queue_len);
        let (close_tx, close_rx) = mpsc::channel(1);
        let remote_node = shaken.remote.node_id;
        let traffic = Arc::new(StreamCounter::default());
        let held = Held {
            view: ConnView {
                local_addr: shaken.local_addr,
                remote_addr: shaken.remote_addr,
                direction,
                closing: false,
                traffic: None,
            },
            remote_node,
            close: close_tx,
            out: out_tx.clone(),
            traffic: traffic.clone(),
        };
        let id = self.table().establish(key, held);
        tracing::debug!(peer = %key, conn = id.get(), %direction, remote = %remote_node, "established");
        let mut rng = ChaCha8Rng::from_seed(self.conn_seed);
        rng.set_stream(id.get());
        crate::transport::spawn(conn::run(ConnParts {
            node: self.clone(),
            id,
            key,
            shaken,
            out_tx,
            out_rx,
            close_rx,
            rng,
            direction,
            traffic,
        }));
    }

    /// A connection's loop ended with `end`.
    pub(crate) fn on_closed(&self, key: Key, id: ConnectionId, end: &End) {
        self.table().on_closed(key, id, end);
    }
}

/// Planted (`check-raw-stream`): connects to `peer` with turmoil's own
/// stream, which the host's transport never counts, and holds it for good.
async fn hold_raw_stream(peer: SocketAddr) {
    let stream = turmoil::net::TcpStream::connect(peer).await;
    tracing::debug!(%peer, opened = stream.is_ok(), "planted: raw stream");
    let _held = stream;
    std::future::pending::<()>().await;
}

/// What the simulator sees: the design's own table, keyed its own way.
struct Observer(Arc<Node>);

impl Observe for Observer {
    fn view(&self) -> NodeView {
        self.0.table().view()
    }
}
