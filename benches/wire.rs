//! Micro-benchmarks of the per-message wire work on the hot path (criterion):
//! splitting `App` frames off a read buffer and decoding them (what the
//! message loop does per received message), against a hand-written raw
//! length-prefix split of the same bytes.
//!
//! `cargo bench --bench wire`

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use peerlink::wire::{decode_frame, Message};

/// Frames per iteration.
const BATCH: usize = 64;

fn frames(payload: usize) -> Bytes {
    let msg = Message::App(Bytes::from(vec![0x11u8; payload]));
    let mut out = BytesMut::new();
    for _ in 0..BATCH {
        msg.encode(&mut out);
    }
    out.freeze()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_app_frames");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for payload in [64usize, 1024, 64 * 1024] {
        let wire = frames(payload);
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_with_input(BenchmarkId::new("peerlink", payload), &wire, |b, wire| {
            b.iter(|| {
                let mut buf = BytesMut::from(&wire[..]);
                let mut n = 0;
                while let Ok(Some(body)) = decode_frame(&mut buf, 4 * 1024 * 1024) {
                    if let Ok(Message::App(p)) = Message::decode(body) {
                        n += p.len();
                    }
                }
                n
            })
        });
        group.bench_with_input(BenchmarkId::new("raw", payload), &wire, |b, wire| {
            b.iter(|| {
                let mut buf = BytesMut::from(&wire[..]);
                let mut n = 0;
                while buf.len() >= 4 {
                    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                    buf.advance(4);
                    let body = buf.split_to(len).freeze();
                    n += body.slice(1..).len();
                }
                n
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
