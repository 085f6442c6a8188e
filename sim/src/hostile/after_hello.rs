//! Hostile models that complete a valid v1 handshake (or use one to learn
//! something) and then abuse the connection: `ping-flood`,
//! `oversized-prefix`, `own-node-id` and `impersonator`. Like `garbage-after-hello` they
//! dial every lower-numbered host and never listen; unlike it they publish
//! no table (the runner then skips them in every invariant, and checks only
//! the honest nodes). They must not touch the library's internals.
//!
//! `ping-flood` and `oversized-prefix` redial each target every
//! [`REDIAL_EVERY`] until it refuses the handshake (a ban after
//! `ban_threshold` strikes); then they idle. `own-node-id` learns each
//! target's node id from one accepted handshake, then keeps presenting that
//! id back to its owner on fresh connections. `impersonator` learns n0's
//! id the same way and presents it to every other node. Every loop is bounded by a
//! round count and stops once [`ATTACK_FOR`] has passed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use bytes::BufMut;
use peerlink::transport::{Link, Transport};
use peerlink::wire::{Hello, Message, PROTOCOL_VERSION};
use peerlink::NodeId;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncWriteExt;

use super::{drain, handshake, targets, Outcome, ATTACK_FOR, REDIAL_EVERY};
use crate::model::{HostCtx, NodeFuture, NodeModel};

/// Pings sent back to back on each attacking connection; the default allows
/// `max_pings_per_interval` (4) per `ping_interval`.
pub const FLOOD_PINGS: usize = 64;

/// Most dial rounds any model here makes: 64 × 2 s covers every scenario.
const MAX_ROUNDS: u32 = 64;

/// A fresh hello with a random node id drawn from `rng`.
pub(super) fn own_hello(ctx: &HostCtx, rng: &mut ChaCha8Rng) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        network_id: ctx.config.network_id,
        node_id: NodeId::random(rng),
        listen_port: 0,
    }
}

/// One dial: connect, handshake with `hello`, send `payload` once accepted,
/// then wait (bounded) for the peer to close.
async fn attack(ctx: &HostCtx, addr: SocketAddr, hello: Hello, payload: &[u8]) -> Outcome {
    let timeout = ctx.config.connect_timeout;
    let Ok(link) = ctx.transport.connect(addr, None, timeout).await else {
        return Outcome::Unreachable;
    };
    let Link {
        mut reader,
        mut writer,
        ..
    } = link;
    let wait = ctx.config.handshake_timeout;
    let answer = tokio::time::timeout(wait, handshake(&mut reader, &mut writer, hello)).await;
    if !matches!(answer, Ok(Some(Message::HelloAccept(_)))) {
        return Outcome::Refused;
    }
    let _ = writer.write_all(payload).await;
    let _ = tokio::time::timeout(wait, drain(&mut reader)).await;
    Outcome::Attacked
}

/// Attacks every target each round with a payload drawn from `payload`,
/// until every target refuses the handshake; then idles.
async fn until_refused(ctx: HostCtx, mut payload: impl FnMut(&mut ChaCha8Rng) -> Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed);
    let hello = own_hello(&ctx, &mut rng);
    let mut live = targets(&ctx);
    let stop = tokio::time::Instant::now() + ATTACK_FOR;
    for _ in 0..MAX_ROUNDS {
        if live.is_empty() || tokio::time::Instant::now() >= stop {
            break;
        }
        let mut still = BTreeSet::new();
        for addr in live {
            let bytes = payload(&mut rng);
            if attack(&ctx, addr, hello, &bytes).await != Outcome::Refused {
                still.insert(addr);
            }
        }
        live = still;
        tokio::time::sleep(REDIAL_EVERY).await;
    }
    std::future::pending::<()>().await;
}

/// Valid handshake, then [`FLOOD_PINGS`] pings with fresh nonces at once.
pub struct PingFlood;

impl NodeModel for PingFlood {
    fn name(&self) -> String {
        "ping-flood".into()
    }

    fn describe(&self) -> String {
        "hostile: valid handshake, then 64 pings at once; redials every 2 s until refused".into()
    }

    fn start(&self, ctx: HostCtx) -> NodeFuture {
        Box::pin(async move {
            until_refused(ctx, |rng| {
                let mut out = Vec::new();
                for i in 0..FLOOD_PINGS {
                    let ping = Message::Ping {
                        nonce: rng.random(),
                        timestamp_ms: i as u64,
                    };
                    out.extend_from_slice(&ping.to_frame());
                }
                out
            })
            .await;
            Ok(())
        })
    }
}

/// Valid handshake, then a length prefix over the victim's frame cap
/// (cap + 1, or a random larger value up to `u32::MAX`) and a few body bytes.
pub struct OversizedPrefix;

impl NodeModel for OversizedPrefix {
    fn name(&self) -> String {
        "oversized-prefix".into()
    }

    fn describe(&self) -> String {
        "hostile: valid handshake, then a length prefix over the frame cap; redials every 2 s until refused"
            .into()
    }

    fn start(&self, ctx: HostCtx) -> NodeFuture {
        let cap = ctx.config.max_frame_len;
        Box::pin(async move {
            until_refused(ctx, move |rng| {
                let len = if rng.random_bool(0.5) {
                    cap.saturating_add(1)
                } else {
                    rng.random_range(cap.saturating_add(1)..=u32::MAX)
                };
                let mut out = Vec::with_capacity(12);
                out.put_u32(len);
                out.put_slice(&[0x10, 0xde, 0xad, 0xbe, 0xef]);
                out
            })
            .await;
            Ok(())
        })
    }
}

/// Learns each target's node id from one accepted handshake (then closes
/// that connection at once), then every [`REDIAL_EVERY`] dials each target
/// with a valid `Hello` carrying the target's own node id.
pub struct OwnNodeId;

impl NodeModel for OwnNodeId {
    fn name(&self) -> String {
        "own-node-id".into()
    }

    fn describe(&self) -> String {
        "hostile: learns each node's id from its HelloAccept, then sends Hellos with that id back to it every 2 s"
            .into()
    }

    fn start(&self, ctx: HostCtx) -> NodeFuture {
        Box::pin(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed);
            let hello = own_hello(&ctx, &mut rng);
            let mut ids = BTreeMap::new();
            for addr in targets(&ctx) {
                if let Some(id) = learn_id(&ctx, addr, hello).await {
                    ids.insert(addr, id);
                }
            }
            let stop = tokio::time::Instant::now() + ATTACK_FOR;
            for _ in 0..MAX_ROUNDS {
                if tokio::time::Instant::now() >= stop {
                    break;
                }
                for (&addr, &node_id) in &ids {
                    let forged = Hello { node_id, ..hello };
                    if attack(&ctx, addr, forged, &[]).await == Outcome::Attacked {
                        tracing::warn!(peer = %addr.ip(), "hostile own node id accepted");
                    }
                }
                tokio::time::sleep(REDIAL_EVERY).await;
            }
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

/// One valid handshake; the acceptor's node id, and the link dropped at once.
async fn learn_id(ctx: &HostCtx, addr: SocketAddr, hello: Hello) -> Option<NodeId> {
    let link = ctx
        .transport
        .connect(addr, None, ctx.config.connect_timeout)
        .await
        .ok()?;
    let Link {
        mut reader,
        mut writer,
        ..
    } = link;
    let wait = ctx.config.handshake_timeout;
    match tokio::time::timeout(wait, handshake(&mut reader, &mut writer, hello)).await {
        Ok(Some(Message::HelloAccept(theirs))) => Some(theirs.node_id),
        _ => None,
    }
}

/// Learns the first target's node id, then presents it to every other
/// target on fresh connections, each held until the target closes it or a
/// handshake timeout passes.
pub struct Impersonator;

impl NodeModel for Impersonator {
    fn name(&self) -> String {
        "impersonator".into()
    }

    fn describe(&self) -> String {
        "hostile: learns n0's id from its HelloAccept, then announces it to every other node every 2 s"
            .into()
    }

    fn start(&self, ctx: HostCtx) -> NodeFuture {
        Box::pin(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed);
            let hello = own_hello(&ctx, &mut rng);
            let mut targets = targets(&ctx).into_iter();
            let victim = targets.next();
            let others: Vec<SocketAddr> = targets.collect();
            let stolen = match victim {
                Some(addr) => learn_id(&ctx, addr, hello).await,
                None => None,
            };
            let stop = tokio::time::Instant::now() + ATTACK_FOR;
            for _ in 0..MAX_ROUNDS {
                let Some(node_id) = stolen else { break };
                if tokio::time::Instant::now() >= stop {
                    break;
                }
                for &addr in &others {
                    let forged = Hello { node_id, ..hello };
                    let outcome = attack(&ctx, addr, forged, &[]).await;
                    tracing::debug!(peer = %addr.ip(), ?outcome, "impersonation");
                }
                tokio::time::sleep(REDIAL_EVERY).await;
            }
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}
