//! The hex examples of `docs/protocol.md` against the encoder: every block
//! fenced as `hex example=NAME` must be exactly what `peerlink_core::wire`
//! encodes for the messages listed under that name here, and must decode
//! back to them. An example that drifts from the code, a new example
//! without an entry here, or an entry whose example was removed fails.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use peerlink_core::wire::{decode_frame, Hello, Message, Reason, PROTOCOL_VERSION};
use peerlink_core::NodeId;

/// The frame cap for decoding the examples (the default, 4 MiB).
const CAP: u32 = 4 * 1024 * 1024;

/// The spec's text.
fn protocol_md() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    std::fs::read_to_string(path).expect("docs/protocol.md is readable")
}

/// Every `hex example=NAME` block of `text`: name to bytes. Panics on a
/// malformed block or a name used twice.
fn examples(text: &str) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.trim().strip_prefix("```hex example=") else {
            continue;
        };
        let mut digits = String::new();
        for body in lines.by_ref() {
            if body.trim() == "```" {
                break;
            }
            digits.extend(body.chars().filter(|c| !c.is_whitespace()));
        }
        let bytes = hex(&digits).unwrap_or_else(|e| panic!("example {name}: {e}"));
        let before = found.insert(name.to_string(), bytes);
        assert!(before.is_none(), "example {name} appears twice");
    }
    found
}

fn hex(digits: &str) -> Result<Vec<u8>, String> {
    if digits.len() % 2 != 0 {
        return Err(format!("odd number of hex digits in {digits:?}"));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            let pair = digits.get(i..i + 2).ok_or("not ASCII")?;
            u8::from_str_radix(pair, 16).map_err(|e| format!("{pair:?}: {e}"))
        })
        .collect()
}

fn hello(network_id: u32, node_id: u128, listen_port: u16) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        network_id,
        node_id: NodeId(node_id),
        listen_port,
    }
}

/// What each example in the spec is, as messages.
fn expected() -> BTreeMap<&'static str, Vec<Message>> {
    let golden = hello(0x0102_0304, 0x0011_2233_4455_6677_8899_aabb_ccdd_eeff, 9000);
    let a = hello(7, u128::from_be_bytes([0x0a; 16]), 9000);
    let b = hello(7, u128::from_be_bytes([0xb0; 16]), 9001);
    let ping = |nonce, timestamp_ms| Message::Ping {
        nonce,
        timestamp_ms,
    };
    let pong = |nonce, timestamp_ms| Message::Pong {
        nonce,
        timestamp_ms,
    };
    BTreeMap::from([
        ("hello", vec![Message::Hello(golden)]),
        (
            "hello-reject-wrong-network",
            vec![Message::HelloReject(Reason::WrongNetwork)],
        ),
        (
            "goodbye-ping-timeout",
            vec![Message::Goodbye(Reason::PingTimeout)],
        ),
        ("ping", vec![ping(0x0123_4567_89ab_cdef, 1500)]),
        ("app", vec![Message::App(Bytes::from_static(b"hi!"))]),
        ("app-empty", vec![Message::App(Bytes::new())]),
        ("a-hello", vec![Message::Hello(a)]),
        (
            "b-accept-then-ping",
            vec![Message::HelloAccept(b), ping(0x5eed_5eed_5eed_5eed, 0)],
        ),
        (
            "a-pong-then-ping",
            vec![
                pong(0x5eed_5eed_5eed_5eed, 0),
                ping(0x0123_4567_89ab_cdef, 0),
            ],
        ),
        ("b-hello", vec![Message::Hello(b)]),
        ("a-accept", vec![Message::HelloAccept(a)]),
        ("ping-15s", vec![ping(0x1122_3344_5566_7788, 15_000)]),
        ("pong-15s", vec![pong(0x1122_3344_5566_7788, 15_000)]),
        (
            "goodbye-duplicate",
            vec![Message::Goodbye(Reason::Duplicate)],
        ),
    ])
}

/// Compares one example's bytes with its messages, both ways: the
/// encoding must equal the bytes, and the bytes must decode, frame by
/// frame, to the messages with nothing left over.
fn check(name: &str, bytes: &[u8], messages: &[Message]) -> Result<(), String> {
    let mut encoded = BytesMut::new();
    for message in messages {
        message.encode(&mut encoded);
    }
    if encoded[..] != *bytes {
        return Err(format!(
            "example {name} is {} but the encoder gives {}",
            to_hex(bytes),
            to_hex(&encoded)
        ));
    }
    let mut buf = BytesMut::from(bytes);
    for message in messages {
        let body = decode_frame(&mut buf, CAP)
            .map_err(|e| format!("example {name}: {e}"))?
            .ok_or_else(|| format!("example {name}: a frame is cut short"))?;
        let decoded = Message::decode(body).map_err(|e| format!("example {name}: {e}"))?;
        if decoded != *message {
            return Err(format!("example {name} decodes to {decoded:?}"));
        }
    }
    if !buf.is_empty() {
        return Err(format!("example {name}: {} bytes left over", buf.len()));
    }
    Ok(())
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every hex example in `docs/protocol.md` is exactly what the encoder
/// produces for its messages and decodes back to them; the spec has
/// exactly the examples listed here.
#[test]
fn spec_examples_match_the_encoder() {
    let found = examples(&protocol_md());
    let expected = expected();
    let names_found: Vec<&str> = found.keys().map(String::as_str).collect();
    let names_expected: Vec<&str> = expected.keys().copied().collect();
    assert_eq!(names_found, names_expected, "examples in docs/protocol.md");
    for (name, messages) in &expected {
        let bytes = &found[*name];
        if let Err(e) = check(name, bytes, messages) {
            panic!("{e}");
        }
    }
}

/// The check catches drift: one byte changed, one missing or one extra in
/// an example fails it.
#[test]
fn a_drifted_example_fails() {
    let messages = [Message::Goodbye(Reason::Duplicate)];
    let good = [0, 0, 0, 2, 0x06, 0x01];
    assert_eq!(check("x", &good, &messages), Ok(()));
    let mut changed = good;
    changed[5] = 0x09;
    assert_eq!(
        check("x", &changed, &messages),
        Err("example x is 000000020609 but the encoder gives 000000020601".to_string())
    );
    assert!(check("x", &good[..5], &messages).is_err());
    assert!(check("x", &[&good[..], &[0]].concat(), &messages).is_err());
}

/// The block parser reads names and hex across lines and spaces.
#[test]
fn examples_are_parsed_from_fenced_blocks() {
    let text = "intro\n```hex example=one\n0000 0002\n06 01\n```\n```\nnot hex\n```\n";
    let found = examples(text);
    assert_eq!(found.len(), 1);
    assert_eq!(found["one"], vec![0, 0, 0, 2, 6, 1]);
}

/// The conformance cases the spec cites in brackets, like [`ping-flood`]
/// or [`tiebreak-*`]: the lowercase names in backticks inside square
/// brackets that open with a backtick.
fn cited_cases(text: &str) -> Vec<String> {
    let mut cited = Vec::new();
    for (i, _) in text.match_indices('[') {
        let rest = &text[i + 1..];
        let Some(end) = rest.find(']') else { continue };
        let inside = &rest[..end];
        if !inside.starts_with('`') {
            continue;
        }
        for (j, name) in inside.split('`').enumerate() {
            let is_case = name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '*');
            if j % 2 == 1 && is_case {
                cited.push(name.to_string());
            }
        }
    }
    cited
}

/// Every conformance case the spec cites exists in
/// `tests/conformance/cases/`, and every case there is cited: a renamed or
/// deleted case, or a new one the spec does not mention, fails.
#[test]
fn cited_conformance_cases_exist() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/conformance/cases");
    let cases: Vec<String> = std::fs::read_dir(dir)
        .expect("tests/conformance/cases")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    let cited = cited_cases(&protocol_md());
    for name in &cited {
        let exists = match name.strip_suffix('*') {
            Some(prefix) => cases.iter().any(|c| c.starts_with(prefix)),
            None => cases.contains(name),
        };
        assert!(exists, "docs/protocol.md cites [{name}], which is no case");
    }
    for case in &cases {
        assert!(
            cited.contains(case),
            "case {case} is not cited in docs/protocol.md"
        );
    }
    let count = format!("`tests/conformance/`: {} byte-level cases", cases.len());
    assert!(
        protocol_md().contains(&count),
        "docs/protocol.md should say {count:?}"
    );
}
