//! The legacy node's connections: a naive message loop of its own (not
//! peerlink's `PeerConnection`), because two origin flaws live inside the
//! loop: where a pong is written (#3) and how pending pings are pruned and
//! counted (#13). Everything else mirrors peerlink's loop: real wire
//! frames, one writer task per connection draining a bounded queue, a ping
//! every interval, the connection declared dead after `max_missed_pongs`
//! missed pongs.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::transport::{HostReader, HostWriter};
use crate::view::StreamCounter;
use bytes::{Bytes, BytesMut};
use peerlink::wire::{decode_frame, Message, Reason, FRAME_HEADER_LEN};
use peerlink::{ConnectionDirection, ConnectionId};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::design::{Design, Key};
use super::handshake::{Shaken, CLOSE_WRITE_TIMEOUT};
use super::node::Node;
use super::plants::Plant;

/// One item of a connection's send queue.
pub(crate) enum Out {
    /// A whole encoded frame.
    Frame(Bytes),
    /// Flush, shut the write side, stop.
    Finish,
}

/// How a connection's loop ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The peer closed the stream without a goodbye.
    Eof,
    /// The socket failed (reset).
    Io,
    /// The peer said goodbye.
    Remote(Reason),
    /// We were asked to close.
    Local(Reason),
    /// Too many pongs missed.
    PingTimeout,
    /// The peer broke the protocol.
    Violation,
}

impl End {
    /// The connection died without a goodbye: its socket closed or reset
    /// under us, or the peer went silent.
    pub(crate) fn is_silent_death(&self) -> bool {
        matches!(self, End::Eof | End::Io | End::PingTimeout)
    }

    /// The goodbye we owe the peer, when we are the one closing.
    fn goodbye(&self) -> Option<Reason> {
        match self {
            End::Local(r) => Some(*r),
            End::PingTimeout => Some(Reason::PingTimeout),
            End::Violation => Some(Reason::ProtocolViolation),
            End::Eof | End::Io | End::Remote(_) => None,
        }
    }
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Eof => f.write_str("eof"),
            End::Io => f.write_str("io"),
            End::Remote(r) => write!(f, "remote:{r}"),
            End::Local(r) => write!(f, "local:{r}"),
            End::PingTimeout => f.write_str("ping_timeout"),
            End::Violation => f.write_str("protocol_violation"),
        }
    }
}

/// The legacy ping bookkeeping. A ping counts as missed once it has waited
/// `miss_after`; pings that have waited `prune_after` are dropped from the
/// table uncounted. Sound: both are the pong timeout, counted first.
/// Origin bug #13: pruned at the pong timeout, counted at 2.5 times it.
struct Pings {
    pending: VecDeque<(u64, Instant)>,
    missed: u32,
    max_missed: u32,
    miss_after: Duration,
    prune_after: Duration,
    rng: ChaCha8Rng,
}

impl Pings {
    fn new(node: &Node, rng: ChaCha8Rng) -> Pings {
        let timeout = node.config.pong_timeout;
        let miss_after = if node.design.prune_before_miss {
            timeout * 5 / 2
        } else {
            timeout
        };
        Pings {
            pending: VecDeque::new(),
            missed: 0,
            max_missed: if node.design.plant == Plant::IgnoresSilence {
                u32::MAX
            } else {
                node.config.max_missed_pongs
            },
            miss_after,
            prune_after: timeout,
            rng,
        }
    }

    /// Counts, prunes, and returns the next ping's nonce, or `None` when the
    /// peer has missed too many pongs.
    fn tick(&mut self, now: Instant) -> Option<u64> {
        while let Some(&(_, sent)) = self.pending.front() {
            if now - sent < self.miss_after {
                break;
            }
            self.pending.pop_front();
            self.missed += 1;
        }
        if self.missed >= self.max_missed {
            return None;
        }
        let prune_after = self.prune_after;
        self.pending.retain(|&(_, sent)| now - sent < prune_after);
        let nonce = self.rng.random();
        self.pending.push_back((nonce, now));
        Some(nonce)
    }

    /// Whether `nonce` answered a pending ping.
    fn on_pong(&mut self, nonce: u64) -> bool {
        let Some(pos) = self.pending.iter().position(|&(n, _)| n == nonce) else {
            return false;
        };
        self.pending.remove(pos);
        self.missed = 0;
        true
    }
}

/// Everything one connection's loop owns.
pub(crate) struct ConnParts {
    pub(crate) node: Arc<Node>,
    pub(crate) id: ConnectionId,
    pub(crate) key: Key,
    pub(crate) shaken: Shaken,
    pub(crate) out_tx: mpsc::Sender<Out>,
    pub(crate) out_rx: mpsc::Receiver<Out>,
    pub(crate) close_rx: mpsc::Receiver<Reason>,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) direction: ConnectionDirection,
    /// Bytes read and written after the handshake.
    pub(crate) traffic: Arc<StreamCounter>,
}

/// Runs one connection until it ends, then reports to the node.
pub(crate) async fn run(parts: ConnParts) {
    let ConnParts {
        node,
        id,
        key,
        shaken,
        out_tx,
        out_rx,
        mut close_rx,
        rng,
        direction,
        traffic,
    } = parts;
    let Shaken {
        mut reader,
        writer,
        mut buf,
        ..
    } = shaken;
    traffic.received(buf.len());
    let writer_task = crate::transport::spawn(write_loop(writer, out_rx, traffic.clone()));
    let mut pings = Pings::new(&node, rng);
    let started = Instant::now();
    let interval = node.config.ping_interval;
    let max = node.config.max_frame_len;
    let mut next_tick = started;
    let lp = Loop {
        node: &node,
        id,
        key,
        out: &out_tx,
        // Origin bug #6: the unfinished outbound path drops application
        // messages.
        drops_app: node.design.unfinished_outbound_path
            && direction == ConnectionDirection::Outbound,
    };
    let mut end = lp.drain(&mut buf, &mut pings, max).err();
    while end.is_none() {
        tokio::select! {
            biased;
            read = read_some(&mut reader, &mut buf, &node.design, max) => {
                end = match read {
                    Ok(0) => Some(End::Eof),
                    Ok(n) => {
                        traffic.received(n);
                        lp.drain(&mut buf, &mut pings, max).err()
                    }
                    Err(_) => Some(End::Io),
                };
            }
            Some(reason) = close_rx.recv() => end = Some(End::Local(reason)),
            () = tokio::time::sleep_until(next_tick) => {
                next_tick += interval;
                end = match pings.tick(Instant::now()) {
                    None => Some(End::PingTimeout),
                    Some(nonce) => {
                        let ts = u64::try_from((Instant::now() - started).as_millis()).unwrap_or(0);
                        let ping = Message::Ping { nonce, timestamp_ms: ts };
                        let _ = out_tx.try_send(Out::Frame(ping.to_frame()));
                        None
                    }
                };
            }
        }
    }
    let end = end.unwrap_or(End::Eof);
    tracing::debug!(peer = %key, conn = id.get(), reason = %end, "closed");
    node.on_closed(key, id, &end);
    if let Some(reason) = end.goodbye() {
        let _ = out_tx.try_send(Out::Frame(Message::Goodbye(reason).to_frame()));
    }
    let _ = out_tx.try_send(Out::Finish);
    drop(out_tx);
    let mut writer_task = writer_task;
    if tokio::time::timeout(CLOSE_WRITE_TIMEOUT, &mut writer_task)
        .await
        .is_err()
    {
        writer_task.abort();
    }
    if node.design.plant == Plant::LeaksStream {
        // Planted: the read half, and with it the socket, is never dropped.
        let _leaked = reader;
        std::future::pending::<()>().await;
    }
}

struct Loop<'a> {
    node: &'a Arc<Node>,
    id: ConnectionId,
    key: Key,
    out: &'a mpsc::Sender<Out>,
    drops_app: bool,
}

impl Loop<'_> {
    fn drain(&self, buf: &mut BytesMut, pings: &mut Pings, max: u32) -> Result<(), End> {
        let violation = |error: &dyn fmt::Display| {
            tracing::debug!(peer = %self.key, conn = self.id.get(), %error, "protocol violation");
            End::Violation
        };
        while let Some(body) = decode_frame(buf, max).map_err(|e| violation(&e))? {
            match Message::decode(body).map_err(|_| End::Violation)? {
                Message::Ping {
                    nonce,
                    timestamp_ms,
                } => self.answer(Message::Pong {
                    nonce,
                    timestamp_ms,
                }),
                Message::Pong { nonce, .. } => {
                    if !pings.on_pong(nonce) {
                        tracing::debug!(peer = %self.key, conn = self.id.get(), "unexpected pong dropped");
                    }
                }
                Message::Goodbye(reason) => return Err(End::Remote(reason)),
                Message::App(_) if self.drops_app => {
                    tracing::debug!(peer = %self.key, conn = self.id.get(), "outbound path: message dropped");
                }
                Message::App(_) => self.node.table().on_app(self.key),
                Message::Hello(_) | Message::HelloAccept(_) | Message::HelloReject(_) => {
                    return Err(End::Violation)
                }
            }
        }
        Ok(())
    }

    /// Sends a pong: on this connection (sound), or through the per-IP
    /// writer registry (origin bug #3).
    fn answer(&self, pong: Message) {
        let frame = Out::Frame(pong.to_frame());
        if !self.node.design.replies_via_ip_writer {
            let _ = self.out.try_send(frame);
            return;
        }
        let writer = self.node.table().reply_writer(self.key.ip());
        match writer {
            Some((via, tx)) => {
                if via != self.id {
                    tracing::debug!(peer = %self.key, conn = self.id.get(), via = via.get(), "pong routed to another connection");
                }
                if tx.try_send(frame).is_err() {
                    tracing::debug!(peer = %self.key, conn = self.id.get(), via = via.get(), "pong lost: writer closed");
                }
            }
            None => {
                tracing::debug!(peer = %self.key, conn = self.id.get(), "pong lost: no writer registered")
            }
        }
    }
}

/// One read of the loop, into `buf`. Sound: whatever the socket holds
/// (`read_buf`, cancel-safe: a dropped read has taken nothing). Origin bug
/// #12: one whole frame, its length prefix then its body, each with
/// `read_exact`. When the loop's `select!` picks another branch while this
/// future waits for the rest of a frame, the bytes it has already read are
/// dropped with it, and the next read takes the middle of a frame for a
/// length prefix.
async fn read_some(
    reader: &mut HostReader,
    buf: &mut BytesMut,
    design: &Design,
    max: u32,
) -> std::io::Result<usize> {
    if !design.cancel_unsafe_reader {
        return reader.read_buf(buf).await;
    }
    let mut prefix = [0u8; FRAME_HEADER_LEN];
    if let Err(e) = reader.read_exact(&mut prefix).await {
        return eof_as_zero(e);
    }
    buf.extend_from_slice(&prefix);
    let len = u32::from_be_bytes(prefix);
    if len == 0 || len > max {
        // `drain` refuses it: the absurd length shows in the trace.
        return Ok(FRAME_HEADER_LEN);
    }
    let mut body = vec![0u8; len as usize];
    if let Err(e) = reader.read_exact(&mut body).await {
        return eof_as_zero(e);
    }
    buf.extend_from_slice(&body);
    Ok(FRAME_HEADER_LEN + body.len())
}

/// `read_exact`'s end of stream is the loop's `Ok(0)`.
fn eof_as_zero(e: std::io::Error) -> std::io::Result<usize> {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        Ok(0)
    } else {
        Err(e)
    }
}

/// Owns the write half: writes queued frames in order, each as two writes,
/// its length prefix then its body (as the origin's writer did), so a frame
/// can reach the peer in two segments.
async fn write_loop(
    mut writer: HostWriter,
    mut queue: mpsc::Receiver<Out>,
    traffic: Arc<StreamCounter>,
) -> std::io::Result<()> {
    while let Some(item) = queue.recv().await {
        match item {
            Out::Frame(frame) => {
                let (prefix, body) = frame.split_at(FRAME_HEADER_LEN.min(frame.len()));
                writer.write_all(prefix).await?;
                writer.write_all(body).await?;
                traffic.sent(frame.len());
            }
            Out::Finish => break,
        }
        if queue.is_empty() {
            writer.flush().await?;
        }
    }
    writer.flush().await?;
    writer.shutdown().await
}
