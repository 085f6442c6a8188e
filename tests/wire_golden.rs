//! Golden bytes of wire protocol v1 (`docs/protocol.md`): the exact encoding
//! of every message type, decoding of each golden frame back to the message,
//! and every decode error.

use bytes::{Bytes, BytesMut};
use peerlink::error::{DecodeError, FrameError};
use peerlink::wire::{
    decode_frame, encode_frame, Hello, Message, MessageType, Reason, FRAME_HEADER_LEN, HELLO_LEN,
    MAGIC, PROTOCOL_VERSION,
};
use peerlink::NodeId;

/// Frame cap used for decoding in these tests (the default, 4 MiB).
const CAP: u32 = 4 * 1024 * 1024;

/// Parses a hex literal; spaces separate fields for the reader.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert_eq!(digits.len() % 2, 0, "odd hex literal");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn sample_hello() -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        network_id: 0x0102_0304,
        node_id: NodeId(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff),
        listen_port: 9000,
    }
}

/// Every message type with its golden frame (length prefix included).
fn golden() -> Vec<(Message, &'static str)> {
    vec![
        (
            Message::Hello(sample_hello()),
            "0000001d 01 504c4e4b 0001 01020304 00112233445566778899aabbccddeeff 2328",
        ),
        (
            Message::HelloAccept(sample_hello()),
            "0000001d 02 504c4e4b 0001 01020304 00112233445566778899aabbccddeeff 2328",
        ),
        (Message::HelloReject(Reason::WrongNetwork), "00000002 03 03"),
        (
            Message::Ping {
                nonce: 0x0123_4567_89ab_cdef,
                timestamp_ms: 1500,
            },
            "00000011 04 0123456789abcdef 00000000000005dc",
        ),
        (
            Message::Pong {
                nonce: 0xfedc_ba98_7654_3210,
                timestamp_ms: 0,
            },
            "00000011 05 fedcba9876543210 0000000000000000",
        ),
        (Message::Goodbye(Reason::PingTimeout), "00000002 06 0a"),
        (
            Message::App(Bytes::from_static(b"hi!")),
            "00000004 10 686921",
        ),
        (Message::App(Bytes::new()), "00000001 10"),
    ]
}

/// Every message encodes to exactly its golden bytes, `body_len` matches
/// the prefix, and `to_frame` equals `encode`.
#[test]
fn encode_is_golden() {
    for (msg, golden) in golden() {
        let mut out = BytesMut::new();
        msg.encode(&mut out);
        assert_eq!(out.as_ref(), hex(golden).as_slice(), "{msg:?}");
        assert_eq!(msg.to_frame(), out.freeze());
        assert_eq!(FRAME_HEADER_LEN + msg.body_len(), hex(golden).len());
    }
}

/// Each golden frame decodes back to its message through `decode_frame`
/// and `Message::decode`, consuming exactly the frame.
#[test]
fn decode_golden() {
    for (msg, golden) in golden() {
        let mut buf = BytesMut::from(hex(golden).as_slice());
        buf.extend_from_slice(b"\x00\x00");
        let body = decode_frame(&mut buf, CAP).unwrap().expect("whole frame");
        assert_eq!(Message::decode(body).as_ref(), Ok(&msg));
        assert_eq!(buf.as_ref(), b"\x00\x00", "exactly one frame consumed");
    }
}

/// All golden frames back to back decode in order from one buffer, however
/// the stream is split into reads.
#[test]
fn decode_stream_in_any_split() {
    let stream: Vec<u8> = golden().iter().flat_map(|(_, g)| hex(g)).collect();
    let expected: Vec<Message> = golden().into_iter().map(|(m, _)| m).collect();
    for chunk in [1, 2, 3, 5, 7, 64, stream.len()] {
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(body) = decode_frame(&mut buf, CAP).unwrap() {
                got.push(Message::decode(body).unwrap());
            }
        }
        assert_eq!(got, expected, "chunk {chunk}");
        assert!(buf.is_empty());
    }
}

/// The type bytes and constants of v1.
#[test]
fn constants_are_golden() {
    assert_eq!(MAGIC, *b"PLNK");
    assert_eq!(PROTOCOL_VERSION, 1);
    assert_eq!(HELLO_LEN, 28);
    assert_eq!(FRAME_HEADER_LEN, 4);
    let types = [
        (MessageType::Hello, 0x01),
        (MessageType::HelloAccept, 0x02),
        (MessageType::HelloReject, 0x03),
        (MessageType::Ping, 0x04),
        (MessageType::Pong, 0x05),
        (MessageType::Goodbye, 0x06),
        (MessageType::App, 0x10),
    ];
    for (t, byte) in types {
        assert_eq!(t as u8, byte, "{t:?}");
    }
}

/// Every reason code of v1, by number and name; unknown codes (16 and up,
/// 16 included: a lost connection is not a wire code) decode as `Other` and
/// re-encode unchanged.
#[test]
fn reason_codes_are_golden() {
    let table = [
        (Reason::Shutdown, 0, "shutdown"),
        (Reason::Duplicate, 1, "duplicate"),
        (Reason::SelfConnection, 2, "self_connection"),
        (Reason::WrongNetwork, 3, "wrong_network"),
        (Reason::UnsupportedVersion, 4, "unsupported_version"),
        (Reason::TooManyInbound, 5, "too_many_inbound"),
        (Reason::TooManyOutbound, 6, "too_many_outbound"),
        (Reason::TooManyPending, 7, "too_many_pending"),
        (Reason::Denied, 8, "denied"),
        (Reason::ProtocolViolation, 9, "protocol_violation"),
        (Reason::PingTimeout, 10, "ping_timeout"),
        (Reason::HandshakeTimeout, 11, "handshake_timeout"),
        (Reason::FrameTooLarge, 12, "frame_too_large"),
        (Reason::Banned, 13, "banned"),
        (Reason::SlowReader, 14, "slow_reader"),
        (Reason::RateLimited, 15, "rate_limited"),
    ];
    for (reason, code, name) in table {
        assert_eq!(reason.code(), code);
        assert_eq!(Reason::from_code(code), reason);
        assert_eq!(reason.as_str(), name);
    }
    for code in [16, 200] {
        let reason = Reason::from_code(code);
        assert!(matches!(reason, Reason::Other(u) if u.code() == code));
        assert_eq!(reason.to_string(), format!("other({code})"));
    }
    let body = Bytes::from(hex("06 c8"));
    assert_eq!(
        Message::decode(body),
        Ok(Message::Goodbye(Reason::from_code(200)))
    );
    assert_eq!(
        Message::Goodbye(Reason::from_code(200)).to_frame().as_ref(),
        hex("00000002 06 c8")
    );
}

/// `encode_frame` writes a big-endian u32 length and the body.
#[test]
fn raw_frame_is_golden() {
    let mut out = BytesMut::new();
    encode_frame(b"\x10abc", &mut out);
    assert_eq!(out.as_ref(), hex("00000004 10 616263"));
}

fn decode_body(s: &str) -> Result<Message, DecodeError> {
    Message::decode(Bytes::from(hex(s)))
}

/// A type byte v1 does not define is `UnknownType`.
#[test]
fn unknown_type() {
    assert_eq!(decode_body("00"), Err(DecodeError::UnknownType(0x00)));
    assert_eq!(decode_body("07 0102"), Err(DecodeError::UnknownType(0x07)));
    assert_eq!(decode_body("ff"), Err(DecodeError::UnknownType(0xff)));
}

/// A fixed-size message with the wrong payload length is `BadLength` with
/// the type byte and the length found.
#[test]
fn bad_length() {
    let cases = [
        ("03", 0x03, 0),
        ("03 0101", 0x03, 2),
        ("04 0123456789abcdef 00000000000005", 0x04, 15),
        ("05 0123456789abcdef 0000000000000000 00", 0x05, 17),
        ("06", 0x06, 0),
        // A hello with the right magic and version but a truncated body.
        ("01 504c4e4b 0001 01020304", 0x01, 10),
        // Too short to hold magic and version at all.
        ("02 504c4e", 0x02, 3),
        // One byte too long.
        (
            "01 504c4e4b 0001 01020304 00112233445566778899aabbccddeeff 2328 00",
            0x01,
            29,
        ),
    ];
    for (body, message_type, len) in cases {
        assert_eq!(
            decode_body(body),
            Err(DecodeError::BadLength { message_type, len }),
            "{body}"
        );
    }
}

/// A hello that does not start with `PLNK` is `BadMagic` carrying the four
/// bytes found, checked before the length.
#[test]
fn bad_magic() {
    assert_eq!(
        decode_body("01 48545450 0001 01020304 00112233445566778899aabbccddeeff 2328"),
        Err(DecodeError::BadMagic(*b"HTTP"))
    );
    assert_eq!(
        decode_body("02 00000000 0001"),
        Err(DecodeError::BadMagic([0; 4]))
    );
}

/// A hello of another version is `UnsupportedVersion`, even when the rest
/// has another length.
#[test]
fn unsupported_version() {
    assert_eq!(
        decode_body("01 504c4e4b 0002 01020304 00112233445566778899aabbccddeeff 2328"),
        Err(DecodeError::UnsupportedVersion(2))
    );
    assert_eq!(
        decode_body("01 504c4e4b ffff"),
        Err(DecodeError::UnsupportedVersion(0xffff))
    );
    assert_eq!(
        decode_body("02 504c4e4b 0000 00"),
        Err(DecodeError::UnsupportedVersion(0))
    );
}

/// A frame body with no type byte is `EmptyBody`.
#[test]
fn empty_body() {
    assert_eq!(Message::decode(Bytes::new()), Err(DecodeError::EmptyBody));
}

/// A length prefix over the cap is `TooLarge` as soon as the prefix is in,
/// with nothing consumed; a prefix equal to the cap is accepted and waits
/// for its body.
#[test]
fn frame_over_cap() {
    let mut buf = BytesMut::from(hex("00000011").as_slice());
    assert_eq!(
        decode_frame(&mut buf, 16),
        Err(FrameError::TooLarge { len: 17, max: 16 })
    );
    let mut buf = BytesMut::from(hex("00400001").as_slice());
    assert_eq!(
        decode_frame(&mut buf, CAP),
        Err(FrameError::TooLarge {
            len: CAP + 1,
            max: CAP
        })
    );
    let mut buf = BytesMut::from(hex("00000010 10").as_slice());
    assert_eq!(decode_frame(&mut buf, 16), Ok(None));
    assert_eq!(buf.len(), 5);
}

/// A length prefix of zero is `Empty`.
#[test]
fn zero_length_prefix() {
    let mut buf = BytesMut::from(hex("00000000 10").as_slice());
    assert_eq!(decode_frame(&mut buf, CAP), Err(FrameError::Empty));
}

/// Fewer than four prefix bytes, or a partial body, is "need more", never
/// an error.
#[test]
fn partial_frames_wait() {
    for partial in ["", "00", "000000", "00000002", "00000002 06"] {
        let mut buf = BytesMut::from(hex(partial).as_slice());
        assert_eq!(decode_frame(&mut buf, CAP), Ok(None), "{partial}");
        assert_eq!(buf.len(), hex(partial).len());
    }
}
