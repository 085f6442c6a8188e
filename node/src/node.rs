//! The running node: binds the admin endpoint, starts the
//! `ConnectionManager` on TCP, logs every peer event, and on Ctrl-C or
//! SIGTERM shuts the manager down (every peer receives `Goodbye(shutdown)`)
//! and then the admin endpoint (requests in flight are answered).
//!
//! The admin endpoint is bound first, so a bad admin address fails before
//! any peer is dialled. Signal handlers are installed before either, so a
//! signal that arrives during start-up is not lost.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use peerlink::manager::{ConnectionManager, Events, ManagerOptions, PeerEvent, StartError};
use peerlink::transport::TcpTransport;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::admin::{self, AdminState};
use crate::settings::Settings;

/// Why the node could not start. Each message is one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The admin address could not be bound.
    #[error("cannot bind admin endpoint on {addr}: {source}")]
    Admin {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The manager refused to start (listen address unusable, bad config).
    #[error(transparent)]
    Manager(#[from] StartError),
}

/// The signals that stop the node.
pub struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    /// Installs the SIGINT and SIGTERM handlers (needs a tokio runtime).
    pub fn install() -> Result<Signals, StartupError> {
        let interrupt = signal(SignalKind::interrupt()).map_err(StartupError::Signals)?;
        let terminate = signal(SignalKind::terminate()).map_err(StartupError::Signals)?;
        Ok(Signals {
            interrupt,
            terminate,
        })
    }

    /// Waits for either signal; returns its name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// The running admin endpoint: its address, its task, and the sender that
/// tells it to stop.
struct Admin {
    addr: SocketAddr,
    task: JoinHandle<()>,
    stop: oneshot::Sender<()>,
}

/// A started node.
pub struct Node {
    manager: ConnectionManager,
    admin: Option<Admin>,
    events: JoinHandle<()>,
}

impl Node {
    /// Binds the admin endpoint (if configured), starts the manager with a
    /// random node id, and starts logging its events.
    pub async fn start(settings: &Settings) -> Result<Node, StartupError> {
        let admin_listener = match settings.admin {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartupError::Admin { addr, source })?,
            ),
            None => None,
        };
        let options = ManagerOptions {
            listen: Some(settings.listen),
            local_ip: settings.local_ip,
            // Production: the node id and nonces come from OS entropy.
            seed: None,
            peers: settings.peers.clone(),
        };
        let (manager, events) =
            ConnectionManager::start(TcpTransport, settings.config.clone(), options).await?;
        let app_messages = Arc::new(AtomicU64::new(0));
        let events = tokio::spawn(log_events(events, app_messages.clone()));
        let admin = match admin_listener {
            Some(listener) => {
                let addr = listener
                    .local_addr()
                    .map_err(|source| StartupError::Admin {
                        addr: settings.admin.unwrap_or(settings.listen),
                        source,
                    })?;
                let state = AdminState {
                    manager: manager.clone(),
                    app_messages,
                };
                let (stop, stopped) = oneshot::channel::<()>();
                let shutdown = async move {
                    // A dropped sender (a Node dropped without `shutdown`)
                    // stops the endpoint too.
                    let _ = stopped.await;
                };
                let router = admin::router(state);
                let task = tokio::spawn(admin::serve(listener, router, shutdown));
                Some(Admin { addr, task, stop })
            }
            None => None,
        };
        let config = &settings.config;
        let honest_flaps = config.honest_flap_bound();
        if !config.flap_window().is_zero() && config.flap_threshold <= honest_flaps {
            tracing::warn!(
                flap_threshold = config.flap_threshold,
                honest_flap_bound = honest_flaps,
                "an honest peer redialling with these timers can reach the flap threshold and be banned; raise --flap-threshold"
            );
        }
        let shown = |a: Option<SocketAddr>| a.map_or_else(|| "none".to_string(), |a| a.to_string());
        tracing::info!(
            node = %manager.node_id(),
            listen = %shown(manager.listen_addr()),
            admin = %shown(admin.as_ref().map(|a| a.addr)),
            peers = settings.peers.len(),
            "node started"
        );
        Ok(Node {
            manager,
            admin,
            events,
        })
    }

    /// The manager, to send and broadcast from an embedding program.
    pub fn manager(&self) -> &ConnectionManager {
        &self.manager
    }

    /// The admin endpoint's bound address.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|a| a.addr)
    }

    /// Graceful stop: every peer gets `Goodbye(shutdown)`, the manager
    /// waits (bounded) for the goodbyes to go out, then the admin endpoint
    /// stops accepting and finishes the requests in flight (bounded by
    /// [`admin::SHUTDOWN_GRACE`]). Events keep being drained meanwhile, so
    /// the manager never blocks on a full event queue.
    pub async fn shutdown(self) {
        self.manager.shutdown().await;
        // The manager dropped its event sender: the logger ends by itself.
        let _ = self.events.await;
        if let Some(admin) = self.admin {
            let _ = admin.stop.send(());
            let _ = admin.task.await;
        }
        tracing::info!("node stopped");
    }
}

/// Logs each event with structured fields; counts application messages.
async fn log_events(mut events: Events, app_messages: Arc<AtomicU64>) {
    while let Some(event) = events.recv().await {
        match event {
            PeerEvent::Connected {
                peer,
                conn_id,
                direction,
                node_id,
            } => {
                tracing::info!(%peer, %conn_id, %direction, remote_node = %node_id, "peer connected")
            }
            PeerEvent::Disconnected {
                peer,
                conn_id,
                reason,
            } => tracing::info!(%peer, %conn_id, %reason, "peer disconnected"),
            PeerEvent::Message {
                peer,
                conn_id,
                bytes,
            } => {
                app_messages.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, %conn_id, len = bytes.len(), "app message");
            }
            PeerEvent::Rtt { peer, rtt } => {
                tracing::trace!(%peer, rtt_us = rtt.as_micros() as u64, "rtt");
            }
            other => tracing::debug!(event = ?other, "peer event"),
        }
    }
}
