//! What the framer and the decoder refuse: the errors of bytes that are
//! not a v1 frame or message.

/// The framing layer refused the byte stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A length prefix of zero: every frame has at least a type byte.
    #[error("empty frame (length prefix 0)")]
    Empty,
    /// A length prefix over the configured cap (`Config::max_frame_len`).
    #[error("frame of {len} bytes exceeds the cap of {max} bytes")]
    TooLarge {
        /// Announced body length.
        len: u32,
        /// Configured cap.
        max: u32,
    },
}

/// A frame body that is not a valid v1 message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame had no type byte.
    #[error("frame body is empty")]
    EmptyBody,
    /// A type byte this version does not define.
    #[error("unknown message type 0x{0:02x}")]
    UnknownType(u8),
    /// A fixed-size message with the wrong payload length.
    #[error("message type 0x{message_type:02x} with invalid payload length {len}")]
    BadLength {
        /// The type byte.
        message_type: u8,
        /// Payload length found.
        len: usize,
    },
    /// A hello that does not start with `PLNK`: not our protocol.
    #[error("bad magic {0:02x?}: the peer does not speak peerlink")]
    BadMagic([u8; 4]),
    /// A hello of a protocol version we do not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u16),
}
