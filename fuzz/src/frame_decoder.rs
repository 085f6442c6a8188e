//! The body of fuzz target `frame_decoder` (`fuzz_targets/frame_decoder.rs`
//! calls [`run`]; so does the corpus replay, `tests/replay.rs`): arbitrary
//! bytes through `decode_frame` and `Message::decode`, fed in arbitrary
//! chunkings.
//!
//! Input: one control byte, then the byte stream.
//! - bits 0-1 of the control byte pick the frame cap: 29 (the smallest
//!   valid `max_frame_len`), 64, 1024 (`MAX_HANDSHAKE_FRAME`), 4 MiB (the
//!   default);
//! - bits 2-7 seed the chunking (0: one byte per read).
//!
//! Checks, for every input: no panic; every `decode_frame` call returns
//! exactly what the specification says for the buffer it saw (oracle in
//! `src/lib.rs`), consumes bytes only for a whole frame, and never returns
//! a body over the cap; the buffer never holds more than one frame plus one
//! read chunk; every decoded message re-encodes to the very bytes it came
//! from; every decode error names the byte that caused it; and the chunked
//! run yields exactly the outcomes of decoding the whole stream at once.

use crate::{chunks, expected_frame, reference_decode, Step};
use bytes::BytesMut;
use peerlink::config::MIN_FRAME_LEN;
use peerlink::error::DecodeError;
use peerlink::peer::MAX_HANDSHAKE_FRAME;
use peerlink::wire::{decode_frame, Message, FRAME_HEADER_LEN, MAGIC, PROTOCOL_VERSION};

const CAPS: [u32; 4] = [MIN_FRAME_LEN, 64, MAX_HANDSHAKE_FRAME, 4 * 1024 * 1024];
/// Largest read chunk the target feeds at once.
const MAX_CHUNK: usize = 64;

/// Runs one fuzz input; panics on any check that fails.
pub fn run(data: &[u8]) {
    let Some((&control, wire)) = data.split_first() else {
        return;
    };
    let cap = CAPS[usize::from(control & 3)];
    let (whole, _) = reference_decode(wire, cap);
    let chunked = decode_chunked(&chunks(wire, control >> 2, MAX_CHUNK), cap);
    assert_eq!(chunked, whole, "chunking changed the outcome");
}

/// Feeds `chunks` one at a time, draining whole frames after each, as the
/// message loop does; stops at the first error.
fn decode_chunked(chunks: &[&[u8]], cap: u32) -> Vec<Step> {
    let frame_bound = FRAME_HEADER_LEN + cap as usize;
    let mut buf = BytesMut::new();
    let mut steps = Vec::new();
    for chunk in chunks {
        // Only a partial frame is ever left behind.
        assert!(buf.len() < frame_bound, "left {} bytes", buf.len());
        buf.extend_from_slice(chunk);
        assert!(buf.len() <= frame_bound + MAX_CHUNK);
        loop {
            let before = buf.clone();
            let expected = expected_frame(&before, cap);
            match decode_frame(&mut buf, cap) {
                Ok(None) => {
                    assert_eq!(expected, Ok(None));
                    assert_eq!(buf, before, "an incomplete frame consumed bytes");
                    break;
                }
                Ok(Some(body)) => {
                    assert_eq!(expected, Ok(Some(body.len())));
                    assert!(!body.is_empty() && body.len() <= cap as usize);
                    assert_eq!(&before[FRAME_HEADER_LEN..][..body.len()], &body[..]);
                    assert_eq!(buf.len(), before.len() - FRAME_HEADER_LEN - body.len());
                    match Message::decode(body.clone()) {
                        Ok(msg) => {
                            // Decoding is exact: nothing is dropped or normalised.
                            assert_eq!(
                                &msg.to_frame()[..],
                                &before[..FRAME_HEADER_LEN + body.len()]
                            );
                            assert_eq!(msg.body_len(), body.len());
                            steps.push(Step::Message(msg));
                        }
                        Err(e) => {
                            check_decode_error(&e, &body);
                            steps.push(Step::Decode(e));
                            return steps;
                        }
                    }
                }
                Err(e) => {
                    assert_eq!(expected, Err(e.clone()));
                    assert_eq!(buf, before, "a refused frame consumed bytes");
                    assert!(!e.to_string().is_empty());
                    steps.push(Step::Frame(e));
                    return steps;
                }
            }
        }
    }
    steps
}

/// A decode error describes the body it came from.
fn check_decode_error(e: &DecodeError, body: &[u8]) {
    assert!(!e.to_string().is_empty());
    let tag = body[0];
    match *e {
        DecodeError::EmptyBody => panic!("decode_frame returned an empty body"),
        DecodeError::UnknownType(t) => {
            assert_eq!(t, tag);
            assert!(!matches!(t, 0x01..=0x06 | 0x10), "known type {t} refused");
        }
        DecodeError::BadLength { message_type, len } => {
            assert_eq!(message_type, tag);
            assert_eq!(len, body.len() - 1);
        }
        DecodeError::BadMagic(magic) => {
            assert!(tag == 0x01 || tag == 0x02);
            assert_eq!(&body[1..5], &magic[..]);
            assert_ne!(magic, MAGIC);
        }
        DecodeError::UnsupportedVersion(v) => {
            assert!(tag == 0x01 || tag == 0x02);
            assert_eq!(&body[1..5], &MAGIC[..]);
            assert_eq!(body[5..7], v.to_be_bytes());
            assert_ne!(v, PROTOCOL_VERSION);
        }
        _ => panic!("unexpected decode error {e:?}"),
    }
}
