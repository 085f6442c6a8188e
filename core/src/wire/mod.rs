//! Wire protocol v1, bytes in and typed messages out; no I/O here.
//!
//! `frame` splits a byte stream into length-prefixed frames, `message` turns
//! one frame into a [`Message`] and back, `reason` holds the close and reject
//! codes. The byte-level specification is `docs/protocol.md`; golden-byte
//! tests pin it.
//!
//! Every byte here may come from a hostile peer, so clippy refuses, outside
//! tests, any `unwrap`, `expect`, indexing or slicing that can panic, and
//! any arithmetic that can overflow; the two `expect`s on local data that
//! remain carry an `allow` and a `# Panics` section. Fuzzed by `fuzz/` and
//! property-tested by `tests/proptest_wire.rs`, both at the workspace root
//! (`docs/testing.md`).

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod error;
mod frame;
mod message;
mod reason;

pub use error::{DecodeError, FrameError};
pub use frame::{decode_frame, encode_frame, FRAME_HEADER_LEN};
pub use message::{Hello, Message, MessageType, HELLO_LEN, MAGIC, PROTOCOL_VERSION};
pub use reason::{Reason, UnknownReason};
