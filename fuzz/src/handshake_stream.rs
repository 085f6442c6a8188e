//! The body of fuzz target `handshake_stream` (`fuzz_targets/handshake_stream.rs`
//! calls [`run`]; so does the corpus replay, `tests/replay.rs`): arbitrary
//! bytes as everything a remote peer sends to an accepting node, over an
//! in-memory duplex stream on a paused tokio clock (so timers cost nothing
//! and every run replays).
//!
//! The node side is the public API only: `PeerConnection::new_inbound` (the
//! acceptor handshake), then `PeerConnection::start` (the message loop with
//! its `PingState`), on a `Transport` implemented here over
//! `tokio::io::duplex`.
//!
//! Input: a flags byte, a schedule byte, then the byte stream.
//! - flags bits 0-1, what the peer does once its bytes are sent: 0 and 3
//!   close its write side (EOF); 1 stays silent with the stream open; 2
//!   answers every ping with its pong for two minutes, then the owner
//!   closes the connection;
//! - flags bit 2: the owner's admission check refuses the peer;
//! - flags bit 3: `max_frame_len` is 64 instead of the 4 MiB default;
//! - the schedule byte seeds the chunking and the virtual delays between
//!   chunks (0: everything at once).
//!
//! Checks: no panic, and every outcome is the one an oracle derives from
//! the bytes: the handshake result (or its timeout, only when the hello
//! was not complete in time), every application payload delivered in order
//! and none invented, the close reason matching the first offending frame,
//! a silent peer declared dead within `Config::dead_peer_bound` of its last
//! byte, a peer that answers pings never declared dead, and `Closed` as
//! the last event.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::{expected_frame, reference_decode, Plan, Step};
use bytes::{Bytes, BytesMut};
use peerlink::error::{ConnectionError, HandshakeError, ProtocolViolation};
use peerlink::id::ConnectionIds;
use peerlink::peer::{ConnectionContext, ConnectionEventKind, PeerConnection, MAX_HANDSHAKE_FRAME};
use peerlink::transport::{Link, Listener, Transport};
use peerlink::wire::{decode_frame, Hello, Message, Reason, FRAME_HEADER_LEN, PROTOCOL_VERSION};
use peerlink::{Config, NodeId};
use peerlink_core::handshake::check_hello;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::time::Instant;

const LOCAL_NODE: u128 = 0x5eed_0000_0000_0000_0000_0000_0000_0001;
/// Delays between chunks a schedule draws from.
const DELAYS_MS: [u64; 8] = [0, 0, 0, 1, 100, 1_000, 5_000, 16_000];
/// How long an answering peer answers before the owner closes.
const ECHO_FOR: Duration = Duration::from_secs(120);
const MAX_CHUNK: usize = 48;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Eof,
    Silent,
    Echo,
}

/// Runs one fuzz input; panics on any check that fails.
pub fn run(data: &[u8]) {
    let [flags, schedule, wire @ ..] = data else {
        return;
    };
    let ending = match flags & 3 {
        1 => Ending::Silent,
        2 => Ending::Echo,
        _ => Ending::Eof,
    };
    let mut config = Config::default();
    if flags & 8 != 0 {
        config.max_frame_len = 64;
    }
    let case = Case {
        config,
        ending,
        refuse: flags & 4 != 0,
        script: script(wire, *schedule),
        wire: Bytes::copy_from_slice(wire),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    rt.block_on(case.run());
}

/// The peer's bytes as (delay before, chunk) pairs.
fn script(wire: &[u8], seed: u8) -> Vec<(Duration, Bytes)> {
    let mut plan = Plan::new(seed);
    let mut out = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let (delay, n) = if seed == 0 {
            (0, rest.len())
        } else {
            let delay = DELAYS_MS[(plan.next_u32() % 8) as usize];
            (delay, plan.chunk_len(MAX_CHUNK).min(rest.len()))
        };
        let (head, tail) = rest.split_at(n);
        out.push((Duration::from_millis(delay), Bytes::copy_from_slice(head)));
        rest = tail;
    }
    out
}

struct Case {
    config: Config,
    ending: Ending,
    refuse: bool,
    script: Vec<(Duration, Bytes)>,
    wire: Bytes,
}

impl Case {
    /// Virtual time from the start until the first `n` bytes are written.
    fn time_of(&self, n: usize) -> Option<Duration> {
        let (mut at, mut written) = (Duration::ZERO, 0);
        for (delay, chunk) in &self.script {
            at += *delay;
            written += chunk.len();
            if written >= n {
                return Some(at);
            }
        }
        None
    }

    fn local(&self) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            network_id: self.config.network_id,
            node_id: NodeId(LOCAL_NODE),
            listen_port: 9000,
        }
    }

    async fn run(self) {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let (reader, writer) = tokio::io::split(ours);
        let (their_reader, their_writer) = tokio::io::split(theirs);
        let t0 = Instant::now();
        let (pongs_tx, pongs_rx) = mpsc::channel(64);
        tokio::spawn(peer_reader(their_reader, pongs_tx));
        let echo = self.ending == Ending::Echo;
        tokio::spawn(peer_writer(
            their_writer,
            self.script.clone(),
            self.ending,
            pongs_rx,
        ));

        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 9000));
        let link = Link {
            reader,
            writer,
            local_addr: addr,
            remote_addr: addr,
        };
        let ctx = ConnectionContext::new(self.config.clone(), NodeId(LOCAL_NODE), 9000, None)
            .expect("the target's configs are valid");
        assert_eq!(ctx.local(), &self.local());
        let refuse = self.refuse;
        let admit = move |_: &Hello| {
            if refuse {
                Err(Reason::TooManyInbound)
            } else {
                Ok(())
            }
        };
        let rng = ChaCha8Rng::seed_from_u64(1).next_u64();
        let shake = PeerConnection::<Mem>::new_inbound(
            link,
            &ctx,
            ConnectionIds::new().allocate(),
            rng,
            admit,
        )
        .await;
        let Some(rest) = self.check_handshake(shake.as_ref().map(|c| c.info().remote)) else {
            return;
        };
        let Ok(conn) = shake else { unreachable!() };

        let (events_tx, mut events_rx) = mpsc::channel(self.config.event_queue_len);
        let (handle, run) = conn.start(events_tx);
        let script_end = self.time_of(self.wire.len()).unwrap_or(Duration::ZERO);
        let pong_timeout = self.config.pong_timeout;
        let owner = async move {
            let mut apps = Vec::new();
            let mut rtts = 0;
            let close_at = t0 + script_end + ECHO_FOR;
            let mut asked = false;
            loop {
                let event = tokio::select! {
                    event = events_rx.recv() => event.expect("Closed comes before the channel ends"),
                    () = tokio::time::sleep_until(close_at), if echo && !asked => {
                        asked = true;
                        handle.close(Reason::Shutdown);
                        continue;
                    }
                };
                match event.kind {
                    ConnectionEventKind::Message(bytes) => apps.push(bytes),
                    ConnectionEventKind::Rtt(rtt) => {
                        assert!(rtt <= pong_timeout);
                        rtts += 1;
                    }
                    ConnectionEventKind::Closed(e) => {
                        let at = Instant::now() - t0;
                        assert!(events_rx.recv().await.is_none(), "event after Closed");
                        return (apps, rtts, e, at, script_end);
                    }
                }
            }
        };
        let ((), outcome) = tokio::join!(run, owner);
        self.check_loop(&rest, outcome);
    }

    /// Checks the handshake against the oracle; returns the bytes after the
    /// hello when the handshake succeeded.
    fn check_handshake(&self, shake: Result<Hello, &HandshakeError>) -> Option<Bytes> {
        let cap = self.config.max_frame_len.min(MAX_HANDSHAKE_FRAME);
        let (steps, _) = reference_decode(&self.wire, cap);
        let first = steps.first();
        // When the bytes that decide the first frame were all written.
        let decided_by = match expected_frame(&self.wire, cap) {
            Ok(Some(len)) => Some(FRAME_HEADER_LEN + len),
            Err(_) => Some(FRAME_HEADER_LEN),
            Ok(None) => None,
        };
        let complete_at = decided_by.and_then(|n| self.time_of(n));
        let in_time = complete_at.is_some_and(|at| at < self.config.handshake_timeout);
        let err = match shake {
            Ok(remote) => {
                assert_eq!(first, Some(&Step::Message(Message::Hello(remote))));
                assert_eq!(check_hello(&self.local(), &remote), Ok(()));
                assert!(!self.refuse);
                assert!(complete_at.is_some_and(|at| at <= self.config.handshake_timeout));
                let hello_len = FRAME_HEADER_LEN + Message::Hello(remote).body_len();
                return Some(self.wire.slice(hello_len..));
            }
            Err(e) => e,
        };
        assert!(!err.to_string().is_empty());
        match err {
            HandshakeError::Timeout => assert!(!in_time, "timed out with the hello in time"),
            HandshakeError::Closed => {
                assert_eq!(self.ending, Ending::Eof);
                assert_eq!(first, None);
            }
            HandshakeError::Frame(e) => assert_eq!(first, Some(&Step::Frame(e.clone()))),
            HandshakeError::Decode(e) => assert_eq!(first, Some(&Step::Decode(e.clone()))),
            HandshakeError::Unexpected(t) => match first {
                Some(Step::Message(m)) => {
                    assert_eq!(m.message_type(), *t);
                    assert!(!matches!(m, Message::Hello(_)));
                }
                other => panic!("unexpected {t:?} but oracle saw {other:?}"),
            },
            HandshakeError::Refused(reason) => {
                let Some(Step::Message(Message::Hello(remote))) = first else {
                    panic!("refused without a hello: {first:?}");
                };
                match check_hello(&self.local(), remote) {
                    Err(expected) => assert_eq!(*reason, expected),
                    Ok(()) => {
                        assert!(self.refuse);
                        assert_eq!(*reason, Reason::TooManyInbound);
                    }
                }
            }
            other => panic!("handshake failed with {other:?}"),
        }
        None
    }

    /// Checks the message loop's events against the oracle's reading of the
    /// bytes after the hello.
    fn check_loop(
        &self,
        rest: &[u8],
        outcome: (Vec<Bytes>, u32, ConnectionError, Duration, Duration),
    ) {
        let (apps, rtts, error, closed_at, script_end) = outcome;
        let (steps, used) = reference_decode(rest, self.config.max_frame_len);
        // The first step that must end the connection, and the steps before it.
        let end = steps.iter().position(|s| match s {
            Step::Message(m) => !matches!(
                m,
                Message::App(_) | Message::Ping { .. } | Message::Pong { .. }
            ),
            _ => true,
        });
        let live = &steps[..end.unwrap_or(steps.len())];
        let apps_before = |n: usize| -> Vec<Bytes> {
            live[..n]
                .iter()
                .filter_map(|s| match s {
                    Step::Message(Message::App(b)) => Some(b.clone()),
                    _ => None,
                })
                .collect()
        };
        let all_apps = apps_before(live.len());
        assert!(
            all_apps.starts_with(&apps),
            "delivered {apps:?}, oracle {all_apps:?}"
        );
        let pings_or_pongs = live.iter().any(|s| {
            matches!(
                s,
                Step::Message(Message::Ping { .. } | Message::Pong { .. })
            )
        });
        let quick = script_end < self.config.pong_timeout;
        assert!(!error.to_string().is_empty());
        match &error {
            ConnectionError::Frame(_)
            | ConnectionError::Decode(_)
            | ConnectionError::RemoteClosed(_)
            | ConnectionError::Violation(ProtocolViolation::HandshakeAfterEstablished(_)) => {
                let terminal = end
                    .map(|i| &steps[i])
                    .expect("closed by a frame the oracle accepts");
                match (&error, terminal) {
                    (ConnectionError::Frame(e), Step::Frame(x)) => assert_eq!(e, x),
                    (ConnectionError::Decode(e), Step::Decode(x)) => assert_eq!(e, x),
                    (ConnectionError::RemoteClosed(r), Step::Message(Message::Goodbye(x))) => {
                        assert_eq!(r, x)
                    }
                    (
                        ConnectionError::Violation(ProtocolViolation::HandshakeAfterEstablished(t)),
                        Step::Message(m),
                    ) => {
                        assert_eq!(*t, m.message_type())
                    }
                    (e, t) => panic!("closed with {e:?}, oracle ends with {t:?}"),
                }
                assert_eq!(apps, all_apps);
            }
            ConnectionError::Violation(v) => {
                // A ping (flood, replayed nonce) or pong (unknown nonce) ends it.
                let is_ping = matches!(
                    v,
                    ProtocolViolation::PingFlood | ProtocolViolation::DuplicatePingNonce
                );
                let at = live.iter().enumerate().position(|(i, s)| {
                    let kind = match s {
                        Step::Message(Message::Ping { .. }) => is_ping,
                        Step::Message(Message::Pong { .. }) => !is_ping,
                        _ => false,
                    };
                    kind && apps_before(i) == apps
                });
                assert!(at.is_some(), "{v:?} with no matching frame");
            }
            ConnectionError::Eof => {
                assert_eq!(self.ending, Ending::Eof);
                assert_eq!(end, None);
                assert_eq!(apps, all_apps);
            }
            ConnectionError::PingTimeout { missed } => {
                assert_eq!(*missed, self.config.max_missed_pongs);
                assert!(closed_at <= script_end + self.config.dead_peer_bound());
            }
            ConnectionError::LocalClosed(Reason::Shutdown) => {
                assert_eq!(self.ending, Ending::Echo);
                assert_eq!(apps, all_apps);
            }
            other => panic!("connection closed with {other:?}"),
        }
        // A clean, quick script with nothing the loop may refuse ends the
        // way the peer chose.
        if quick && end.is_none() && !pings_or_pongs {
            match self.ending {
                Ending::Eof => assert!(matches!(error, ConnectionError::Eof), "{error:?}"),
                Ending::Silent => assert!(
                    matches!(error, ConnectionError::PingTimeout { .. }),
                    "{error:?}"
                ),
                Ending::Echo if used == rest.len() => {
                    assert!(
                        matches!(error, ConnectionError::LocalClosed(Reason::Shutdown)),
                        "{error:?}"
                    );
                    assert!(rtts >= 1);
                }
                Ending::Echo => {}
            }
        }
    }
}

/// Reads everything the node sends; queues a pong for each of its pings.
async fn peer_reader(mut reader: ReadHalf<DuplexStream>, pongs: mpsc::Sender<Message>) {
    let mut buf = BytesMut::new();
    loop {
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        while let Ok(Some(body)) = decode_frame(&mut buf, u32::MAX) {
            if let Ok(Message::Ping {
                nonce,
                timestamp_ms,
            }) = Message::decode(body)
            {
                let _ = pongs.try_send(Message::Pong {
                    nonce,
                    timestamp_ms,
                });
            }
        }
    }
}

/// Sends the script, then ends the way `ending` says. Pongs are written only
/// after the script, and only when it ended on a frame boundary, so they
/// never land inside a fuzzed frame.
async fn peer_writer(
    mut writer: WriteHalf<DuplexStream>,
    script: Vec<(Duration, Bytes)>,
    ending: Ending,
    mut pongs: mpsc::Receiver<Message>,
) {
    let mut sent = BytesMut::new();
    for (delay, chunk) in script {
        tokio::time::sleep(delay).await;
        if writer.write_all(&chunk).await.is_err() {
            return;
        }
        sent.extend_from_slice(&chunk);
    }
    let on_boundary = reference_decode(&sent, u32::MAX).1 == sent.len();
    match ending {
        Ending::Eof => {
            let _ = writer.shutdown().await;
        }
        Ending::Echo if on_boundary => {
            while let Some(pong) = pongs.recv().await {
                if writer.write_all(&pong.to_frame()).await.is_err() {
                    return;
                }
            }
        }
        Ending::Silent | Ending::Echo => {}
    }
    // Keep the write side open until the runtime is dropped.
    std::future::pending::<()>().await;
}

/// A transport that never opens or accepts anything: the target builds its
/// `Link` from a duplex stream itself.
#[derive(Clone)]
struct Mem;

struct NoListener;

impl Listener for NoListener {
    type Reader = ReadHalf<DuplexStream>;
    type Writer = WriteHalf<DuplexStream>;

    fn accept(
        &mut self,
    ) -> impl Future<Output = io::Result<Link<Self::Reader, Self::Writer>>> + Send {
        std::future::ready(Err(io::Error::other("in-memory transport")))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Err(io::Error::other("in-memory transport"))
    }
}

impl Transport for Mem {
    type Reader = ReadHalf<DuplexStream>;
    type Writer = WriteHalf<DuplexStream>;
    type Listener = NoListener;

    fn bind(&self, _: SocketAddr) -> impl Future<Output = io::Result<NoListener>> + Send {
        std::future::ready(Ok(NoListener))
    }

    fn open(
        &self,
        _: SocketAddr,
        _: Option<std::net::IpAddr>,
    ) -> impl Future<Output = io::Result<Link<Self::Reader, Self::Writer>>> + Send {
        std::future::ready(Err(io::Error::other("in-memory transport")))
    }
}
