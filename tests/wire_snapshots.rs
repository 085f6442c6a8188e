//! Golden frames as insta snapshots (`snapshots/wire_snapshots__*.snap`):
//! the encoded bytes of one sample of every message type of wire protocol
//! v1, and every reason code. Any change to the encoding shows up as a
//! snapshot diff for a reviewer (`cargo insta review`); `tests/wire_golden.rs`
//! pins the same layout with hex literals.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use peerlink::wire::{decode_frame, Hello, Message, Reason, FRAME_HEADER_LEN, PROTOCOL_VERSION};
use peerlink::NodeId;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn sample_hello() -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        network_id: 0xcafe_f00d,
        node_id: NodeId(0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100),
        listen_port: 7000,
    }
}

/// One sample of every message type, by type name.
fn samples() -> Vec<(&'static str, Message)> {
    vec![
        ("Hello", Message::Hello(sample_hello())),
        ("HelloAccept", Message::HelloAccept(sample_hello())),
        ("HelloReject", Message::HelloReject(Reason::Duplicate)),
        (
            "Ping",
            Message::Ping {
                nonce: 0x1122_3344_5566_7788,
                timestamp_ms: 15_000,
            },
        ),
        (
            "Pong",
            Message::Pong {
                nonce: 0x1122_3344_5566_7788,
                timestamp_ms: 15_000,
            },
        ),
        ("Goodbye", Message::Goodbye(Reason::Shutdown)),
        ("App", Message::App(Bytes::from_static(b"peerlink"))),
    ]
}

fn settings() -> insta::Settings {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("snapshots");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(dir.canonicalize().unwrap_or(dir));
    settings.set_omit_expression(true);
    settings
}

/// Every message type encodes to its stored golden frame, and the frame
/// decodes back to the same message.
#[test]
fn golden_frames() {
    let mut frames = BTreeMap::new();
    for (name, msg) in samples() {
        let bytes = msg.to_frame();
        let mut buf = BytesMut::from(&bytes[..]);
        let body = decode_frame(&mut buf, 1024)
            .unwrap()
            .expect("one whole frame");
        assert_eq!(
            Message::decode(body).as_ref(),
            Ok(&msg),
            "{name} round-trips"
        );
        assert!(buf.is_empty(), "{name}: exactly one frame");
        let (prefix, rest) = bytes.split_at(FRAME_HEADER_LEN);
        let (tag, payload) = rest.split_at(1);
        // Per type: the message as `Debug` prints it, and its frame as
        // `length-prefix type-byte payload` in hex.
        let frame = BTreeMap::from([
            ("message", format!("{msg:?}")),
            (
                "hex",
                format!("{} {} {}", hex(prefix), hex(tag), hex(payload)),
            ),
        ]);
        frames.insert(name, frame);
    }
    settings().bind(|| insta::assert_yaml_snapshot!("golden_frames", frames));
}

/// Every reason code of `HelloReject` and `Goodbye` on the wire, by name;
/// codes past the known ones decode as `other`.
#[test]
fn reason_codes() {
    let codes: BTreeMap<u8, String> = (0..=16u8)
        .chain([255])
        .map(|code| {
            let reason = Reason::from_code(code);
            assert_eq!(reason.code(), code);
            (code, reason.to_string())
        })
        .collect();
    settings().bind(|| insta::assert_yaml_snapshot!("reason_codes", codes));
}

/// Every `wire_snapshots__` file in the snapshot folder belongs to a test
/// of this file (the simulator's snapshot tests check the rest).
#[test]
fn no_unreferenced_wire_snapshots() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("snapshots");
    let known = [
        "wire_snapshots__golden_frames.snap",
        "wire_snapshots__reason_codes.snap",
    ];
    let mut stray: Vec<String> = std::fs::read_dir(dir)
        .expect("snapshots folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("wire_snapshots__") && !known.contains(&n.as_str()))
        .collect();
    stray.sort();
    assert!(
        stray.is_empty(),
        "unreferenced files in snapshots/: {stray:?}"
    );
}
