//! Property tests of what a remote peer's bytes reach first: the framer
//! (`decode_frame`) and the message decoder (`Message::decode`). Each
//! property runs a bounded number of generated cases (the whole file takes a
//! few seconds in the test profile); a failing case is shrunk and saved
//! under `tests/proptest-regressions/`. `PingState`'s properties are in
//! `tests/proptest_ping_state.rs`.
//!
//! The checks compare against an oracle written from `docs/protocol.md`, not
//! from the decoder. The fuzz targets in `fuzz/` run the same ideas without
//! a case bound (`docs/fuzzing.md`).

mod common;

use bytes::{Bytes, BytesMut};
use common::prop::config;
use peerlink::config::MIN_FRAME_LEN;
use peerlink::error::{DecodeError, FrameError};
use peerlink::peer::MAX_HANDSHAKE_FRAME;
use peerlink::wire::{
    decode_frame, Hello, Message, Reason, FRAME_HEADER_LEN, HELLO_LEN, MAGIC, PROTOCOL_VERSION,
};
use peerlink::{Config, NodeId};
use proptest::collection::vec;
use proptest::prelude::*;

/// Frame caps worth testing: the smallest valid one, small ones, the
/// handshake cap and the default.
fn cap() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(MIN_FRAME_LEN),
        MIN_FRAME_LEN..=300,
        Just(MAX_HANDSHAKE_FRAME),
        Just(Config::default().max_frame_len),
    ]
}

fn hello() -> impl Strategy<Value = Hello> {
    (any::<u32>(), any::<u128>(), any::<u16>()).prop_map(|(network_id, id, listen_port)| Hello {
        version: PROTOCOL_VERSION,
        network_id,
        node_id: NodeId(id),
        listen_port,
    })
}

/// Every message of protocol v1, with every reason code and app payloads
/// up to a few hundred bytes.
fn message() -> impl Strategy<Value = Message> {
    let reason = any::<u8>().prop_map(Reason::from_code);
    prop_oneof![
        hello().prop_map(Message::Hello),
        hello().prop_map(Message::HelloAccept),
        reason.clone().prop_map(Message::HelloReject),
        (any::<u64>(), any::<u64>()).prop_map(|(nonce, timestamp_ms)| Message::Ping {
            nonce,
            timestamp_ms
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(nonce, timestamp_ms)| Message::Pong {
            nonce,
            timestamp_ms
        }),
        reason.prop_map(Message::Goodbye),
        vec(any::<u8>(), 0..300).prop_map(|b| Message::App(Bytes::from(b))),
    ]
}

/// One outcome of decoding a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Message(Message),
    Frame(FrameError),
    Decode(DecodeError),
}

/// What one `decode_frame` call must return for `buf`, from the spec:
/// `Ok(Some(body_len))`, `Ok(None)` or the error.
fn expected_frame(buf: &[u8], cap: u32) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.get(..FRAME_HEADER_LEN) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(prefix.try_into().expect("4 bytes"));
    match len {
        0 => Err(FrameError::Empty),
        len if len > cap => Err(FrameError::TooLarge { len, max: cap }),
        len if buf.len() - FRAME_HEADER_LEN < len as usize => Ok(None),
        len => Ok(Some(len as usize)),
    }
}

/// Splits `wire` into reads of the given sizes (cycled); no sizes: one read.
fn split<'a>(wire: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    if sizes.is_empty() {
        return vec![wire];
    }
    let (mut out, mut rest) = (Vec::new(), wire);
    for &n in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at(n.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}

/// Feeds the reads one at a time, draining whole frames after each as the
/// message loop does, up to the first error. Every call is checked against
/// the oracle: no body over the cap, nothing consumed unless a whole frame
/// is returned, only a partial frame ever left behind. Returns the steps
/// and the bytes left in the buffer.
fn decode_reads(reads: &[&[u8]], cap: u32) -> (Vec<Step>, usize) {
    let bound = FRAME_HEADER_LEN + cap as usize;
    let (mut buf, mut steps) = (BytesMut::new(), Vec::new());
    for read in reads {
        assert!(buf.len() < bound);
        buf.extend_from_slice(read);
        loop {
            let before = buf.clone();
            match (decode_frame(&mut buf, cap), expected_frame(&before, cap)) {
                (Ok(None), Ok(None)) => {
                    assert_eq!(buf, before);
                    break;
                }
                (Ok(Some(body)), Ok(Some(len))) => {
                    assert_eq!(body.len(), len);
                    assert!(len >= 1 && len <= cap as usize);
                    assert_eq!(&body[..], &before[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len]);
                    match Message::decode(body.clone()) {
                        Ok(msg) => {
                            // Exact: re-encoding gives back the very bytes.
                            assert_eq!(msg.to_frame(), before[..FRAME_HEADER_LEN + len]);
                            steps.push(Step::Message(msg));
                        }
                        Err(e) => {
                            check_decode_error(&e, &body);
                            steps.push(Step::Decode(e));
                            return (steps, buf.len());
                        }
                    }
                }
                (Err(e), Err(expected)) => {
                    assert_eq!(e, expected);
                    assert_eq!(buf, before);
                    steps.push(Step::Frame(e));
                    return (steps, buf.len());
                }
                (got, expected) => panic!("decode_frame gave {got:?}, spec says {expected:?}"),
            }
        }
    }
    (steps, buf.len())
}

/// A decode error names exactly what is wrong with `body`.
fn check_decode_error(e: &DecodeError, body: &[u8]) {
    let (tag, payload) = (body[0], &body[1..]);
    match *e {
        DecodeError::UnknownType(t) => {
            assert_eq!(t, tag);
            assert!(!matches!(t, 0x01..=0x06 | 0x10));
        }
        DecodeError::BadLength { message_type, len } => {
            assert_eq!((message_type, len), (tag, payload.len()));
            let expected = match tag {
                0x01 | 0x02 => HELLO_LEN,
                0x03 | 0x06 => 1,
                0x04 | 0x05 => 16,
                other => panic!("BadLength for type {other}"),
            };
            assert_ne!(len, expected);
        }
        DecodeError::BadMagic(magic) => {
            assert!(matches!(tag, 0x01 | 0x02));
            assert_eq!(payload[..4], magic);
            assert_ne!(magic, MAGIC);
        }
        DecodeError::UnsupportedVersion(v) => {
            assert!(matches!(tag, 0x01 | 0x02));
            assert_eq!(
                (&payload[..4], &payload[4..6]),
                (&MAGIC[..], &v.to_be_bytes()[..])
            );
            assert_ne!(v, PROTOCOL_VERSION);
        }
        ref other => panic!("unexpected decode error {other:?} for {body:?}"),
    }
}

fn encode_all(msgs: &[Message]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for m in msgs {
        m.encode(&mut out);
    }
    out.to_vec()
}

/// Generated streams that reach past the framer: frames with a correct
/// prefix around an arbitrary body that mostly starts with a real type.
fn framed_bodies() -> impl Strategy<Value = Vec<u8>> {
    let tag = prop_oneof![
        prop::sample::select(vec![0x01u8, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10]),
        any::<u8>()
    ];
    let body = (tag, vec(any::<u8>(), 0..40)).prop_map(|(t, mut rest)| {
        rest.insert(0, t);
        rest
    });
    vec(body, 0..6).prop_map(|bodies| {
        let mut wire = Vec::new();
        for body in bodies {
            wire.extend_from_slice(&(body.len() as u32).to_be_bytes());
            wire.extend_from_slice(&body);
        }
        wire
    })
}

/// An edit to a valid encoding.
#[derive(Clone, Debug)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Overwrite(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, bit)| Mutation::Flip(i, bit)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Overwrite(i, b)),
    ]
}

fn mutate(wire: &mut Vec<u8>, m: &Mutation) {
    let len = wire.len().max(1);
    match *m {
        Mutation::Flip(i, bit) if !wire.is_empty() => wire[i % len] ^= 1 << bit,
        Mutation::Insert(i, b) => wire.insert(i % (wire.len() + 1), b),
        Mutation::Delete(i) if !wire.is_empty() => {
            wire.remove(i % len);
        }
        Mutation::Overwrite(i, b) if !wire.is_empty() => wire[i % len] = b,
        _ => {}
    }
}

proptest! {
    #![proptest_config(config())]

    /// (a) Arbitrary bytes, in arbitrary reads, never panic the framer or
    /// the decoder; every call returns exactly what the spec says, and the
    /// chunking does not change the outcome.
    #[test]
    fn arbitrary_bytes_decode_to_spec(
        wire in prop_oneof![vec(any::<u8>(), 0..512), framed_bodies()],
        sizes in vec(1usize..64, 0..16),
        cap in cap(),
    ) {
        let (whole, left) = decode_reads(&[&wire], cap);
        let (chunked, left_chunked) = decode_reads(&split(&wire, &sizes), cap);
        prop_assert_eq!(&chunked, &whole);
        // After an error nothing more is read, so only a clean run leaves
        // the same partial frame behind whatever the chunking.
        let stopped = whole.last().is_some_and(|s| !matches!(s, Step::Message(_)));
        prop_assert!(stopped || (left_chunked == left && left < FRAME_HEADER_LEN + cap as usize));
    }

    /// (b) Every valid message round-trips encode -> decode exactly, in any
    /// chunking, with the cap exactly at the largest body (a frame of
    /// exactly the cap is accepted); `to_frame` equals `encode`.
    #[test]
    fn valid_messages_round_trip(
        msgs in vec(message(), 1..8),
        sizes in vec(1usize..80, 0..16),
    ) {
        let cap = msgs.iter().map(Message::body_len).max().unwrap_or(1) as u32;
        let cap = cap.max(MIN_FRAME_LEN);
        let wire = encode_all(&msgs);
        for m in &msgs {
            prop_assert_eq!(m.to_frame().len(), FRAME_HEADER_LEN + m.body_len());
        }
        let expected: Vec<Step> = msgs.iter().cloned().map(Step::Message).collect();
        prop_assert_eq!(decode_reads(&split(&wire, &sizes), cap), (expected, 0));
    }

    /// (b') A hello of another version or another protocol is refused with
    /// exactly that version or magic, whatever follows it.
    #[test]
    fn foreign_hellos_name_their_version_or_magic(
        magic in prop_oneof![Just(MAGIC), any::<[u8; 4]>()],
        version in any::<u16>(),
        rest in prop_oneof![vec(any::<u8>(), 0..40), vec(any::<u8>(), 22..=22)],
        accept in any::<bool>(),
    ) {
        let mut body = vec![if accept { 0x02 } else { 0x01 }];
        body.extend_from_slice(&magic);
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&rest);
        let got = Message::decode(Bytes::from(body.clone()));
        let expected = if magic != MAGIC {
            Err(DecodeError::BadMagic(magic))
        } else if version != PROTOCOL_VERSION {
            Err(DecodeError::UnsupportedVersion(version))
        } else if body.len() != 1 + HELLO_LEN {
            Err(DecodeError::BadLength { message_type: body[0], len: body.len() - 1 })
        } else {
            let hello = Hello {
                version,
                network_id: u32::from_be_bytes(rest[..4].try_into().expect("4 bytes")),
                node_id: NodeId(u128::from_be_bytes(rest[4..20].try_into().expect("16 bytes"))),
                listen_port: u16::from_be_bytes([rest[20], rest[21]]),
            };
            Ok(if accept { Message::HelloAccept(hello) } else { Message::Hello(hello) })
        };
        prop_assert_eq!(got, expected);
    }

    /// (c) Valid encodings with bytes flipped, inserted, deleted or
    /// overwritten never panic and never yield a body over the cap; the
    /// frames wholly before the first changed byte still decode to the
    /// original messages, and chunking does not change the outcome.
    #[test]
    fn mutated_frames_are_refused_or_decoded(
        msgs in vec(message(), 1..6),
        mutations in vec(mutation(), 1..5),
        sizes in vec(1usize..64, 0..16),
        cap in cap(),
    ) {
        let original = encode_all(&msgs);
        let mut wire = original.clone();
        for m in &mutations {
            mutate(&mut wire, m);
        }
        let (whole, _) = decode_reads(&[&wire], cap);
        let (chunked, _) = decode_reads(&split(&wire, &sizes), cap);
        prop_assert_eq!(&chunked, &whole);
        let first_change = original.iter().zip(&wire).position(|(a, b)| a != b)
            .unwrap_or(original.len().min(wire.len()));
        let mut end = 0;
        for (i, m) in msgs.iter().enumerate() {
            end += FRAME_HEADER_LEN + m.body_len();
            if end > first_change || m.body_len() > cap as usize {
                break;
            }
            prop_assert_eq!(whole.get(i), Some(&Step::Message(m.clone())));
        }
    }

    /// (d) A prefix over the cap is refused as soon as its 4 bytes are in,
    /// before any body byte, and nothing is allocated for the announced
    /// length; a prefix under the cap with its body still missing reserves
    /// nothing either.
    #[test]
    fn oversize_prefix_refused_without_allocation(
        cap in cap(),
        over in 1u32..=u32::MAX,
        body in vec(any::<u8>(), 0..64),
    ) {
        let len = cap.saturating_add(over);
        let prefix = len.to_be_bytes();
        let mut buf = BytesMut::new();
        for &b in &prefix[..3] {
            buf.extend_from_slice(&[b]);
            prop_assert_eq!(decode_frame(&mut buf, cap), Ok(None));
        }
        buf.extend_from_slice(&prefix[3..]);
        prop_assert_eq!(decode_frame(&mut buf, cap), Err(FrameError::TooLarge { len, max: cap }));
        buf.extend_from_slice(&body);
        prop_assert_eq!(decode_frame(&mut buf, cap), Err(FrameError::TooLarge { len, max: cap }));
        prop_assert_eq!(buf.len(), 4 + body.len());
        prop_assert!(buf.capacity() <= 2 * buf.len().max(8), "capacity {}", buf.capacity());

        // Within a large cap, a big announced body is waited for, not reserved.
        let big_cap = Config::default().max_frame_len;
        let want = (len % big_cap).max(body.len() as u32 + 1);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&want.to_be_bytes());
        buf.extend_from_slice(&body);
        prop_assert_eq!(decode_frame(&mut buf, big_cap), Ok(None));
        prop_assert!(buf.capacity() <= 2 * buf.len().max(8), "capacity {}", buf.capacity());
    }
}
