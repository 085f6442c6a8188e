//! Hostile models that hold or churn connections without ever being a
//! useful peer: `slowloris`, `connect-churn` and `never-reads`. They dial
//! every lower-numbered host, never listen and publish no table (the runner
//! then skips them in every invariant). They must not touch the library's
//! internals. Every loop is bounded by a round count and stops once
//! [`ATTACK_FOR`] has passed; then the model idles.

use std::time::Duration;

use peerlink::transport::{Link, Transport};
use peerlink::wire::{Hello, Message, PROTOCOL_VERSION};
use peerlink::NodeId;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncWriteExt;

use super::{handshake, targets, ATTACK_FOR};
use crate::model::{HostCtx, NodeFuture, NodeModel};

/// Connections `slowloris` opens to each target per round.
pub const SLOWLORIS_SOCKETS: usize = 8;

/// Rounds `slowloris` makes (each lasts about `handshake_timeout` + 1 s).
const SLOWLORIS_ROUNDS: u32 = 20;

/// Pause between two `connect-churn` rounds (one connect per target each).
pub const CHURN_EVERY: Duration = Duration::from_millis(25);

/// Rounds `connect-churn` makes: about 60 s at [`CHURN_EVERY`] plus connects.
const CHURN_ROUNDS: u32 = 2000;

/// How long `never-reads` holds its connections before dropping them.
pub const NEVER_READS_HOLD: Duration = Duration::from_secs(45);

fn random_hello(ctx: &HostCtx, seed: u64) -> Hello {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Hello {
        version: PROTOCOL_VERSION,
        network_id: ctx.config.network_id,
        node_id: NodeId::random(&mut rng),
        listen_port: 0,
    }
}

/// Opens [`SLOWLORIS_SOCKETS`] connections to every target, writes half a
/// `Hello` on each, holds them unread past the handshake timeout, drops
/// them, and starts again.
pub struct Slowloris;

impl NodeModel for Slowloris {
    fn name(&self) -> String {
        "slowloris".into()
    }

    fn describe(&self) -> String {
        "hostile: opens 8 connections per node, sends half a Hello on each, never finishes; repeats"
            .into()
    }

    fn start(&self, ctx: HostCtx) -> NodeFuture {
        Box::pin(async move {
            let frame = Message::Hello(random_hello(&ctx, ctx.seed)).to_frame();
            let half = frame.get(..frame.len() / 2).unwrap_or_default().to_vec();
            let hold = ctx.config.handshake_timeout + Duration::from_secs(1);
            let targets = targets(&ctx);
            let stop = tokio::time::Instant::now() + ATTACK_FOR;
            for _ in 0..SLOWLORIS_ROUNDS {
                if tokio::time::Instant::now() >= stop {
                    break;
                }
                let mut held = Vec::new();
                for &addr in &targets {
                    for _ in 0..SLOWLORIS_SOCKETS {
                        let timeout = ctx.config.connect_timeout;
                        let Ok(mut link) = ctx.transport.connect(addr, None, timeout).await else {
                            continue;
                        };
                        let _ = link.writer.write_all(&half).await;
                        held.push(link);
                    }
                }
                tokio::time::sleep(hold).await;
                drop(held);
            }
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

/// Connects to each target and disconnects at once, in a tight loop: half
/// the time before writing anything, half the time after half a `Hello`.
/// It never completes a handshake (a peer that did, and then left, would be
/// an honest flapping peer as far as the node can tell).
pub struct ConnectChurn;

impl NodeModel for ConnectChurn {
    fn name(&self) -> String {
        "connect-churn".into()
    }

    fn describe(&self) -> String {
        "hostile: connects and disconnects every 25 ms per node, before completing a handshake"
            .into()
    }

    fn start(&self, ctx: HostCtx) -> NodeFuture {
        Box::pin(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed);
            let frame = Message::Hello(random_hello(&ctx, ctx.seed)).to_frame();
            let half = frame.get(..frame.len() / 2).unwrap_or_default().to_vec();
            let targets = targets(&ctx);
            let timeout = ctx.config.connect_timeout;
            let stop = tokio::time::Instant::now() + ATTACK_FOR;
            for _ in 0..CHURN_ROUNDS {
                if tokio::time::Instant::now() >= stop {
                    break;
                }
                for &addr in &targets {
                    let Ok(mut link) = ctx.transport.connect(addr, None, timeout).await else {
                        continue;
                    };
                    if rng.random_bool(0.5) {
                        let _ = link.writer.write_all(&half).await;
                    }
                    drop(link);
                }
                tokio::time::sleep(CHURN_EVERY).await;
            }
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

/// Completes a valid handshake with every target, then never reads again:
/// it keeps sending one ping per `ping_interval` (the allowed rate) so the
/// victim keeps queueing pongs, and never answers the victim's pings. Holds
/// the connections for [`NEVER_READS_HOLD`], then drops them; never redials.
pub struct NeverReads;

impl NodeModel for NeverReads {
    fn name(&self) -> String {
        "never-reads".into()
    }

    fn describe(&self) -> String {
        "hostile: valid handshake with each node, then pings at the allowed rate and never reads"
            .into()
    }

    fn start(&self, ctx: HostCtx) -> NodeFuture {
        Box::pin(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed);
            let hello = random_hello(&ctx, rng.random());
            let mut held = Vec::new();
            for addr in targets(&ctx) {
                let timeout = ctx.config.connect_timeout;
                let Ok(link) = ctx.transport.connect(addr, None, timeout).await else {
                    continue;
                };
                let Link {
                    mut reader,
                    mut writer,
                    ..
                } = link;
                let wait = ctx.config.handshake_timeout;
                let shake = handshake(&mut reader, &mut writer, hello);
                if let Ok(Some(Message::HelloAccept(_))) = tokio::time::timeout(wait, shake).await {
                    // `reader` is kept, never polled again.
                    held.push((reader, writer));
                }
            }
            let every = ctx.config.ping_interval;
            let rounds = NEVER_READS_HOLD.as_millis() / every.as_millis().max(1);
            for i in 0..rounds {
                for (_, writer) in &mut held {
                    let ping = Message::Ping {
                        nonce: rng.random(),
                        timestamp_ms: u64::try_from(i).unwrap_or(u64::MAX),
                    };
                    let _ = writer.write_all(&ping.to_frame()).await;
                }
                tokio::time::sleep(every).await;
            }
            drop(held);
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}
