//! Shared pieces of the benchmark harnesses: loopback addresses, connection
//! set-up through the library, the raw-TCP baseline's framing, resource
//! readings from `/proc`, and summary statistics.
//!
//! Benchmarks run on real loopback TCP only (127.0.0.0/8) and stop by
//! themselves. They measure wall time, which library code never reads, so
//! `std::time::Instant` is allowed here (see `clippy.toml`).
//!
//! Every bench binary uses a different subset, hence the `dead_code` allow.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use peerlink::id::ConnectionIds;
use peerlink::peer::{ConnectionContext, ConnectionEvent, ConnectionHandle, PeerConnection};
use peerlink::transport::{Listener, TcpLinkListener, TcpTransport, Transport};
use peerlink::wire::MessageType;
use peerlink::{Config, NodeId};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// Wall-clock stopwatch for the harness (never used by library code).
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    /// Starts now.
    #[allow(clippy::disallowed_methods)] // benches measure wall time
    pub fn start() -> Self {
        Stopwatch(std::time::Instant::now())
    }

    /// Time since start.
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }

    /// Seconds since start.
    pub fn secs(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// The node's address in every bench: 127.0.0.1.
pub const NODE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

/// A distinct loopback address per peer index: 127.1.(i / 250).(i % 250 + 1),
/// so up to 62,500 peers each have their own IP identity.
pub fn peer_ip(i: usize) -> IpAddr {
    assert!(i < 250 * 250, "peer index {i} out of the 127.1/16 plan");
    let hi = u8::try_from(i / 250).expect("bounded above");
    let lo = u8::try_from(i % 250 + 1).expect("bounded above");
    IpAddr::V4(Ipv4Addr::new(127, 1, hi, lo))
}

/// A connection context with node id `node_id`, from `local_ip`.
pub fn context(node_id: u128, config: Config, local_ip: Option<IpAddr>) -> ConnectionContext {
    ConnectionContext::new(config, NodeId(node_id), 0, local_ip).expect("bench config is valid")
}

/// A connection's seed, drawn from a ChaCha stream seeded with `seed`.
pub fn rng(seed: u64) -> u64 {
    ChaCha8Rng::seed_from_u64(seed).next_u64()
}

/// A listener on 127.0.0.1, any port.
pub async fn bind() -> TcpLinkListener {
    TcpTransport
        .bind(SocketAddr::new(NODE_IP, 0))
        .await
        .expect("bind 127.0.0.1")
}

/// Two running `PeerConnection`s over loopback TCP: the dialer (from
/// `dial_ip`) and the acceptor, each reporting to its own event channel.
pub struct Pair {
    /// The dialling side's handle.
    pub dialer: ConnectionHandle,
    /// The dialling side's events.
    pub dialer_events: mpsc::Receiver<ConnectionEvent>,
    /// The accepting side's handle.
    pub acceptor: ConnectionHandle,
    /// The accepting side's events.
    pub acceptor_events: mpsc::Receiver<ConnectionEvent>,
}

/// Connects a [`Pair`] with `config` on both sides.
pub async fn pair(config: &Config, dial_ip: IpAddr) -> Pair {
    let mut listener = bind().await;
    let addr = listener.local_addr().expect("bound");
    let server_ctx = context(1, config.clone(), None);
    let accept = tokio::spawn(async move {
        let link = listener.accept().await.expect("accept");
        PeerConnection::<TcpTransport>::new_inbound(
            link,
            &server_ctx,
            ConnectionIds::new().allocate(),
            rng(1),
            |_| Ok(()),
        )
        .await
        .expect("inbound handshake")
    });
    let client_ctx = context(2, config.clone(), Some(dial_ip));
    let dialer_id = ConnectionIds::new().allocate();
    let dialer = PeerConnection::new_outbound(&TcpTransport, addr, &client_ctx, dialer_id, rng(2))
        .await
        .expect("outbound handshake");
    let acceptor = accept.await.expect("accept task");
    let (dtx, dialer_events) = mpsc::channel(config.event_queue_len);
    let (atx, acceptor_events) = mpsc::channel(config.event_queue_len);
    Pair {
        dialer: dialer.spawn(dtx),
        dialer_events,
        acceptor: acceptor.spawn(atx),
        acceptor_events,
    }
}

/// The frame header the library puts before an application payload: a
/// 4-byte big-endian body length, then the `App` type byte.
pub fn app_header(payload_len: usize) -> [u8; 5] {
    let body = u32::try_from(payload_len + 1).expect("bench payloads are small");
    let len = body.to_be_bytes();
    [len[0], len[1], len[2], len[3], MessageType::App as u8]
}

/// One whole `App` frame in its own buffer.
pub fn app_frame(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + payload.len());
    out.extend_from_slice(&app_header(payload.len()));
    out.extend_from_slice(payload);
    out.freeze()
}

/// A raw TCP stream from `src` (any port) to `addr`, `TCP_NODELAY` on.
pub async fn raw_connect(addr: SocketAddr, src: IpAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(src, 0)).expect("bind source");
    let stream = socket.connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// A raw TCP connection over loopback: the client from `src`, the server
/// side accepted on 127.0.0.1; `TCP_NODELAY` on both.
pub async fn raw_pair(src: IpAddr) -> (TcpStream, TcpStream) {
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(NODE_IP, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    let (client, accepted) = tokio::join!(raw_connect(addr, src), listener.accept());
    let (server, _) = accepted.expect("accept");
    server.set_nodelay(true).expect("nodelay");
    (client, server)
}

/// The raw baseline's writer: `n` `App` frames of `payload` through a
/// 64 KiB `BufWriter`, then a flush. Returns the writer, so the stream stays
/// open until the caller drops it.
pub async fn raw_write_frames<W: AsyncWrite + Unpin>(
    writer: W,
    payload: Bytes,
    n: usize,
) -> BufWriter<W> {
    let mut out = BufWriter::with_capacity(64 * 1024, writer);
    let header = app_header(payload.len());
    for _ in 0..n {
        out.write_all(&header).await.expect("write");
        out.write_all(&payload).await.expect("write");
    }
    out.flush().await.expect("flush");
    out
}

/// The raw baseline's reader: reads length-prefixed frames into one
/// buffer and splits each body off as `Bytes` (what an application that
/// keeps its messages must do too).
pub struct RawReader<R> {
    reader: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> RawReader<R> {
    /// Wraps a read half.
    pub fn new(reader: R) -> Self {
        RawReader {
            reader,
            buf: BytesMut::with_capacity(64 * 1024),
        }
    }

    /// The next frame's body (type byte and payload), or `None` at EOF.
    pub async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
                    as usize;
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    return Some(self.buf.split_to(len).freeze());
                }
            }
            if self.buf.capacity() - self.buf.len() < 8 * 1024 {
                self.buf.reserve(64 * 1024);
            }
            match self.reader.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft
/// limit.
pub fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        lim.rlim_cur
    }
}

/// Resident set size of process `pid` in KiB (`VmRSS` in /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) process `pid` has used, from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, the 12th and 13th after ")".
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_secs_f64(ticks as f64 / hz as f64)
}

/// The machine's 1-minute load average.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

/// The `q` quantile (0..=1) of sorted `xs`.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Median, min and max of `xs`.
pub fn spread(xs: &[f64]) -> (f64, f64, f64) {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    (
        quantile(&v, 0.5),
        *v.first().unwrap_or(&f64::NAN),
        *v.last().unwrap_or(&f64::NAN),
    )
}

/// A multi-threaded tokio runtime with two workers (the machine's cores),
/// the shape of a production node.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Prints the machine line every table starts with.
pub fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "machine: {cores} cores, {cpu}; load average (1 min) at start {}",
        loadavg()
    );
}

/// `--name N` from the command line.
pub fn arg(name: &str) -> Option<usize> {
    arg_str(name).and_then(|v| v.parse().ok())
}

/// `--name VALUE` from the command line, as text.
pub fn arg_str(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}
