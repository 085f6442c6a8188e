//! The admin endpoint: an axum [`Router`] served over hyper's HTTP/1.1 on
//! loopback. `GET /peers` answers the peer table as JSON, `GET /metrics`
//! Prometheus text, `GET /health` a one-line JSON liveness answer; any other
//! path is 404, another method on a served path 405.
//!
//! Everything is bounded: the request head ([`MAX_HEADER_BYTES`], else 431)
//! and body ([`MAX_BODY_BYTES`], else 413), the time to send the request head
//! ([`REQUEST_DEADLINE`], else the connection is closed unanswered), the time
//! to answer ([`REQUEST_DEADLINE`], else 408), and the connections served at
//! once ([`MAX_ADMIN_CONNECTIONS`]; more are closed unanswered). One request
//! per connection. The handlers only read a snapshot: they never touch a
//! peer connection. [`serve`] stops accepting when its shutdown future
//! completes and lets requests in flight finish, for at most
//! [`SHUTDOWN_GRACE`].

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use peerlink::manager::ConnectionManager;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::metrics::{render_metrics, CONTENT_TYPE};
use crate::views::{HealthView, PeersView};

/// Largest request head hyper buffers; a longer one is answered 431.
/// (8 KiB is also the smallest buffer hyper accepts.)
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Largest request body; the endpoint takes none, so a `Content-Length`
/// above this is answered 413 before anything is read.
pub const MAX_BODY_BYTES: usize = 1024;
/// Time allowed to send a request head, and, separately, to answer it.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Admin connections served at once; more are closed without an answer.
pub const MAX_ADMIN_CONNECTIONS: usize = 32;
/// How long [`serve`] waits for requests in flight after its shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
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

/// The routes, without limits: `/peers`, `/metrics`, `/health`, and a 404
/// fallback. Another method on a served path is answered 405 by axum.
pub fn routes(state: AdminState) -> Router {
    Router::new()
        .route("/peers", get(peers))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .fallback(not_found)
        .with_state(state)
}

/// `router` with the per-request bounds: a body limit ([`MAX_BODY_BYTES`],
/// 413) and an answer deadline (`deadline`, 408).
pub fn with_limits(router: Router, deadline: Duration) -> Router {
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            deadline,
        ))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
}

/// The admin endpoint's full service: [`routes`] with [`with_limits`].
pub fn router(state: AdminState) -> Router {
    with_limits(routes(state), REQUEST_DEADLINE)
}

async fn peers(State(state): State<AdminState>) -> Response {
    let app = state.app_messages.load(Ordering::Relaxed);
    let snapshot = state.manager.snapshot();
    let view = PeersView::new(&snapshot, state.manager.listen_addr(), app);
    json(serde_json::to_string_pretty(&view))
}

/// A JSON answer, one trailing newline (for `curl` at a terminal).
fn json(encoded: serde_json::Result<String>) -> Response {
    match encoded {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body + "\n").into_response(),
        Err(error) => {
            tracing::warn!(%error, "cannot encode JSON");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode JSON\n").into_response()
        }
    }
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let app = state.app_messages.load(Ordering::Relaxed);
    match render_metrics(&state.manager.snapshot(), app) {
        Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(error) => {
            tracing::warn!(%error, "cannot encode metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics\n").into_response()
        }
    }
}

async fn health(State(state): State<AdminState>) -> Response {
    json(serde_json::to_string(&HealthView::new(
        &state.manager.snapshot(),
    )))
}

async fn not_found() -> (StatusCode, &'static str) {
    (
        StatusCode::NOT_FOUND,
        "not found: try /peers, /metrics or /health\n",
    )
}

/// Serves `router` on `listener` until `shutdown` completes, then waits
/// (at most [`SHUTDOWN_GRACE`]) for the requests in flight.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    let permits = Arc::new(Semaphore::new(MAX_ADMIN_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(REQUEST_DEADLINE)
        .max_buf_size(MAX_HEADER_BYTES)
        .keep_alive(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
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
        let service = TowerToHyperService::new(router.clone());
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(error) = connection.await {
                tracing::debug!(%remote, %error, "admin connection ended");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("admin requests still in flight at shutdown");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn request(method: &str, path: &str) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap()
    }

    /// A handler slower than the deadline is answered 408 exactly at the
    /// deadline (virtual time).
    #[tokio::test(start_paused = true)]
    async fn slow_answer_is_408_at_the_deadline() {
        let slow = Router::new().route("/slow", get(std::future::pending::<()>));
        let service = with_limits(slow, Duration::from_millis(250));
        let start = tokio::time::Instant::now();
        let answer = service.oneshot(request("GET", "/slow")).await.unwrap();
        assert_eq!(answer.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(start.elapsed(), Duration::from_millis(250));
    }

    /// A request announcing a body over the limit is answered 413; one at
    /// the limit reaches the handler.
    #[tokio::test]
    async fn body_over_the_limit_is_413() {
        let ok = Router::new().route("/x", get(|| async { "ok" }));
        let service = with_limits(ok, REQUEST_DEADLINE);
        for (length, want) in [
            (MAX_BODY_BYTES + 1, StatusCode::PAYLOAD_TOO_LARGE),
            (MAX_BODY_BYTES, StatusCode::OK),
        ] {
            let body = vec![b'a'; length];
            let req = Request::builder()
                .uri("/x")
                .header(header::CONTENT_LENGTH, length)
                .body(Body::from(body))
                .unwrap();
            let answer = service.clone().oneshot(req).await.unwrap();
            assert_eq!(answer.status(), want, "{length} bytes");
        }
    }

    /// Shutdown stops accepting at once, lets the request in flight finish
    /// with its answer, and then `serve` returns.
    #[tokio::test]
    async fn shutdown_finishes_the_request_in_flight() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::sync::{oneshot, Notify};

        let started = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let (s, r) = (started.clone(), release.clone());
        let slow = Router::new().route(
            "/slow",
            get(move || async move {
                s.notify_one();
                r.notified().await;
                "done"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, slow, async move {
            let _ = stopped.await;
        }));
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        started.notified().await;
        stop.send(()).unwrap();
        // The listener closes: a new connection is refused (bounded poll).
        let mut refused = false;
        for _ in 0..1000 {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                refused = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(refused, "listener still open after shutdown");
        assert!(
            !server.is_finished(),
            "serve returned with a request in flight"
        );
        release.notify_one();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\ndone"), "{answer}");
        server.await.unwrap();
    }
}
