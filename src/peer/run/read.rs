//! The read buffer's size and reuse: how much room each read gets, and
//! the buffers kept while the owner still holds frames split off them.

use std::collections::VecDeque;

use bytes::BytesMut;

/// Spare room reserved in the read buffer before a read while the
/// connection is quiet...
const MIN_READ_CHUNK: usize = 1024;
/// ...and once a read has filled it: room for several frames of a burst, so
/// a new buffer is not needed for every frame split off...
const BUSY_READ_CHUNK: usize = 8 * 1024;
/// ...doubling after each read that fills it, up to this (room for a few
/// 64 KiB frames, so a bulk transfer rarely copies a partial frame into a
/// new buffer); halving after each read that used under a quarter of it,
/// and back to the minimum after a read of a few control frames.
const MAX_READ_CHUNK: usize = 256 * 1024;
/// Read buffers kept for reuse while the owner still holds their frames
/// (each under `2 * MAX_READ_CHUNK`, so at most 8 MiB per connection in a
/// bulk transfer; none once its reads are smaller).
const SPARE_READ_BUFFERS: usize = 16;

/// How much spare room the read buffer gets before each read: small while
/// the connection is quiet (an idle peer costs little memory), growing
/// while reads fill it (a bulk transfer makes few large reads, and a frame
/// larger than one read is assembled in O(log n) reallocations, not O(n)).
///
/// It also keeps the read buffers it had to give up while their frames
/// were still with the owner, and reuses one once the owner has dropped
/// them all: a busy connection cycles through a few allocations instead of
/// making a new one per read (with glibc, buffers this large are mapped
/// and unmapped each time).
#[derive(Debug)]
pub(super) struct ReadChunk {
    size: usize,
    spares: VecDeque<BytesMut>,
    /// The buffer grew for a large frame: too big to keep as a spare.
    grown: bool,
}

impl Default for ReadChunk {
    fn default() -> Self {
        ReadChunk {
            size: MIN_READ_CHUNK,
            spares: VecDeque::new(),
            grown: false,
        }
    }
}

impl ReadChunk {
    /// Makes room for the next read; returns the spare room it has.
    pub(super) fn prepare(&mut self, buf: &mut BytesMut) -> usize {
        let want = self.size;
        if buf.capacity() - buf.len() >= want || buf.try_reclaim(want) {
            return buf.capacity() - buf.len();
        }
        if buf.len() >= want {
            // A large frame being assembled: grow it.
            buf.reserve(want);
            self.grown = true;
            return buf.capacity() - buf.len();
        }
        // The buffer's frames are still with the owner: carry the partial
        // frame over to a spare the owner is done with, or a new buffer.
        let need = buf.len() + want;
        let reusable = self.spares.iter_mut().position(|s| s.try_reclaim(need));
        let mut next = reusable
            .and_then(|i| self.spares.remove(i))
            .unwrap_or_else(|| BytesMut::with_capacity(need));
        next.extend_from_slice(buf);
        let mut spent = std::mem::replace(buf, next);
        if std::mem::take(&mut self.grown) {
            // Its allocation may be as large as a frame: let it go.
            return buf.capacity() - buf.len();
        }
        spent.clear();
        if self.spares.len() == SPARE_READ_BUFFERS {
            self.spares.pop_front();
        }
        self.spares.push_back(spent);
        buf.capacity() - buf.len()
    }

    /// Adapts to a read of `n` bytes into `spare` bytes of room.
    pub(super) fn update(&mut self, n: usize, spare: usize) {
        if n >= spare {
            self.size = (self.size * 2).clamp(BUSY_READ_CHUNK, MAX_READ_CHUNK);
        } else if self.size > BUSY_READ_CHUNK && n < self.size / 4 {
            self.size /= 2;
        } else if self.size == BUSY_READ_CHUNK && n < MIN_READ_CHUNK / 4 {
            // Only control-sized reads: quiet again.
            self.size = MIN_READ_CHUNK;
        }
    }

    /// Drops the spares once reads are no longer bulk, and, once quiet
    /// again, a buffer a burst left large (it holds no partial frame), so
    /// the next read starts a small one.
    pub(super) fn release_if_idle(&mut self, buf: &mut BytesMut) {
        if self.size > BUSY_READ_CHUNK {
            return;
        }
        self.spares.clear();
        if self.size == MIN_READ_CHUNK && buf.is_empty() && buf.capacity() > 2 * MIN_READ_CHUNK {
            *buf = BytesMut::new();
            self.grown = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The read reservation jumps to the busy size when a read fills it,
    /// doubles while reads fill it, up to the cap, and falls back to the
    /// minimum while reads are small, freeing the large buffer.
    #[test]
    fn read_chunk_adapts() {
        let mut chunk = ReadChunk::default();
        let mut buf = BytesMut::new();
        let spare = chunk.prepare(&mut buf);
        chunk.update(spare, spare);
        assert_eq!(chunk.size, BUSY_READ_CHUNK);
        for _ in 0..10 {
            let spare = chunk.prepare(&mut buf);
            assert!(spare >= chunk.size);
            chunk.update(spare, spare);
        }
        assert_eq!(chunk.size, MAX_READ_CHUNK);
        for _ in 0..10 {
            chunk.update(21, MAX_READ_CHUNK);
        }
        assert_eq!(chunk.size, MIN_READ_CHUNK);
        buf.reserve(MAX_READ_CHUNK);
        chunk.release_if_idle(&mut buf);
        assert_eq!(buf.capacity(), 0);
    }

    /// A read buffer whose frames the owner still holds is set aside with
    /// the partial frame carried over; once those frames are dropped, the
    /// next buffer needed is that same allocation, not a new one. Quiet
    /// again, the spares are let go.
    #[test]
    fn read_buffers_are_reused_once_their_frames_are_dropped() {
        let mut chunk = ReadChunk {
            size: BUSY_READ_CHUNK,
            ..ReadChunk::default()
        };
        let mut buf = BytesMut::with_capacity(BUSY_READ_CHUNK);
        chunk.prepare(&mut buf);
        assert!(chunk.spares.is_empty());
        let first = buf.as_ptr();
        // A whole frame the owner keeps, then half of the next one.
        buf.extend_from_slice(&[1u8; BUSY_READ_CHUNK - 10]);
        let held = buf.split_to(BUSY_READ_CHUNK - 20).freeze();
        assert_eq!(buf.len(), 10);
        chunk.prepare(&mut buf);
        assert_ne!(buf.as_ptr(), first, "the held frame's buffer is not reused");
        assert_eq!(buf[..], [1u8; 10]);
        assert_eq!(chunk.spares.len(), 1);
        // The owner drops the frame; the next buffer needed, once this one
        // is used up too, is the first.
        drop(held);
        buf.extend_from_slice(&[2u8; BUSY_READ_CHUNK - 100]);
        let second = buf.split_to(buf.len()).freeze();
        assert!(buf.capacity() < BUSY_READ_CHUNK);
        chunk.prepare(&mut buf);
        assert_eq!(buf.as_ptr(), first);
        assert_eq!(chunk.spares.len(), 1);
        drop(second);
        chunk.size = MIN_READ_CHUNK;
        chunk.release_if_idle(&mut buf);
        assert!(chunk.spares.is_empty());

        // A buffer grown to assemble a large frame is not kept.
        chunk.size = BUSY_READ_CHUNK;
        let mut buf = BytesMut::new();
        for _ in 0..4 {
            chunk.prepare(&mut buf);
            let spare = buf.capacity() - buf.len();
            buf.extend_from_slice(&vec![3u8; spare]);
        }
        assert_eq!(chunk.spares.len(), 1, "only the first, small buffer");
        // The owner holds the large frame and the next one; the buffer is
        // used up, so the next read needs another.
        let large = buf.split_to(buf.len() - 10).freeze();
        let next = buf.split_to(10).freeze();
        assert_eq!(buf.capacity(), 0);
        chunk.prepare(&mut buf);
        assert_eq!(chunk.spares.len(), 1, "the grown buffer was let go");
        drop((large, next));
    }
}
