//! The `flapper` hostile model: a peer that completes a valid v1 handshake
//! and leaves at once, in a loop, as fast as the network lets it. Like the
//! other models it dials every lower-numbered host, never listens and
//! publishes no table; it must not touch the library's internals.
//!
//! Each connection ends right after the `HelloAccept`, alternately with a
//! `Goodbye(shutdown)` and with a bare close (FIN), so both ways a peer can
//! end a connection are struck. A target that refuses the handshake (a
//! ban: `HelloReject(banned)`) is dropped; the loop is bounded by a round
//! count and by [`ATTACK_FOR`], then the model idles.

use std::collections::BTreeSet;

use peerlink::transport::{Link, Transport};
use peerlink::wire::Message;
use peerlink::Reason;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncWriteExt;

use super::after_hello::own_hello;
use super::{handshake, targets, Outcome, ATTACK_FOR};
use crate::model::{HostCtx, NodeFuture, NodeModel};

/// Most connections `flapper` opens per target: the default
/// `flap_threshold` (27) is reached long before.
pub const FLAP_ROUNDS: u32 = 200;

/// Handshakes, then leaves at once; over and over, until refused.
pub struct Flapper;

impl NodeModel for Flapper {
    fn name(&self) -> String {
        "flapper".into()
    }

    fn describe(&self) -> String {
        "hostile: valid handshake, then leaves at once (goodbye or FIN), redialling at once until refused"
            .into()
    }

    fn start(&self, ctx: HostCtx) -> NodeFuture {
        Box::pin(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed);
            let hello = own_hello(&ctx, &mut rng);
            let mut live = targets(&ctx);
            let stop = tokio::time::Instant::now() + ATTACK_FOR;
            for round in 0..FLAP_ROUNDS {
                if live.is_empty() || tokio::time::Instant::now() >= stop {
                    break;
                }
                let mut still = BTreeSet::new();
                for addr in live {
                    let goodbye = round % 2 == 0;
                    if flap(&ctx, addr, hello, goodbye).await != Outcome::Refused {
                        still.insert(addr);
                    }
                }
                live = still;
            }
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

/// One connection: connect, handshake, then leave with a goodbye or a bare
/// close.
async fn flap(
    ctx: &HostCtx,
    addr: std::net::SocketAddr,
    hello: peerlink::wire::Hello,
    goodbye: bool,
) -> Outcome {
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
    if goodbye {
        let bye = Message::Goodbye(Reason::Shutdown).to_frame();
        let _ = writer.write_all(&bye).await;
    }
    let _ = writer.shutdown().await;
    Outcome::Attacked
}
