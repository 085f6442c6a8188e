//! `ConnectionManager`: owns every connection of a node. Identity is the
//! peer IP (one row per IP); slots are reserved before any handshake; two
//! connections to one peer are resolved by a tie-break both ends compute
//! alike; configured peers are redialled with backoff, one dial at a time.
//!
//! The decisions are the core's `PeerTable` (`peerlink_core::table`:
//! synchronous, takes `now`, returns actions). This module is the shell:
//! `state` holds the table beside the connection handles and carries out
//! its closes and routes, `driver` is the one async task that feeds it and
//! spawns dials and emits events onto the owner's queue (`crate::events`). The
//! tie-break policy, `PeerEvent` and the `Snapshot` types are pure types of
//! `peerlink_core`, re-exported here; the decision functions themselves
//! (tie-break, backoff, bans) are not: they are `peerlink_core`'s API, for
//! simulators and model checkers, not a node's.

mod driver;
mod state;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use peerlink_core::table::PeerTable;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use crate::events::{Events, PeerEvent, TryRecvError};
pub use peerlink_core::bans::{SHORT_LIVED, STRIKE_REASONS};
pub use peerlink_core::histogram::{Histogram, BOUNDS as HISTOGRAM_BOUNDS};
pub use peerlink_core::policy::TieBreakPolicy;
pub use peerlink_core::snapshot::{
    ConnectionRow, ConnectionStats, ManagerStats, PeerCounters, PeerRow, PeerState, Snapshot,
    Traffic, CONNECT_FAILED,
};

use crate::config::Config;
use crate::error::{ConfigError, SendError};
use crate::events::event_queue;
use crate::id::{NodeId, PeerId};
use crate::peer::ConnectionContext;
use crate::registry::{BroadcastReport, PeerConnectionRegistry};
use crate::transport::{Listener, Transport};
use driver::Driver;
use state::{lock, Core};

/// How to start a manager, beyond its [`Config`].
#[derive(Clone, Debug, Default)]
pub struct ManagerOptions {
    /// Address to accept connections on; `None` for an outbound-only node.
    pub listen: Option<SocketAddr>,
    /// Source IP for outbound connections (several nodes on one machine);
    /// also the node's own IP for [`TieBreakPolicy::HigherIpDials`].
    pub local_ip: Option<IpAddr>,
    /// Seed of every random choice (node id, nonces, jitter). `None` draws
    /// it from the operating system: production. Set it in simulations.
    pub seed: Option<u64>,
    /// Peers to keep connected from the start.
    pub peers: Vec<SocketAddr>,
}

/// Why a manager could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is invalid.
    #[error("invalid config: {0}")]
    Config(#[from] ConfigError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// A running connection manager; cheap to clone, every clone controls the
/// same manager.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use peerlink::manager::{ConnectionManager, ManagerOptions, PeerEvent};
/// use peerlink::transport::TcpTransport;
/// use peerlink::Config;
///
/// let options = ManagerOptions {
///     listen: Some("127.0.0.1:9000".parse()?),
///     peers: vec!["127.0.0.2:9000".parse()?],
///     ..ManagerOptions::default()
/// };
/// let (manager, mut events) =
///     ConnectionManager::start(TcpTransport, Config::default(), options).await?;
/// while let Some(event) = events.recv().await {
///     match event {
///         PeerEvent::Connected { peer, .. } => {
///             manager.send(peer, bytes::Bytes::from_static(b"hello"))?;
///         }
///         PeerEvent::Message { peer, bytes, .. } => println!("{peer}: {bytes:?}"),
///         _ => {}
///     }
/// }
/// // The table, one row per peer IP, in a stable order:
/// println!("{}", manager.snapshot());
/// manager.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ConnectionManager {
    core: Arc<Mutex<Core>>,
    registry: PeerConnectionRegistry,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
    finished: CancellationToken,
    node_id: NodeId,
    listen_addr: Option<SocketAddr>,
    /// The runtime it was started on: its clock (virtual under simulation
    /// and paused time) dates what the handle's callers do, even from
    /// outside that runtime.
    runtime: tokio::runtime::Handle,
    /// Dropped with the last handle: the manager then shuts down.
    _last_handle: Arc<ShutdownOnDrop>,
}

/// Starts the manager's shutdown when dropped.
#[derive(Debug)]
struct ShutdownOnDrop(CancellationToken);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl ConnectionManager {
    /// Validates `config`, binds the listener, and starts the manager task
    /// on the current tokio runtime. Events arrive on the returned
    /// [`Events`], which the owner must keep draining: it is bounded
    /// (`Config::event_queue_len` batches, `Config::event_queue_bytes`
    /// payload bytes) and a full queue slows the connections that fill it.
    ///
    /// The manager runs until [`ConnectionManager::shutdown`] or until the
    /// last clone of the handle is dropped; either way every connection is
    /// closed with `Goodbye(shutdown)`.
    pub async fn start<T: Transport>(
        transport: T,
        config: Config,
        options: ManagerOptions,
    ) -> Result<(ConnectionManager, Events), StartError> {
        config.validate()?;
        let config = Arc::new(config);
        let listener = match options.listen {
            Some(addr) => Some(
                transport
                    .bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?,
            ),
            None => None,
        };
        let listen_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        let mut rng = match options.seed {
            Some(seed) => ChaCha8Rng::seed_from_u64(seed),
            // The one place that reads OS entropy: production nodes only.
            None => ChaCha8Rng::from_os_rng(),
        };
        let node_id = NodeId::random(&mut rng);
        let mut conn_seed = [0u8; 32];
        rng.fill_bytes(&mut conn_seed);
        let table_seed = rng.next_u64();
        let registry = PeerConnectionRegistry::default();
        let own_ip = options.local_ip.or(listen_addr.map(|a| a.ip()));
        let mut table = PeerTable::new(config.clone(), node_id, own_ip, table_seed);
        let now = Instant::now().into_std();
        for peer in &options.peers {
            table.add_peer(*peer, now);
        }
        let core = Arc::new(Mutex::new(Core::new(table, registry.clone())));
        let (events_out, events) = event_queue(config.event_queue_len, config.event_queue_bytes);
        let shutdown = CancellationToken::new();
        let manager = ConnectionManager {
            core: core.clone(),
            registry,
            wake: Arc::new(Notify::new()),
            shutdown: shutdown.clone(),
            finished: CancellationToken::new(),
            node_id,
            listen_addr,
            runtime: tokio::runtime::Handle::current(),
            _last_handle: Arc::new(ShutdownOnDrop(shutdown)),
        };
        let ctx = ConnectionContext::validated(
            config,
            node_id,
            listen_addr.map_or(0, |a| a.port()),
            options.local_ip,
        );
        let driver = Driver {
            transport,
            listener,
            ctx,
            core,
            events_out,
            wake: manager.wake.clone(),
            shutdown: manager.shutdown.clone(),
            finished: manager.finished.clone(),
            conn_seed,
            draining: false,
        };
        let span = tracing::info_span!("manager", node = %node_id);
        tokio::spawn(tracing::Instrument::instrument(driver.run(), span));
        Ok((manager, events))
    }

    /// This node's id (random per start, or drawn from the seed).
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The address the listener is bound to.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen_addr
    }

    /// Keeps `addr` connected from now on: dialled at once (unless already
    /// connected), redialled with backoff after failures.
    pub fn add_peer(&self, addr: SocketAddr) {
        lock(&self.core).table.add_peer(addr, self.now());
        self.wake.notify_one();
    }

    /// Stops keeping `peer` connected and closes its connections with
    /// `Goodbye(shutdown)`. Returns whether the peer was known.
    pub fn disconnect(&self, peer: PeerId) -> bool {
        let mut known = false;
        let deferred = {
            let mut core = lock(&self.core);
            let later = core.decide(|table, actions| known = table.disconnect(peer, actions));
            core.defer(later)
        };
        if deferred {
            self.wake.notify_one();
        }
        known
    }

    /// Queues `payload` for `peer` on its active connection.
    pub fn send(&self, peer: PeerId, payload: Bytes) -> Result<(), SendError> {
        self.registry.send(peer, payload)
    }

    /// Queues several payloads for `peer` on its active connection in one
    /// step, as many as fit; returns how many it queued (see
    /// [`ConnectionSender::send_batch`](crate::peer::ConnectionSender::send_batch)).
    pub fn send_batch(&self, peer: PeerId, payloads: &[Bytes]) -> Result<usize, SendError> {
        self.registry.send_batch(peer, payloads)
    }

    /// Queues `payload` for `peer` on its active connection, waiting while
    /// that connection's send queue is full: the back-pressured form of
    /// [`ConnectionManager::send`]. Waiters are served first come, first
    /// served. Fails if the peer is not connected, the payload exceeds the
    /// frame cap, or the connection closes while waiting.
    pub async fn send_wait(&self, peer: PeerId, payload: Bytes) -> Result<(), SendError> {
        self.registry.send_wait(peer, payload).await
    }

    /// Queues `payload` for every connected peer.
    pub fn broadcast(&self, payload: Bytes) -> BroadcastReport {
        self.registry.broadcast(payload)
    }

    /// The registry: send and broadcast without the manager handle.
    pub fn registry(&self) -> &PeerConnectionRegistry {
        &self.registry
    }

    /// The peer table now, one row per peer IP in a stable order, with
    /// what each connection's tasks counted (traffic, ages) read at this
    /// call. Synchronous, so a simulator can read it between steps; ages
    /// are on the clock of the runtime the manager was started on, even
    /// when the caller runs outside it (a simulator between steps, a
    /// thread of its own), so they are virtual under simulation.
    pub fn snapshot(&self) -> Snapshot {
        let now = self.now();
        lock(&self.core).snapshot(now)
    }

    /// Now on the clock of the manager's runtime. Outside any runtime
    /// tokio's clock is the wall clock, which a paused or simulated
    /// runtime's instants must never be compared with.
    fn now(&self) -> std::time::Instant {
        let _on = self.runtime.enter();
        Instant::now().into_std()
    }

    /// Closes every connection with `Goodbye(shutdown)`, stops accepting and
    /// dialling, waits (bounded) for all connection tasks, and returns.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.finished.cancelled().await;
    }

    /// Whether the manager task has ended.
    pub fn is_finished(&self) -> bool {
        self.finished.is_cancelled()
    }
}
