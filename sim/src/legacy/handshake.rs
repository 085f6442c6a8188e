//! The legacy node's handshakes, both directions, on the real wire
//! protocol: the dialer sends `Hello` and awaits `HelloAccept` or
//! `HelloReject`; the acceptor reads `Hello` and answers. Plus the server's
//! refusal of a duplicate. No admission decision is made here.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use peerlink::transport::Link;

use crate::transport::{HostReader, HostWriter};
use peerlink::wire::{decode_frame, Hello, Message, Reason};
use peerlink_core::handshake::{check_hello, MAX_HANDSHAKE_FRAME};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// How long a closing frame may take to write before the socket is dropped.
pub(crate) const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a handshake failed.
#[derive(Debug)]
pub(crate) enum Failure {
    Io(std::io::Error),
    Closed,
    Malformed,
    Rejected(Reason),
    Refused(Reason),
    Unexpected,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Io(e) => write!(f, "io: {e}"),
            Failure::Closed => f.write_str("closed during handshake"),
            Failure::Malformed => f.write_str("malformed handshake frame"),
            Failure::Rejected(r) => write!(f, "rejected: {r}"),
            Failure::Refused(r) => write!(f, "refused: {r}"),
            Failure::Unexpected => f.write_str("unexpected handshake message"),
        }
    }
}

/// A connection whose handshake finished.
pub(crate) struct Shaken {
    pub(crate) reader: HostReader,
    pub(crate) writer: HostWriter,
    /// Bytes read past the handshake.
    pub(crate) buf: BytesMut,
    pub(crate) local_addr: SocketAddr,
    pub(crate) remote_addr: SocketAddr,
    pub(crate) remote: Hello,
}

async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    max: u32,
) -> Result<Message, Failure> {
    loop {
        let frame = decode_frame(buf, max.min(MAX_HANDSHAKE_FRAME));
        if let Some(body) = frame.map_err(|_| Failure::Malformed)? {
            return Message::decode(body).map_err(|_| Failure::Malformed);
        }
        if reader.read_buf(buf).await.map_err(Failure::Io)? == 0 {
            return Err(Failure::Closed);
        }
    }
}

async fn write_message(writer: &mut HostWriter, msg: &Message) -> Result<(), Failure> {
    writer
        .write_all(&msg.to_frame())
        .await
        .map_err(Failure::Io)?;
    writer.flush().await.map_err(Failure::Io)
}

fn shaken(link: Link<HostReader, HostWriter>, buf: BytesMut, remote: Hello) -> Shaken {
    Shaken {
        reader: link.reader,
        writer: link.writer,
        buf,
        local_addr: link.local_addr,
        remote_addr: link.remote_addr,
        remote,
    }
}

/// Dialer: `Hello`, then `HelloAccept` or `HelloReject`.
pub(crate) async fn dial(
    mut link: Link<HostReader, HostWriter>,
    local: Hello,
    max: u32,
) -> Result<Shaken, Failure> {
    write_message(&mut link.writer, &Message::Hello(local)).await?;
    let mut buf = BytesMut::new();
    match read_message(&mut link.reader, &mut buf, max).await? {
        Message::HelloAccept(remote) => {
            check_hello(&local, &remote).map_err(Failure::Refused)?;
            Ok(shaken(link, buf, remote))
        }
        Message::HelloReject(reason) => Err(Failure::Rejected(reason)),
        _ => Err(Failure::Unexpected),
    }
}

/// Acceptor: `Hello` in, `HelloAccept` out.
pub(crate) async fn accept(
    mut link: Link<HostReader, HostWriter>,
    local: Hello,
    max: u32,
) -> Result<Shaken, Failure> {
    let mut buf = BytesMut::new();
    let Message::Hello(remote) = read_message(&mut link.reader, &mut buf, max).await? else {
        return Err(Failure::Unexpected);
    };
    if let Err(reason) = check_hello(&local, &remote) {
        let _ = write_message(&mut link.writer, &Message::HelloReject(reason)).await;
        return Err(Failure::Refused(reason));
    }
    write_message(&mut link.writer, &Message::HelloAccept(local)).await?;
    Ok(shaken(link, buf, remote))
}

/// Refuses an accepted stream: best-effort `HelloReject`, then close.
pub(crate) async fn reject(link: Link<HostReader, HostWriter>, reason: Reason) {
    let mut writer = link.writer;
    let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, async {
        write_message(&mut writer, &Message::HelloReject(reason)).await?;
        writer.shutdown().await.map_err(Failure::Io)
    })
    .await;
}
