//! Wire protocol v1, bytes in and typed messages out; no I/O here.
//!
//! `frame` splits a byte stream into length-prefixed frames, `message` turns
//! one frame into a [`Message`] and back, `reason` holds the close and reject
//! codes. The byte-level specification is `docs/protocol.md`; golden-byte
//! tests pin it.

mod frame;
mod message;
mod reason;

pub use frame::{decode_frame, encode_frame, FRAME_HEADER_LEN};
pub use message::{Hello, Message, MessageType, HELLO_LEN, MAGIC, PROTOCOL_VERSION};
pub use reason::Reason;
