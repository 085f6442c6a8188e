//! Hostile node models: peers that speak enough of the protocol to get in
//! and then misbehave, run as one node among honest ones through
//! `Scenario::per_node_models`. They own their sockets and their published
//! table; they must not touch the library's internals or the runner.
//!
//! `garbage-after-hello` dials every host named below its own index (`n0`
//! … `n(k-1)` for host `nk`, plus any configured peer), completes a valid v1
//! handshake, sends one frame of an unknown message type, waits for the peer
//! to close, and redials each target every [`REDIAL_EVERY`] until the target
//! refuses it (any answer but `HelloAccept`: a ban). It never listens, so no
//! honest node needs to be configured with it and the convergence invariant
//! covers only the honest pairs; once refused everywhere its counters stop,
//! so the no-churn invariant holds for it too.
//!
//! The other models live in submodules: `after_hello` (`ping-flood`,
//! `oversized-prefix`, `own-node-id`, `impersonator`), `loiter` (`slowloris`,
//! `connect-churn`, `never-reads`) and `flap` (`flapper`). They publish no
//! table.

mod after_hello;
mod flap;
mod loiter;

pub use after_hello::{Impersonator, OversizedPrefix, OwnNodeId, PingFlood, FLOOD_PINGS};
pub use flap::{Flapper, FLAP_ROUNDS};
pub use loiter::{
    ConnectChurn, NeverReads, Slowloris, CHURN_EVERY, NEVER_READS_HOLD, SLOWLORIS_SOCKETS,
};

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::BytesMut;
use peerlink::transport::{Link, Transport};
use peerlink::wire::{decode_frame, Hello, Message, PROTOCOL_VERSION};
use peerlink::{ConnectionDirection, NodeId};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::model::{HostCtx, NodeFuture, NodeModel, Observe};
use crate::transport::{HostReader, HostWriter};
use crate::view::{ConnView, NodeView, PeerView};

/// Time between two rounds of dials.
pub const REDIAL_EVERY: Duration = Duration::from_secs(2);

/// How long the submodules' models attack, from their start. The runner's
/// end-of-run socket check wants a quiet network, so every attack stops
/// well before the 60 s the hostile scenarios run.
pub const ATTACK_FOR: Duration = Duration::from_secs(50);

/// A whole frame whose body starts with type 0x7f, which no version defines.
pub const GARBAGE_FRAME: [u8; 7] = [0, 0, 0, 3, 0x7f, 0xde, 0xad];

/// Every hostile model.
pub fn models() -> Vec<Arc<dyn NodeModel>> {
    vec![
        Arc::new(GarbageAfterHello),
        Arc::new(Slowloris),
        Arc::new(PingFlood),
        Arc::new(OversizedPrefix),
        Arc::new(OwnNodeId),
        Arc::new(ConnectChurn),
        Arc::new(NeverReads),
        Arc::new(Impersonator),
        Arc::new(Flapper),
    ]
}

/// The hostile model called `name`.
pub fn model_by_name(name: &str) -> Option<Arc<dyn NodeModel>> {
    models().into_iter().find(|m| m.name() == name)
}

/// Completes a valid handshake, then sends a frame of an unknown type.
pub struct GarbageAfterHello;

impl NodeModel for GarbageAfterHello {
    fn name(&self) -> String {
        "garbage-after-hello".into()
    }

    fn describe(&self) -> String {
        "hostile: valid handshake, then a frame of unknown type; redials every 2 s until refused"
            .into()
    }

    fn start(&self, ctx: HostCtx) -> NodeFuture {
        Box::pin(async move {
            let table = Arc::new(Table::default());
            *ctx.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(table.clone());
            let targets = targets(&ctx);
            let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed);
            let hello = Hello {
                version: PROTOCOL_VERSION,
                network_id: ctx.config.network_id,
                node_id: NodeId::random(&mut rng),
                listen_port: 0,
            };
            let mut targets = targets;
            loop {
                let mut still = BTreeSet::new();
                for addr in targets {
                    if attack(&ctx, &table, addr, hello).await != Outcome::Refused {
                        still.insert(addr);
                    }
                }
                targets = still;
                // Once refused everywhere: idle, like a crashed-out attacker.
                tokio::time::sleep(REDIAL_EVERY).await;
            }
        })
    }
}

/// Configured peers plus every lower-numbered host, in address order.
fn targets(ctx: &HostCtx) -> BTreeSet<SocketAddr> {
    let index: usize = ctx.name.trim_start_matches('n').parse().unwrap_or(0);
    let lower =
        (0..index).map(|j| SocketAddr::new(ctx.transport.lookup(&format!("n{j}")), ctx.port));
    ctx.peers.iter().copied().chain(lower).collect()
}

/// How one dial ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// No connection (refused connect, timeout).
    Unreachable,
    /// Connected, but the peer did not accept the handshake.
    Refused,
    /// Handshake accepted, garbage sent.
    Attacked,
}

/// One dial: connect, handshake, garbage, wait for the close.
async fn attack(ctx: &HostCtx, table: &Table, addr: SocketAddr, hello: Hello) -> Outcome {
    table.update(addr.ip(), |row| row.dials += 1);
    let timeout = ctx.config.connect_timeout;
    let Ok(link) = ctx.transport.connect(addr, None, timeout).await else {
        return Outcome::Unreachable;
    };
    // The stream is open from here: count it before the next await.
    table.update(addr.ip(), |row| row.pending = 1);
    let Link {
        mut reader,
        mut writer,
        local_addr,
        remote_addr,
    } = link;
    let wait = ctx.config.handshake_timeout;
    let answer = tokio::time::timeout(wait, handshake(&mut reader, &mut writer, hello)).await;
    if !matches!(answer, Ok(Some(Message::HelloAccept(_)))) {
        table.update(addr.ip(), |row| row.pending = 0);
        return Outcome::Refused;
    }
    let conn = ConnView {
        local_addr,
        remote_addr,
        direction: ConnectionDirection::Outbound,
        closing: false,
        traffic: None,
    };
    table.update(addr.ip(), |row| {
        row.pending = 0;
        row.established += 1;
        row.connected = true;
        row.active = Some(conn.clone());
        row.connections = vec![conn];
    });
    tracing::debug!(peer = %addr.ip(), "hostile garbage sent");
    let _ = writer.write_all(&GARBAGE_FRAME).await;
    let _ = tokio::time::timeout(wait, drain(&mut reader)).await;
    // No await between this update and dropping the stream.
    table.update(addr.ip(), |row| {
        row.connected = false;
        row.active = None;
        row.connections.clear();
        row.closed += 1;
        row.disconnects += 1;
    });
    Outcome::Attacked
}

/// Sends our hello and reads the first frame of the answer.
async fn handshake(
    reader: &mut HostReader,
    writer: &mut HostWriter,
    hello: Hello,
) -> Option<Message> {
    writer
        .write_all(&Message::Hello(hello).to_frame())
        .await
        .ok()?;
    let mut buf = BytesMut::with_capacity(64);
    loop {
        if let Some(body) = decode_frame(&mut buf, 1024).ok()? {
            return Message::decode(body).ok();
        }
        if reader.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
    }
}

/// Reads and discards until the peer closes.
async fn drain(reader: &mut HostReader) {
    let mut sink = [0u8; 256];
    while matches!(reader.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// The hostile node's own table, one row per target.
#[derive(Default)]
struct Table(Mutex<BTreeMap<IpAddr, PeerView>>);

impl Table {
    fn update(&self, ip: IpAddr, f: impl FnOnce(&mut PeerView)) {
        let mut rows = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(rows.entry(ip).or_insert_with(|| PeerView {
            key: ip.to_string(),
            ip,
            connected: false,
            active: None,
            connections: Vec::new(),
            pending: 0,
            dials_in_flight: 0,
            dials: 0,
            established: 0,
            closed: 0,
            disconnects: 0,
            rtt: None,
            received: None,
        }));
    }
}

impl Observe for Table {
    fn view(&self) -> NodeView {
        let rows = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        NodeView {
            peers: rows.values().cloned().collect(),
        }
    }
}
