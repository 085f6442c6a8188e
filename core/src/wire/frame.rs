//! Length-prefixed framing: `u32` big-endian body length, then the body.
//!
//! The decoder is a pure function over a buffer, so the reader can call
//! `read_buf` (cancellation-safe: bytes land in the buffer or nowhere) and
//! then decode; a `select!` that drops the read never tears a frame
//! (origin bug #12).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::FrameError;

/// Bytes in the length prefix.
pub const FRAME_HEADER_LEN: usize = 4;

/// Takes one whole frame body off the front of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold a whole frame (read more
/// and call again). A prefix of zero or over `max_frame_len` is an error as
/// soon as the 4 prefix bytes are in: nothing is buffered for it.
pub fn decode_frame(buf: &mut BytesMut, max_frame_len: u32) -> Result<Option<Bytes>, FrameError> {
    let Some(prefix) = buf.first_chunk::<FRAME_HEADER_LEN>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*prefix);
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > max_frame_len {
        return Err(FrameError::TooLarge {
            len,
            max: max_frame_len,
        });
    }
    // `buf` holds the prefix, so the subtraction never saturates; comparing
    // body bytes rather than adding to the prefix cannot overflow anywhere.
    if buf.len().saturating_sub(FRAME_HEADER_LEN) < len as usize {
        // Nothing is reserved from the prefix alone: a peer that announces a
        // large frame must send its bytes before we hold memory for them.
        return Ok(None);
    }
    buf.advance(FRAME_HEADER_LEN);
    Ok(Some(buf.split_to(len as usize).freeze()))
}

/// Appends one frame holding `body` to `out`.
///
/// # Panics
/// If `body` is longer than `u32::MAX`; callers bound bodies by the frame cap
/// (a `u32`) before encoding, so this is an internal invariant.
// Local data only, and an internal invariant: see `# Panics`.
#[allow(clippy::expect_used)]
pub fn encode_frame(body: &[u8], out: &mut BytesMut) {
    let len = u32::try_from(body.len()).expect("frame body bounded by the u32 frame cap");
    out.reserve(FRAME_HEADER_LEN.saturating_add(body.len()));
    out.put_u32(len);
    out.put_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame split across reads decodes only once whole, and leaves the
    /// next frame's bytes in place.
    #[test]
    fn partial_then_whole() {
        let mut buf = BytesMut::new();
        let mut wire = BytesMut::new();
        encode_frame(b"abc", &mut wire);
        encode_frame(b"de", &mut wire);
        buf.extend_from_slice(&wire[..5]);
        assert_eq!(decode_frame(&mut buf, 16).unwrap(), None);
        buf.extend_from_slice(&wire[5..]);
        assert_eq!(
            decode_frame(&mut buf, 16).unwrap().as_deref(),
            Some(&b"abc"[..])
        );
        assert_eq!(
            decode_frame(&mut buf, 16).unwrap().as_deref(),
            Some(&b"de"[..])
        );
        assert_eq!(decode_frame(&mut buf, 16).unwrap(), None);
        assert!(buf.is_empty());
    }

    /// A prefix over the cap fails on the prefix alone, before any body.
    #[test]
    fn oversize_prefix_fails_early() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert_eq!(
            decode_frame(&mut buf, 1024),
            Err(FrameError::TooLarge {
                len: u32::MAX,
                max: 1024
            })
        );
        let mut empty = BytesMut::from(&[0, 0, 0, 0][..]);
        assert_eq!(decode_frame(&mut empty, 1024), Err(FrameError::Empty));
    }
}
