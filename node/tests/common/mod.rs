//! Shared helpers for the `peerlink-node` process tests: spawning the binary
//! (killed on drop, its log kept in a file), a tiny blocking HTTP client for
//! the admin endpoint, bounded polling, the kernel's socket table via `ss`,
//! signals and the descriptor limit via libc.
//!
//! Real processes on real sockets cannot run on virtual time: every wait
//! here polls a condition against a deadline and fails with what it saw,
//! rather than sleeping and hoping.
//!
//! Every test binary uses a different subset, hence the `dead_code` allow.

#![allow(dead_code)]

pub mod peers;

pub use peers::PeersView;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// The node binary under test.
pub const NODE_BIN: &str = env!("CARGO_BIN_EXE_peerlink-node");

/// Time allowed for one admin request.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// A `peerlink-node` process; SIGKILLed and reaped on drop if still running.
pub struct NodeProcess {
    /// A name for messages ("n3").
    pub name: String,
    /// The child.
    pub child: Child,
    /// Where its stderr (the log) goes.
    pub log: PathBuf,
}

/// A fresh log file path for `name` under cargo's per-test temp dir
/// (a restarted node gets a new file, the old log is kept).
fn log_path(name: &str) -> PathBuf {
    static SPAWNED: AtomicUsize = AtomicUsize::new(0);
    let n = SPAWNED.fetch_add(1, Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("node-logs");
    std::fs::create_dir_all(&dir).expect("log dir");
    dir.join(format!("{name}-{}-{n}.log", std::process::id()))
}

impl NodeProcess {
    /// Spawns `program args` (the node binary, or a wrapper such as
    /// `ip netns exec NS <node>`), logging to a file.
    pub fn spawn_with(name: &str, program: &str, args: &[String]) -> NodeProcess {
        let log = log_path(name);
        let file = File::create(&log).expect("log file");
        let mut command = Command::new(program);
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        // If the test thread dies (a SIGKILLed test run), the node dies too
        // instead of lingering with its ports and namespace.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let child = command
            .args(args)
            .env("RUST_LOG", "info,peerlink=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {program}: {e}"));
        NodeProcess {
            name: name.to_string(),
            child,
            log,
        }
    }

    /// Spawns the node binary with `args`.
    pub fn spawn(name: &str, args: &[String]) -> NodeProcess {
        NodeProcess::spawn_with(name, NODE_BIN, args)
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits i32")
    }

    /// Sends `signal` (libc constant).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", self.name);
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} did not exit within {within:?}\n{}",
                    self.name,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// SIGTERMs every node, then checks each exits with code 0 within 10 s.
pub fn stop_all(nodes: &mut [NodeProcess]) {
    for n in nodes.iter() {
        n.signal(libc::SIGTERM);
    }
    for n in nodes.iter_mut() {
        let status = n.wait_exit(Duration::from_secs(10));
        assert_eq!(status.code(), Some(0), "{} exit\n{}", n.name, n.log_text());
    }
}

/// `GET path` on `addr`; returns the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)?;
    http_exchange(&mut stream, path)
}

/// One request and response on an open stream.
pub fn http_exchange(stream: &mut TcpStream, path: &str) -> std::io::Result<(u16, String)> {
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: admin\r\n\r\n")?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, raw.clone());
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_string()))
}

/// `/peers` as typed JSON; panics on anything but a 200 with valid JSON.
pub fn peers_of(admin: SocketAddr) -> PeersView {
    let (status, body) =
        http_get(admin, "/peers").unwrap_or_else(|e| panic!("GET {admin}/peers: {e}"));
    assert_eq!(status, 200, "GET {admin}/peers: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad /peers JSON ({e}): {body}"))
}

/// `/peers`, or `None` while the endpoint is not answering yet.
pub fn try_peers_of(admin: SocketAddr) -> Option<PeersView> {
    let (status, body) = http_get(admin, "/peers").ok()?;
    (status == 200).then(|| serde_json::from_str(&body).ok())?
}

/// Waits (5 s at most) until `node`'s admin endpoint at `admin` answers
/// `/peers`; returns that first answer.
pub fn wait_for_admin(admin: SocketAddr, node: &NodeProcess) -> PeersView {
    wait_until(
        "admin endpoint up",
        Duration::from_secs(5),
        Duration::from_millis(20),
        || try_peers_of(admin),
        || node.log_text(),
    )
}

/// Polls `probe` every `every` until it returns `Some`, for at most
/// `within`; panics with `what` and the last `describe()` otherwise.
pub fn wait_until<T>(
    what: &str,
    within: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("{what}: not reached within {within:?}\n{}", describe());
        }
        std::thread::sleep(every);
    }
}

/// Established TCP connections in this network namespace, as the kernel
/// sees them: `(local, remote)` per socket, from `ss -tnH state established`.
pub fn ss_established() -> Vec<(SocketAddr, SocketAddr)> {
    let out = Command::new("ss")
        .args(["-tnH", "state", "established"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run ss (iproute2): {e}"));
    assert!(out.status.success(), "ss failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|line| {
            let addrs: Vec<SocketAddr> = line
                .split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect();
            match addrs[..] {
                [local, remote] => Some((local, remote)),
                _ => None,
            }
        })
        .collect()
}

/// Raises the soft descriptor limit to at least `wanted` (children inherit
/// it); fails if the hard limit does not allow it.
pub fn raise_fd_limit(wanted: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit write/read only the struct we pass.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0, "getrlimit failed");
    if limit.rlim_cur >= wanted {
        return;
    }
    assert!(
        limit.rlim_max >= wanted,
        "descriptor hard limit {} is below the {wanted} this test needs",
        limit.rlim_max
    );
    limit.rlim_cur = wanted;
    // SAFETY: as above.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(rc, 0, "setrlimit({wanted}) failed");
}

/// Common flags for a fast test node: short pings, short backoff.
pub fn fast_flags() -> Vec<String> {
    [
        "--ping-interval",
        "500ms",
        "--pong-timeout",
        "1s",
        "--max-missed-pongs",
        "2",
        "--connect-timeout",
        "1s",
        "--handshake-timeout",
        "2s",
        "--redial-backoff-min",
        "250ms",
        "--redial-backoff-max",
        "1s",
    ]
    .map(String::from)
    .to_vec()
}

/// The dead-peer bound of a node started with [`fast_flags`]: the flags
/// parsed the way the binary parses them, and the library's own formula.
pub fn fast_dead_peer_bound() -> Duration {
    use clap::Parser;
    let mut args = vec![
        "peerlink-node".to_string(),
        "--listen".into(),
        "127.0.0.1:1".into(),
    ];
    args.extend(fast_flags());
    let cli = peerlink_node::settings::Cli::try_parse_from(args).expect("fast flags parse");
    let settings = peerlink_node::settings::Settings::from_cli(cli, None).expect("valid");
    settings.config.dead_peer_bound()
}
