//! Message types of protocol v1 and their byte layout (see `docs/protocol.md`).

use bytes::{BufMut, Bytes, BytesMut};

use super::error::DecodeError;
use super::frame::FRAME_HEADER_LEN;
use super::reason::Reason;
use crate::id::NodeId;

/// The four bytes every `Hello` starts with: `PLNK`.
pub const MAGIC: [u8; 4] = *b"PLNK";
/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// Payload bytes of a v1 `Hello` / `HelloAccept`.
pub const HELLO_LEN: usize = 4 + 2 + 4 + 16 + 2;

/// The one-byte type tag that opens every frame body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// Dialer's handshake.
    Hello = 0x01,
    /// Acceptor's positive answer, carrying its own hello fields.
    HelloAccept = 0x02,
    /// Acceptor's refusal with a reason.
    HelloReject = 0x03,
    /// Liveness probe.
    Ping = 0x04,
    /// Liveness answer.
    Pong = 0x05,
    /// Orderly close with a reason.
    Goodbye = 0x06,
    /// Opaque application bytes.
    App = 0x10,
}

/// The handshake fields both ends exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hello {
    /// Protocol version of the sender.
    pub version: u16,
    /// Network the sender belongs to; peers of different networks refuse each other.
    pub network_id: u32,
    /// The sender's random per-process id.
    pub node_id: NodeId,
    /// The port the sender accepts connections on (0: it does not listen).
    pub listen_port: u16,
}

/// One decoded protocol message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// Dialer's opening message.
    Hello(Hello),
    /// Acceptor's acceptance with its own fields.
    HelloAccept(Hello),
    /// Acceptor's refusal.
    HelloReject(Reason),
    /// Liveness probe: a fresh random nonce and the sender's timestamp.
    Ping {
        /// Random, unique among the sender's outstanding pings.
        nonce: u64,
        /// Milliseconds since the sender's connection opened.
        timestamp_ms: u64,
    },
    /// Answer to a ping, on the same connection, echoing both fields.
    Pong {
        /// The ping's nonce.
        nonce: u64,
        /// The ping's timestamp, echoed.
        timestamp_ms: u64,
    },
    /// Orderly close; the sender closes its side after it.
    Goodbye(Reason),
    /// Application payload; its meaning belongs to the embedding node.
    App(Bytes),
}

impl Message {
    /// The type tag of this message.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Hello(_) => MessageType::Hello,
            Message::HelloAccept(_) => MessageType::HelloAccept,
            Message::HelloReject(_) => MessageType::HelloReject,
            Message::Ping { .. } => MessageType::Ping,
            Message::Pong { .. } => MessageType::Pong,
            Message::Goodbye(_) => MessageType::Goodbye,
            Message::App(_) => MessageType::App,
        }
    }

    /// Length of the frame body (type byte plus payload).
    pub fn body_len(&self) -> usize {
        let payload = match self {
            Message::Hello(_) | Message::HelloAccept(_) => HELLO_LEN,
            Message::HelloReject(_) | Message::Goodbye(_) => 1,
            Message::Ping { .. } | Message::Pong { .. } => 16,
            Message::App(bytes) => bytes.len(),
        };
        // A buffer is at most `isize::MAX` bytes: this never saturates.
        payload.saturating_add(1)
    }

    /// Appends this message as one whole frame (prefix included) to `out`.
    ///
    /// # Panics
    /// If an `App` payload exceeds `u32::MAX - 1` bytes; senders check the
    /// configured frame cap first.
    // Local data only, and an internal invariant: see `# Panics`.
    #[allow(clippy::expect_used)]
    pub fn encode(&self, out: &mut BytesMut) {
        let body_len = u32::try_from(self.body_len()).expect("body bounded by frame cap");
        out.reserve(FRAME_HEADER_LEN.saturating_add(body_len as usize));
        out.put_u32(body_len);
        out.put_u8(self.message_type() as u8);
        match self {
            Message::Hello(h) | Message::HelloAccept(h) => {
                out.put_slice(&MAGIC);
                out.put_u16(h.version);
                out.put_u32(h.network_id);
                out.put_u128(h.node_id.0);
                out.put_u16(h.listen_port);
            }
            Message::HelloReject(r) | Message::Goodbye(r) => out.put_u8(r.code()),
            Message::Ping {
                nonce,
                timestamp_ms,
            }
            | Message::Pong {
                nonce,
                timestamp_ms,
            } => {
                out.put_u64(*nonce);
                out.put_u64(*timestamp_ms);
            }
            Message::App(bytes) => out.put_slice(bytes),
        }
    }

    /// This message as one frame in its own buffer.
    pub fn to_frame(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(FRAME_HEADER_LEN.saturating_add(self.body_len()));
        self.encode(&mut out);
        out.freeze()
    }

    /// Decodes one frame body (as returned by `decode_frame`).
    ///
    /// `App` payloads share the frame's buffer: no copy.
    pub fn decode(body: Bytes) -> Result<Message, DecodeError> {
        let (&tag, payload) = body.split_first().ok_or(DecodeError::EmptyBody)?;
        let bad_length = || DecodeError::BadLength {
            message_type: tag,
            len: payload.len(),
        };
        let reason = || match *payload {
            [code] => Ok(Reason::from_code(code)),
            _ => Err(bad_length()),
        };
        let msg = match tag {
            0x01 => Message::Hello(decode_hello(tag, payload)?),
            0x02 => Message::HelloAccept(decode_hello(tag, payload)?),
            0x03 => Message::HelloReject(reason()?),
            0x04 | 0x05 => {
                let (nonce, rest) = payload.split_first_chunk::<8>().ok_or_else(bad_length)?;
                let timestamp_ms = <&[u8; 8]>::try_from(rest).map_err(|_| bad_length())?;
                let (nonce, timestamp_ms) = (
                    u64::from_be_bytes(*nonce),
                    u64::from_be_bytes(*timestamp_ms),
                );
                if tag == 0x04 {
                    Message::Ping {
                        nonce,
                        timestamp_ms,
                    }
                } else {
                    Message::Pong {
                        nonce,
                        timestamp_ms,
                    }
                }
            }
            0x06 => Message::Goodbye(reason()?),
            // `split_first` succeeded: the body holds at least the tag byte.
            0x10 => Message::App(body.slice(1..)),
            other => return Err(DecodeError::UnknownType(other)),
        };
        Ok(msg)
    }
}

/// Reads a hello: magic and version first, so a peer of another protocol or
/// version gets the precise error even when the rest has another layout.
fn decode_hello(tag: u8, p: &[u8]) -> Result<Hello, DecodeError> {
    let bad_len = || DecodeError::BadLength {
        message_type: tag,
        len: p.len(),
    };
    let (magic, rest) = p.split_first_chunk::<4>().ok_or_else(bad_len)?;
    let (version, rest) = rest.split_first_chunk::<2>().ok_or_else(bad_len)?;
    if *magic != MAGIC {
        return Err(DecodeError::BadMagic(*magic));
    }
    let version = u16::from_be_bytes(*version);
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    if p.len() != HELLO_LEN {
        return Err(bad_len());
    }
    let (network_id, rest) = rest.split_first_chunk::<4>().ok_or_else(bad_len)?;
    let (node_id, rest) = rest.split_first_chunk::<16>().ok_or_else(bad_len)?;
    let listen_port = <&[u8; 2]>::try_from(rest).map_err(|_| bad_len())?;
    Ok(Hello {
        version,
        network_id: u32::from_be_bytes(*network_id),
        node_id: NodeId(u128::from_be_bytes(*node_id)),
        listen_port: u16::from_be_bytes(*listen_port),
    })
}
