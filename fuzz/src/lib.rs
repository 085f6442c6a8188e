//! Shared pieces of the peerlink fuzz targets: an oracle framer written
//! independently of `peerlink::wire::decode_frame`, and a tiny seeded
//! generator that turns one input byte into a chunking (and delay) plan.
//!
//! Nothing here reads a clock or an OS RNG: one input always runs the same
//! way, so a crash artifact replays exactly.
//!
//! The targets' bodies live here too ([`frame_decoder`],
//! [`handshake_stream`]), so [`replay`] can run the committed corpus through
//! them on stable Rust, without libFuzzer.

pub mod frame_decoder;
pub mod handshake_stream;
pub mod replay;

use bytes::Bytes;
use peerlink::error::{DecodeError, FrameError};
use peerlink::wire::{Message, FRAME_HEADER_LEN};

/// One outcome of decoding a byte stream, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A whole frame that decoded to a message.
    Message(Message),
    /// The framer refused the stream (nothing after this is read).
    Frame(FrameError),
    /// A whole frame that is not a valid message (nothing after this is read).
    Decode(DecodeError),
}

impl Step {
    /// Whether decoding stops here.
    pub fn is_error(&self) -> bool {
        !matches!(self, Step::Message(_))
    }
}

/// What a buffer holding `buf` must yield for one `decode_frame` call with
/// cap `cap`, computed from the specification (`docs/protocol.md`) rather
/// than from the decoder: `Ok(Some(body_len))`, `Ok(None)` or the error.
pub fn expected_frame(buf: &[u8], cap: u32) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.get(..FRAME_HEADER_LEN) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > cap {
        return Err(FrameError::TooLarge { len, max: cap });
    }
    let len = len as usize;
    if buf.len() - FRAME_HEADER_LEN < len {
        return Ok(None);
    }
    Ok(Some(len))
}

/// Decodes a whole stream with the oracle framer, up to the first error or
/// the first incomplete frame. Returns the steps and the bytes consumed by
/// whole frames (an error consumes nothing).
pub fn reference_decode(wire: &[u8], cap: u32) -> (Vec<Step>, usize) {
    let mut steps = Vec::new();
    let mut at = 0;
    loop {
        let rest = &wire[at..];
        match expected_frame(rest, cap) {
            Ok(None) => return (steps, at),
            Err(e) => {
                steps.push(Step::Frame(e));
                return (steps, at);
            }
            Ok(Some(len)) => {
                let body = &rest[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len];
                match Message::decode(Bytes::copy_from_slice(body)) {
                    Ok(msg) => steps.push(Step::Message(msg)),
                    Err(e) => {
                        steps.push(Step::Decode(e));
                        return (steps, at);
                    }
                }
                at += FRAME_HEADER_LEN + len;
            }
        }
    }
}

/// A xorshift generator seeded from one input byte: the fuzzer mutates the
/// byte, and with it the whole chunking.
#[derive(Clone, Debug)]
pub struct Plan(u32);

impl Plan {
    /// A plan for `seed`; seed 0 is a valid plan too.
    pub fn new(seed: u8) -> Self {
        Plan(u32::from(seed).wrapping_mul(0x9e37_79b9) | 1)
    }

    /// The next pseudo-random number.
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// A chunk length in `1..=max`.
    pub fn chunk_len(&mut self, max: usize) -> usize {
        1 + (self.next_u32() as usize) % max
    }
}

/// Splits `wire` into chunks: one byte at a time for seed 0, otherwise
/// seeded lengths in `1..=max_chunk`.
pub fn chunks(wire: &[u8], seed: u8, max_chunk: usize) -> Vec<&[u8]> {
    let mut plan = Plan::new(seed);
    let mut out = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let n = if seed == 0 {
            1
        } else {
            plan.chunk_len(max_chunk).min(rest.len())
        };
        let (head, tail) = rest.split_at(n);
        out.push(head);
        rest = tail;
    }
    out
}
