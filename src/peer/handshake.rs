//! The handshake, both directions: the dialer sends `Hello` and awaits
//! `HelloAccept` or `HelloReject`; the acceptor reads `Hello`, validates it,
//! asks its owner to admit the peer, and answers. Validation is a pure
//! function of the core ([`check_hello`]) so it is tested without sockets.

use std::time::Duration;

use bytes::BytesMut;
use peerlink_core::handshake::{check_hello, MAX_HANDSHAKE_FRAME};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{DecodeError, HandshakeError};
use crate::wire::{decode_frame, Hello, Message, Reason};

/// How long a best-effort closing frame (reject, goodbye) may take to write
/// before the connection is dropped anyway; a peer that does not read must
/// not hold a task.
pub(crate) const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Reads the next whole message, keeping any bytes that follow it in `buf`
/// for the message loop.
pub(crate) async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    max_frame_len: u32,
) -> Result<Message, HandshakeError> {
    let cap = max_frame_len.min(MAX_HANDSHAKE_FRAME);
    loop {
        if let Some(body) = decode_frame(buf, cap)? {
            return Ok(Message::decode(body)?);
        }
        if reader.read_buf(buf).await? == 0 {
            return Err(HandshakeError::Closed);
        }
    }
}

/// Writes one message and flushes.
pub(crate) async fn write_message<W: AsyncWrite + Unpin>(
    writer: &mut W,
    msg: &Message,
) -> std::io::Result<()> {
    writer.write_all(&msg.to_frame()).await?;
    writer.flush().await
}

/// Writes a closing message without waiting long for it.
pub(crate) async fn write_close<W: AsyncWrite + Unpin>(writer: &mut W, msg: Message) {
    let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, async {
        write_message(writer, &msg).await?;
        writer.shutdown().await
    })
    .await;
}

/// Dialer side, after TCP connect: sends our hello, returns the acceptor's.
pub(crate) async fn dial<R, W>(
    reader: &mut R,
    writer: &mut W,
    buf: &mut BytesMut,
    local: &Hello,
    max_frame_len: u32,
) -> Result<Hello, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    write_message(writer, &Message::Hello(*local)).await?;
    match read_message(reader, buf, max_frame_len).await? {
        Message::HelloAccept(remote) => {
            if let Err(reason) = check_hello(local, &remote) {
                write_close(writer, Message::Goodbye(reason)).await;
                return Err(HandshakeError::Refused(reason));
            }
            Ok(remote)
        }
        Message::HelloReject(reason) => Err(HandshakeError::Rejected(reason)),
        other => {
            write_close(writer, Message::Goodbye(Reason::ProtocolViolation)).await;
            Err(HandshakeError::Unexpected(other.message_type()))
        }
    }
}

/// Acceptor side: reads the dialer's hello, validates it, asks `admit`, and
/// answers with our hello or a reject carrying the reason.
pub(crate) async fn accept<R, W>(
    reader: &mut R,
    writer: &mut W,
    buf: &mut BytesMut,
    local: &Hello,
    max_frame_len: u32,
    admit: impl FnOnce(&Hello) -> Result<(), Reason>,
) -> Result<Hello, HandshakeError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let remote = match read_message(reader, buf, max_frame_len).await {
        Ok(Message::Hello(remote)) => remote,
        Ok(other) => {
            let reason = Reason::ProtocolViolation;
            write_close(writer, Message::HelloReject(reason)).await;
            return Err(HandshakeError::Unexpected(other.message_type()));
        }
        // Not our protocol at all: nothing useful to say to it.
        Err(e @ HandshakeError::Decode(DecodeError::BadMagic(_))) => return Err(e),
        Err(e @ (HandshakeError::Io(_) | HandshakeError::Closed)) => return Err(e),
        Err(e) => {
            write_close(writer, Message::HelloReject(e.reason())).await;
            return Err(e);
        }
    };
    if let Err(reason) = check_hello(local, &remote).and_then(|()| admit(&remote)) {
        write_close(writer, Message::HelloReject(reason)).await;
        return Err(HandshakeError::Refused(reason));
    }
    write_message(writer, &Message::HelloAccept(*local)).await?;
    Ok(remote)
}
