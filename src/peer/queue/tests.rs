//! The send queue's unit tests: encoding and limits, batches, finishing
//! and closing, and the line of waiters.

use bytes::BytesMut;

use super::*;
use crate::wire::Message;

fn encoded(payloads: &[Bytes]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for p in payloads {
        Message::App(p.clone()).encode(&mut out);
    }
    out.to_vec()
}

fn concat(batch: &Batch) -> Vec<u8> {
    let mut out = Vec::new();
    for (run, payload) in batch.runs() {
        out.extend_from_slice(run);
        out.extend_from_slice(payload);
    }
    out
}

#[tokio::test]
async fn batch_holds_the_encoded_frames_in_order_sharing_large_payloads() {
    let q = SendQueue::new(16, 1 << 20);
    let small = Bytes::from(vec![1u8; 10]);
    let large = Bytes::from(vec![2u8; SHARE_AT]);
    let last = Bytes::from(vec![3u8; 5]);
    let ping = Message::Ping {
        nonce: 1,
        timestamp_ms: 2,
    }
    .to_frame();
    q.push_app(small.clone()).unwrap();
    q.push_app(large.clone()).unwrap();
    q.push_control(&ping).unwrap();
    q.push_app(last.clone()).unwrap();
    let mut batch = Batch::default();
    assert_eq!(q.take(&mut batch).await, Next::Write);
    let mut expected = encoded(&[small, large.clone()]);
    expected.extend_from_slice(&ping);
    expected.extend_from_slice(&encoded(&[last]));
    assert_eq!(concat(&batch), expected);
    assert_eq!(batch.len(), expected.len());
    let shared = batch.runs().find(|(_, p)| !p.is_empty()).unwrap().1;
    assert_eq!(shared.as_ptr(), large.as_ptr());
}

#[test]
fn limits_count_frames_and_bytes_and_free_when_taken() {
    let frame = FRAME_HEADER_LEN + 1 + 100;
    let q = SendQueue::new(3, 2 * frame);
    let p = Bytes::from(vec![0u8; 100]);
    q.push_app(p.clone()).unwrap();
    q.push_app(p.clone()).unwrap();
    assert_eq!(q.push_app(p.clone()).unwrap_err().0, Refused::Full);
    let q = SendQueue::new(2, 1 << 20);
    q.push_app(p.clone()).unwrap();
    q.push_app(p.clone()).unwrap();
    assert_eq!(q.push_app(p.clone()).unwrap_err().0, Refused::Full);
    let mut batch = Batch::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(q.take(&mut batch)), Next::Write);
    // Taken: the queue has room again while the writer writes.
    q.push_app(p.clone()).unwrap();
    q.push_app(p.clone()).unwrap();
    assert_eq!(q.push_app(p).unwrap_err().0, Refused::Full);
}

/// A batch queues the prefix that fits, in order, and nothing while a
/// sender waits for room.
#[tokio::test]
async fn a_batch_queues_what_fits_in_order() {
    let q = SendQueue::new(3, 1 << 20);
    let p: Vec<Bytes> = (0u8..5).map(|i| Bytes::from(vec![i; 8])).collect();
    assert_eq!(q.push_app_many(&p), Ok(3));
    assert_eq!(q.push_app_many(&p[3..]), Err(Refused::Full));
    let mut batch = Batch::default();
    assert_eq!(q.take(&mut batch).await, Next::Write);
    assert_eq!(concat(&batch), encoded(&p[..3]));
    SendQueue::recycle(&mut batch);
    assert_eq!(q.push_app_many(&[]), Ok(0));
    let (q, waiting) = full_queue_with_waiter().await;
    assert_eq!(q.push_app_many(&p[..1]), Err(Refused::Full));
    q.close();
    assert_eq!(waiting.await.unwrap(), Err(Refused::Closed));
    assert_eq!(q.push_app_many(&p[..1]), Err(Refused::Closed));
}

#[test]
fn an_empty_queue_takes_one_frame_larger_than_its_byte_limit() {
    let q = SendQueue::new(8, 100);
    let big = Bytes::from(vec![0u8; 1000]);
    q.push_app(big.clone()).unwrap();
    assert_eq!(q.push_app(big).unwrap_err().0, Refused::Full);
}

#[test]
fn control_bytes_do_not_count_against_the_byte_limit() {
    let q = SendQueue::new(8, 100);
    q.push_control(&[0u8; 21]).unwrap();
    // The queue holds no application frame: one of any size fits.
    q.push_app(Bytes::from(vec![0u8; 1000])).unwrap();
    assert_eq!(
        q.push_app(Bytes::from_static(b"x")).unwrap_err().0,
        Refused::Full
    );
}

#[test]
fn control_frames_have_their_own_room() {
    let q = SendQueue::new(1, 100);
    q.push_app(Bytes::from_static(b"x")).unwrap();
    let pong = Message::Pong {
        nonce: 1,
        timestamp_ms: 2,
    }
    .to_frame();
    for _ in 0..CONTROL_FRAMES {
        q.push_control(&pong).unwrap();
    }
    assert_eq!(q.push_control(&pong), Err(Refused::Full));
}

/// A full one-frame queue and a sender waiting to queue `b"b"`.
async fn full_queue_with_waiter() -> (SendQueue, tokio::task::JoinHandle<Result<(), Refused>>) {
    let q = SendQueue::new(1, 1 << 20);
    q.push_app(Bytes::from_static(b"a")).unwrap();
    let sender = q.clone();
    let waiting = tokio::spawn(async move { sender.push_app_wait(Bytes::from_static(b"b")).await });
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    assert!(!waiting.is_finished());
    (q, waiting)
}

#[tokio::test]
async fn a_waiting_sender_resumes_when_the_writer_takes_the_queue() {
    let (q, waiting) = full_queue_with_waiter().await;
    let mut batch = Batch::default();
    assert_eq!(q.take(&mut batch).await, Next::Write);
    SendQueue::recycle(&mut batch);
    assert_eq!(waiting.await.unwrap(), Ok(()));
    assert_eq!(q.take(&mut batch).await, Next::Write);
    assert_eq!(concat(&batch), encoded(&[Bytes::from_static(b"b")]));
}

#[tokio::test]
async fn close_stops_the_writer_and_wakes_waiting_senders() {
    let (q, waiting) = full_queue_with_waiter().await;
    q.close();
    assert_eq!(waiting.await.unwrap(), Err(Refused::Closed));
    assert!(q.is_closed());
    assert_eq!(q.take(&mut Batch::default()).await, Next::Stop);
    assert_eq!(
        q.push_app(Bytes::from_static(b"c")).unwrap_err().0,
        Refused::Closed
    );
}

#[tokio::test]
async fn finish_hands_over_what_is_queued_and_the_goodbye_then_refuses_more() {
    let q = SendQueue::new(8, 1 << 20);
    q.push_app(Bytes::from_static(b"a")).unwrap();
    q.finish(Some(b"bye")).unwrap();
    assert_eq!(q.push_control(b"x"), Err(Refused::Closed));
    assert_eq!(
        q.push_app(Bytes::from_static(b"b")).unwrap_err().0,
        Refused::Closed
    );
    let mut batch = Batch::default();
    assert_eq!(q.take(&mut batch).await, Next::Finish);
    let mut expected = encoded(&[Bytes::from_static(b"a")]);
    expected.extend_from_slice(b"bye");
    assert_eq!(concat(&batch), expected);
    SendQueue::recycle(&mut batch);
    assert_eq!(q.take(&mut batch).await, Next::Finish);
}

/// The encoded length of an application frame of `n` payload bytes.
fn frame(n: usize) -> usize {
    FRAME_HEADER_LEN + 1 + n
}

/// Lets spawned tasks run until they park.
async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

fn wait_for(q: &SendQueue, payload: Bytes) -> tokio::task::JoinHandle<Result<(), Refused>> {
    let sender = q.clone();
    tokio::spawn(async move { sender.push_app_wait(payload).await })
}

#[tokio::test]
async fn waiters_are_admitted_in_arrival_order() {
    let small = |b| Bytes::from(vec![b; 10]);
    let large = Bytes::from(vec![2u8; 100]);
    // Two small frames queued: a small one still fits, the large one not.
    let q = SendQueue::new(8, frame(100) + frame(10));
    q.push_app(small(1)).unwrap();
    q.push_app(small(1)).unwrap();
    let first = wait_for(&q, large.clone());
    settle().await;
    assert!(!first.is_finished());
    // Would fit now, but waits behind the large waiter.
    let second = wait_for(&q, small(3));
    settle().await;
    assert!(!second.is_finished());
    // So does a sender that does not wait: it is refused.
    assert_eq!(q.push_app(small(4)).unwrap_err().0, Refused::Full);
    let mut batch = Batch::default();
    assert_eq!(q.take(&mut batch).await, Next::Write);
    assert_eq!(concat(&batch), encoded(&[small(1), small(1)]));
    SendQueue::recycle(&mut batch);
    assert_eq!(first.await.unwrap(), Ok(()));
    assert_eq!(second.await.unwrap(), Ok(()));
    assert_eq!(q.take(&mut batch).await, Next::Write);
    assert_eq!(concat(&batch), encoded(&[large, small(3)]));
}

#[tokio::test]
async fn a_stream_of_sends_cannot_starve_a_large_waiter() {
    let small = Bytes::from(vec![1u8; 10]);
    let large = Bytes::from(vec![2u8; 100]);
    // The large payload fits only into a queue without application frames.
    let q = SendQueue::new(8, frame(100));
    q.push_app(small.clone()).unwrap();
    let waiting = wait_for(&q, large.clone());
    settle().await;
    assert!(!waiting.is_finished());
    let mut batch = Batch::default();
    let mut taken = Vec::new();
    let mut sent = Vec::new();
    for _ in 0..3 {
        // The writer takes the queue; a sender that does not wait tries
        // at once, before the waiter runs.
        assert_eq!(q.take(&mut batch).await, Next::Write);
        taken.push(concat(&batch));
        SendQueue::recycle(&mut batch);
        sent.push(q.push_app(small.clone()).is_ok());
        settle().await;
    }
    // The room freed by the first take was the waiter's.
    assert_eq!(sent, [false, true, true]);
    assert_eq!(
        taken,
        [
            encoded(std::slice::from_ref(&small)),
            encoded(&[large]),
            encoded(&[small])
        ]
    );
    assert!(waiting.is_finished());
    assert_eq!(waiting.await.unwrap(), Ok(()));
}

#[tokio::test]
async fn a_cancelled_waiter_does_not_block_the_next() {
    let q = SendQueue::new(1, 1 << 20);
    q.push_app(Bytes::from_static(b"a")).unwrap();
    // Cancelled while waiting.
    let gone = wait_for(&q, Bytes::from_static(b"x"));
    settle().await;
    gone.abort();
    assert!(gone.await.unwrap_err().is_cancelled());
    // Woken by the take, then cancelled before it runs.
    let woken = wait_for(&q, Bytes::from_static(b"y"));
    let next = wait_for(&q, Bytes::from_static(b"b"));
    settle().await;
    let mut batch = Batch::default();
    assert_eq!(q.take(&mut batch).await, Next::Write);
    SendQueue::recycle(&mut batch);
    woken.abort();
    settle().await;
    assert!(woken.await.unwrap_err().is_cancelled());
    // The wake-up passed on to the next in line.
    assert!(next.is_finished());
    assert_eq!(next.await.unwrap(), Ok(()));
    assert_eq!(q.take(&mut batch).await, Next::Write);
    assert_eq!(concat(&batch), encoded(&[Bytes::from_static(b"b")]));
    // No waiter is left: a sender that does not wait is taken again.
    SendQueue::recycle(&mut batch);
    q.push_app(Bytes::from_static(b"c")).unwrap();
}

#[tokio::test]
async fn close_and_finish_wake_every_waiter_with_closed() {
    for finish in [false, true] {
        let q = SendQueue::new(1, 1 << 20);
        q.push_app(Bytes::from_static(b"a")).unwrap();
        let waiting: Vec<_> = (0..3)
            .map(|i| wait_for(&q, Bytes::from(vec![i; 10])))
            .collect();
        settle().await;
        assert!(waiting.iter().all(|w| !w.is_finished()));
        if finish {
            q.finish(None).unwrap();
        } else {
            q.close();
        }
        for w in waiting {
            assert_eq!(w.await.unwrap(), Err(Refused::Closed));
        }
    }
}
