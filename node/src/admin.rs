//! The admin endpoint: a deliberately small HTTP/1.1 responder on tokio for
//! loopback use. `GET /peers` answers the peer table as JSON, `GET /metrics`
//! Prometheus text; anything else 404 (405 for a method other than GET).
//!
//! Everything is bounded: the request head ([`MAX_REQUEST_BYTES`]), the time
//! to read it and answer ([`REQUEST_DEADLINE`]), and the connections served
//! at once ([`MAX_ADMIN_CONNECTIONS`]; more are closed unanswered). One
//! request per connection, answered with `Connection: close`. The handler
//! only reads a snapshot: it never touches a peer connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use peerlink::manager::ConnectionManager;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::views::{render_metrics, PeersView};

/// Largest request head read; a longer one is answered 431.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Time allowed to read a request and write its answer.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Admin connections served at once; more are closed without an answer.
pub const MAX_ADMIN_CONNECTIONS: usize = 32;
/// Pause after a failed `accept` (out of descriptors), so the loop does not
/// spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// What the endpoint reads from.
#[derive(Clone, Debug)]
pub struct AdminState {
    /// The node's manager (snapshots only).
    pub manager: ConnectionManager,
    /// Application messages received, counted by the node's event loop.
    pub app_messages: Arc<AtomicU64>,
}

/// An answer: status, content type, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /peers`.
    Peers,
    /// `GET /metrics`.
    Metrics,
    /// A path we do not serve.
    NotFound,
    /// A method other than GET.
    MethodNotAllowed,
    /// Not an HTTP request line.
    BadRequest,
}

/// The route for a request head (`GET /peers HTTP/1.1\r\n...`). Query
/// strings are ignored.
pub fn route(head: &[u8]) -> Route {
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else {
        return Route::BadRequest;
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Route::BadRequest;
    }
    if method != "GET" {
        return Route::MethodNotAllowed;
    }
    match target.split('?').next() {
        Some("/peers") => Route::Peers,
        Some("/metrics") => Route::Metrics,
        _ => Route::NotFound,
    }
}

impl Response {
    fn text(status: u16, body: &str) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{body}\n"),
        }
    }

    /// The answer to `route`, rendered from the manager's table now.
    pub fn for_route(route: Route, state: &AdminState) -> Self {
        let app = state.app_messages.load(Ordering::Relaxed);
        match route {
            Route::Peers => {
                let view =
                    PeersView::new(&state.manager.snapshot(), state.manager.listen_addr(), app);
                match serde_json::to_string_pretty(&view) {
                    Ok(body) => Response {
                        status: 200,
                        content_type: "application/json",
                        body: body + "\n",
                    },
                    Err(e) => Response::text(500, &e.to_string()),
                }
            }
            Route::Metrics => Response {
                status: 200,
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body: render_metrics(&state.manager.snapshot(), app),
            },
            Route::NotFound => Response::text(404, "not found: try /peers or /metrics"),
            Route::MethodNotAllowed => Response::text(405, "method not allowed: use GET"),
            Route::BadRequest => Response::text(400, "bad request"),
        }
    }

    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            _ => "Internal Server Error",
        };
        let head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

/// Serves `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, state: AdminState) {
    let permits = Arc::new(Semaphore::new(MAX_ADMIN_CONNECTIONS));
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "admin accept failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%remote, "admin connection limit reached");
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let served = tokio::time::timeout(REQUEST_DEADLINE, handle(stream, &state)).await;
            if let Ok(Err(error)) = served {
                tracing::debug!(%remote, %error, "admin request failed");
            }
        });
    }
}

/// How reading a request head ended.
enum Head {
    Complete(Vec<u8>),
    TooLarge,
    Truncated,
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Head::Truncated);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return Ok(Head::Complete(buf));
        }
        if buf.len() > MAX_REQUEST_BYTES {
            return Ok(Head::TooLarge);
        }
    }
}

async fn handle(mut stream: TcpStream, state: &AdminState) -> std::io::Result<()> {
    let response = match read_head(&mut stream).await? {
        Head::Complete(head) => {
            let route = route(&head);
            tracing::debug!(?route, "admin request");
            Response::for_route(route, state)
        }
        Head::TooLarge => Response::text(431, "request head too large"),
        Head::Truncated => return Ok(()),
    };
    stream.write_all(&response.to_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Request lines map to routes; queries are ignored; anything that is
    /// not `GET <path> HTTP/1.x` is refused.
    #[test]
    fn routes() {
        let cases: [(&[u8], Route); 8] = [
            (b"GET /peers HTTP/1.1\r\nHost: x\r\n\r\n", Route::Peers),
            (b"GET /metrics?x=1 HTTP/1.0\r\n\r\n", Route::Metrics),
            (b"GET / HTTP/1.1\r\n\r\n", Route::NotFound),
            (b"GET /peers/1 HTTP/1.1\r\n\r\n", Route::NotFound),
            (b"POST /peers HTTP/1.1\r\n\r\n", Route::MethodNotAllowed),
            (b"GET /peers\r\n\r\n", Route::BadRequest),
            (b"GET peers HTTP/1.1\r\n\r\n", Route::BadRequest),
            (b"\xff\xfe /peers HTTP/1.1\r\n\r\n", Route::BadRequest),
        ];
        for (head, want) in cases {
            assert_eq!(route(head), want, "{}", String::from_utf8_lossy(head));
        }
    }

    /// The response head carries the status, the exact body length and
    /// `Connection: close`.
    #[test]
    fn response_bytes() {
        let bytes = Response::text(404, "nope").to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 5\r\nCache-Control: no-store\r\nConnection: close\r\n\r\nnope\n"
        );
    }
}
