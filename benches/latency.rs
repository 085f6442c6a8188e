//! Round-trip latency of a request/response application message over one
//! `PeerConnection`, against raw tokio TCP with the same framing.
//!
//! Ours: the dialer's owner sends a 64-byte `App` payload and waits for the
//! `Message` event of the reply; the acceptor's owner echoes every `Message`
//! with `ConnectionHandle::send`. Raw: the client writes the same frame
//! (header and payload through a `BufWriter`, one flush), reads the reply
//! frame; a raw server task reads each frame and writes it back the same
//! way. One request in flight at a time; loopback, 2-worker runtime, all in
//! spawned tasks, raw and ours interleaved round by round.
//!
//! `cargo bench --bench latency [-- --rounds N --requests N]`

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use common::*;
use peerlink::peer::ConnectionEventKind;
use peerlink::Config;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpSocket};

/// Request and response payload size.
const PAYLOAD: usize = 64;

fn main() {
    let rounds = arg("--rounds").unwrap_or(5);
    let requests = arg("--requests").unwrap_or(10_000);
    print_machine();
    println!("latency: {PAYLOAD}-byte request and echo, {requests} round trips per round, {rounds} interleaved rounds");
    let rt = runtime();
    let bench = rt.spawn(async move {
        let payload = Bytes::from(vec![0x5au8; PAYLOAD]);
        let mut pair = pair(&Config::default(), peer_ip(0)).await;
        let echo = pair.acceptor.clone();
        let mut server_events = std::mem::replace(&mut pair.acceptor_events, tokio::sync::mpsc::channel(1).1);
        tokio::spawn(async move {
            while let Some(event) = server_events.recv().await {
                if let ConnectionEventKind::Message(bytes) = event.kind {
                    echo.send(bytes).expect("echo");
                }
            }
        });
        let raw_addr = raw_echo_server().await;
        // Warm-up, not recorded.
        raw_round(raw_addr, &payload, requests / 10).await;
        ours_round(&mut pair, &payload, requests / 10).await;
        let (mut raw, mut ours) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            raw.push(percentiles(raw_round(raw_addr, &payload, requests).await));
            ours.push(percentiles(ours_round(&mut pair, &payload, requests).await));
        }
        println!("| | raw p50 µs | raw p99 µs | peerlink p50 µs | peerlink p99 µs | p50 ratio | p99 ratio |");
        println!("|---|---|---|---|---|---|---|");
        for (i, ((r50, r99), (o50, o99))) in raw.iter().zip(&ours).enumerate() {
            println!(
                "| round {} | {r50:.1} | {r99:.1} | {o50:.1} | {o99:.1} | {:.2} | {:.2} |",
                i + 1,
                o50 / r50,
                o99 / r99
            );
        }
        let med = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| spread(&v.iter().map(f).collect::<Vec<_>>());
        let (r50, r50lo, r50hi) = med(&raw, |x| x.0);
        let (r99, r99lo, r99hi) = med(&raw, |x| x.1);
        let (o50, o50lo, o50hi) = med(&ours, |x| x.0);
        let (o99, o99lo, o99hi) = med(&ours, |x| x.1);
        let ratios50: Vec<f64> = raw.iter().zip(&ours).map(|(r, o)| o.0 / r.0).collect();
        let ratios99: Vec<f64> = raw.iter().zip(&ours).map(|(r, o)| o.1 / r.1).collect();
        let (q50, q50lo, q50hi) = spread(&ratios50);
        let (q99, q99lo, q99hi) = spread(&ratios99);
        println!(
            "| median (min..max) | {r50:.1} ({r50lo:.1}..{r50hi:.1}) | {r99:.1} ({r99lo:.1}..{r99hi:.1}) | {o50:.1} ({o50lo:.1}..{o50hi:.1}) | {o99:.1} ({o99lo:.1}..{o99hi:.1}) | {q50:.2} ({q50lo:.2}..{q50hi:.2}) | {q99:.2} ({q99lo:.2}..{q99hi:.2}) |"
        );
    });
    rt.block_on(bench).expect("bench task");
    println!("load average (1 min) at end {}", loadavg());
}

/// p50 and p99 of round-trip times in µs.
fn percentiles(mut us: Vec<f64>) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    (quantile(&us, 0.5), quantile(&us, 0.99))
}

/// `n` round trips through the library; each one's time in µs.
async fn ours_round(pair: &mut Pair, payload: &Bytes, n: usize) -> Vec<f64> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let watch = Stopwatch::start();
        pair.dialer.send(payload.clone()).expect("send");
        loop {
            let event = pair.dialer_events.recv().await.expect("open");
            match event.kind {
                ConnectionEventKind::Message(_) => break,
                ConnectionEventKind::Rtt(_) => {}
                ConnectionEventKind::Closed(e) => panic!("closed: {e}"),
            }
        }
        times.push(watch.elapsed().as_secs_f64() * 1e6);
    }
    times
}

/// A raw echo server on 127.0.0.1; serves connections until the runtime
/// ends.
async fn raw_echo_server() -> SocketAddr {
    let listener = TcpListener::bind(SocketAddr::new(NODE_IP, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            stream.set_nodelay(true).expect("nodelay");
            let (reader, writer) = stream.into_split();
            tokio::spawn(async move {
                let mut reader = RawReader::new(reader);
                let mut out = BufWriter::new(writer);
                while let Some(body) = reader.next().await {
                    let payload = body.get(1..).unwrap_or_default();
                    let ok = out.write_all(&app_header(payload.len())).await.is_ok()
                        && out.write_all(payload).await.is_ok()
                        && out.flush().await.is_ok();
                    if !ok {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// `n` round trips over a fresh raw connection; each one's time in µs.
async fn raw_round(addr: SocketAddr, payload: &Bytes, n: usize) -> Vec<f64> {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(peer_ip(1), 0))
        .expect("bind source");
    let stream = socket.connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (reader, writer) = stream.into_split();
    let mut reader = RawReader::new(reader);
    let mut out = BufWriter::new(writer);
    let header = app_header(payload.len());
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let watch = Stopwatch::start();
        out.write_all(&header).await.expect("write");
        out.write_all(payload).await.expect("write");
        out.flush().await.expect("flush");
        reader.next().await.expect("reply");
        times.push(watch.elapsed().as_secs_f64() * 1e6);
    }
    times
}
