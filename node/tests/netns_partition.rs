//! Three `peerlink-node` processes on three "hosts": network namespaces
//! with their own addresses (10.77.0.1–3/24), joined by veth pairs to a
//! bridge that lives in a fourth namespace, so nothing is added to the
//! machine's own network and no packet leaves the namespaces made here.
//! A partition is one veth link taken down; the real kernel TCP stack then
//! drops packets silently, and only ping/pong can notice.
//!
//! Needs root and iproute2 (`ip`). Without them the test fails with a
//! message saying so: it is never skipped. Namespaces are named after this
//! process's pid and removed on drop, also when the test fails.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

use common::PeersView;
use common::{
    fast_dead_peer_bound, fast_flags, http_get, stop_all, wait_until, NodeProcess, NODE_BIN,
};
use tokio::time::Instant;

/// Hosts in the test network.
const HOSTS: u8 = 3;
/// Listen port of each node on its host address.
const PORT: u16 = 9000;
/// Admin endpoint of each node, on its own namespace's loopback.
const ADMIN: &str = "127.0.0.1:9100";
/// Prefix of every namespace this test creates (then the pid).
const PREFIX: &str = "plnk";
/// Added to the dead-peer bound when measuring detection from outside:
/// the `ip` command's own time, the poll period and one admin request.
const MEASUREMENT_SLACK: Duration = Duration::from_millis(300);
/// How long the partition is held after detection, to watch the backoff.
const PARTITION_HOLD: Duration = Duration::from_secs(5);
/// Least time one failed dial into the partition costs with `fast_flags`:
/// the SYN is dropped, so the connect timeout (1 s), then at least the
/// backoff floor (250 ms) before the next try.
const ATTEMPT_FLOOR: Duration = Duration::from_millis(1250);
/// The mesh re-forms within this after the link is back: the longest
/// backoff (1 s + 25 % jitter), a connect and a handshake, with room.
const HEAL_WITHIN: Duration = Duration::from_secs(6);

fn host_ip(i: u8) -> String {
    format!("10.77.0.{i}")
}

/// Runs `ip args`; panics with its stderr on failure.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `ip` ({e}): this test needs iproute2 (apt-get install iproute2)")
    });
    assert!(
        out.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// The namespaces of one test run; deleted on drop.
struct TestNet {
    switch: String,
    hosts: Vec<String>,
}

impl TestNet {
    /// Builds the switch namespace with a bridge, and one namespace per
    /// host with `eth0` (veth to the bridge), its address, and `lo` up.
    fn create() -> TestNet {
        remove_stale_namespaces();
        let tag = format!("{PREFIX}{}", std::process::id());
        let net = TestNet {
            switch: format!("{tag}sw"),
            hosts: (1..=HOSTS).map(|i| format!("{tag}h{i}")).collect(),
        };
        let created = Command::new("ip")
            .args(["netns", "add", &net.switch])
            .output();
        match created {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "cannot create network namespaces (this test must run as root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!("cannot run `ip` ({e}): this test needs iproute2 installed"),
        }
        let sw = net.switch.as_str();
        ip(&["-n", sw, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", sw, "link", "set", "br0", "up"]);
        for (host, i) in net.hosts.iter().zip(1..) {
            let port = format!("p{i}");
            let addr = format!("{}/24", host_ip(i));
            ip(&["netns", "add", host]);
            ip(&[
                "-n", sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                host,
            ]);
            ip(&["-n", sw, "link", "set", &port, "master", "br0"]);
            ip(&["-n", sw, "link", "set", &port, "up"]);
            ip(&["-n", host, "addr", "add", &addr, "dev", "eth0"]);
            ip(&["-n", host, "link", "set", "eth0", "up"]);
            ip(&["-n", host, "link", "set", "lo", "up"]);
        }
        net
    }

    /// Takes host `i`'s link to the bridge down (`false`) or up (`true`).
    fn set_link(&self, i: u8, up: bool) {
        let port = format!("p{i}");
        ip(&[
            "-n",
            &self.switch,
            "link",
            "set",
            &port,
            if up { "up" } else { "down" },
        ]);
    }

    fn host(&self, i: u8) -> &str {
        &self.hosts[usize::from(i - 1)]
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain([&self.switch]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Removes namespaces left by earlier runs of this test whose process is
/// gone (a run killed before its drop guard could run).
fn remove_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !pid.is_empty() && !alive {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

/// `GET path` on `addr` as seen from inside namespace `ns`: a short-lived
/// thread joins the namespace (network namespaces are per thread) and
/// makes the request there.
fn ns_get(ns: &str, addr: SocketAddr, path: &'static str) -> std::io::Result<(u16, String)> {
    let handle = File::open(format!("/run/netns/{ns}"))?;
    std::thread::spawn(move || {
        // SAFETY: setns on an fd we own; it changes only this thread's
        // network namespace, and the thread ends after one request.
        let rc = unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        http_get(addr, path)
    })
    .join()
    .unwrap_or_else(|_| Err(std::io::Error::other("request thread panicked")))
}

fn try_table(net: &TestNet, i: u8) -> Option<PeersView> {
    let (status, body) = ns_get(net.host(i), ADMIN.parse().ok()?, "/peers").ok()?;
    (status == 200).then(|| serde_json::from_str(&body).ok())?
}

fn table(net: &TestNet, i: u8) -> PeersView {
    try_table(net, i).unwrap_or_else(|| panic!("host {i}'s admin endpoint does not answer"))
}

fn spawn_node(net: &TestNet, i: u8) -> NodeProcess {
    let mut args = vec!["netns", "exec", net.host(i), NODE_BIN]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    args.extend([
        "--listen".into(),
        format!("{}:{PORT}", host_ip(i)),
        "--admin".into(),
        ADMIN.into(),
    ]);
    for j in (1..=HOSTS).filter(|j| *j != i) {
        args.extend(["--peer".into(), format!("{}:{PORT}", host_ip(j))]);
    }
    args.extend(fast_flags());
    // `ip netns exec` execs the node in place: the child's pid is the node's.
    NodeProcess::spawn_with(&format!("netns-h{i}"), "ip", &args)
}

fn describe(net: &TestNet, nodes: &[NodeProcess]) -> String {
    let mut out = String::new();
    for (n, i) in nodes.iter().zip(1..) {
        let t = try_table(net, i).map(|v| format!("{v:?}"));
        let log = n.log_text();
        let tail: Vec<&str> = log.lines().rev().take(12).collect();
        out += &format!(
            "--- host {i}: {t:?}\n{}\n",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    out
}

/// Whether host `i` is connected to every other host, one connection each.
fn is_full(view: &PeersView, i: u8) -> bool {
    let want: Vec<String> = (1..=HOSTS).filter(|j| *j != i).map(host_ip).collect();
    let got: Vec<String> = view
        .connected_peers()
        .into_iter()
        .map(String::from)
        .collect();
    got == want
        && view
            .peers
            .iter()
            .all(|r| r.connections.len() == 1 && r.pending == 0)
}

fn wait_full_mesh(net: &TestNet, nodes: &[NodeProcess], within: Duration) -> Vec<PeersView> {
    wait_until(
        "full mesh of three hosts",
        within,
        Duration::from_millis(50),
        || {
            let views: Option<Vec<PeersView>> = (1..=HOSTS).map(|i| try_table(net, i)).collect();
            let views = views?;
            views
                .iter()
                .zip(1..)
                .all(|(v, i)| is_full(v, i))
                .then_some(views)
        },
        || describe(net, nodes),
    )
}

/// Cuts host 3's link and waits until both sides have dropped each other;
/// fails past the dead-peer bound (plus measurement slack). Checks that
/// the ping timeout was the cause and that hosts 1 and 2 stayed connected.
fn cut_and_detect(net: &TestNet, nodes: &[NodeProcess]) -> Duration {
    let bound = fast_dead_peer_bound() + MEASUREMENT_SLACK;
    let cut_at = Instant::now();
    net.set_link(3, false);
    let lost = |v: &PeersView, ip: &str| v.peer(ip).is_some_and(|r| r.active.is_none());
    let detected = wait_until(
        "partition detected on both sides",
        bound,
        Duration::from_millis(20),
        || {
            let (t1, t2, t3) = (table(net, 1), table(net, 2), table(net, 3));
            let seen = lost(&t1, &host_ip(3))
                && lost(&t2, &host_ip(3))
                && lost(&t3, &host_ip(1))
                && lost(&t3, &host_ip(2));
            seen.then(|| cut_at.elapsed())
        },
        || describe(net, nodes),
    );
    let timeouts: BTreeMap<u8, u64> = (1..=HOSTS)
        .map(|i| {
            let v = table(net, i);
            (i, v.stats.reasons.get("ping_timeout").copied().unwrap_or(0))
        })
        .collect();
    let want = BTreeMap::from([(1, 1), (2, 1), (3, 2)]);
    assert_eq!(timeouts, want, "{}", describe(net, nodes));
    assert_eq!(table(net, 1).connected_peers(), vec![host_ip(2).as_str()]);
    detected
}

/// Watches host 1's row for host 3 through [`PARTITION_HOLD`]: dials keep
/// failing, the row waits in `backoff` between them, and no dial loop spins.
fn watch_backoff(net: &TestNet) {
    let row = || table(net, 1).peer(&host_ip(3)).cloned().expect("row");
    let start = row();
    let mut states = std::collections::BTreeSet::new();
    let hold_until = Instant::now() + PARTITION_HOLD;
    while Instant::now() < hold_until {
        states.insert(row().state);
        std::thread::sleep(Duration::from_millis(50));
    }
    let end = row();
    let dials = end.counters.dials - start.counters.dials;
    let failures = end.counters.dial_failures - start.counters.dial_failures;
    eprintln!("during {PARTITION_HOLD:?} of partition: {dials} dials, {failures} failed, states {states:?}");
    assert!(failures >= 2, "redials kept trying: {failures}");
    // Each try costs at least the attempt floor: no hot loop.
    let most = 1 + (PARTITION_HOLD.as_millis() / ATTEMPT_FLOOR.as_millis()) as u64;
    assert!(
        dials <= most,
        "{dials} dials in {PARTITION_HOLD:?}, at most {most} expected"
    );
    assert!(states.contains("backoff"), "{states:?}");
    assert_eq!(end.counters.connections, start.counters.connections);
}

/// Three nodes in three namespaces form a mesh over a bridge; taking host
/// 3's link down makes every side declare the others dead by ping timeout
/// within the dead-peer bound; while the partition lasts, redials fail and
/// back off instead of spinning; when the link comes back, the same three
/// processes re-form the mesh on new connections; SIGTERM stops all with
/// exit code 0.
#[test]
fn partition_is_detected_backs_off_and_heals() {
    let net = TestNet::create();
    let mut nodes: Vec<NodeProcess> = (1..=HOSTS).map(|i| spawn_node(&net, i)).collect();
    let before = wait_full_mesh(&net, &nodes, Duration::from_secs(10));

    let detected = cut_and_detect(&net, &nodes);
    eprintln!(
        "partition detected in {detected:?} (bound {:?} + slack)",
        fast_dead_peer_bound()
    );
    watch_backoff(&net);

    // Heal: the same processes reconnect on new connections.
    let healed_at = Instant::now();
    net.set_link(3, true);
    let after = wait_full_mesh(&net, &nodes, HEAL_WITHIN);
    eprintln!("mesh healed in {:?}", healed_at.elapsed());
    let ids = |views: &[PeersView]| views.iter().map(|v| v.node_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&after), ids(&before), "same processes");
    let row = |views: &[PeersView], i: u8, j: u8| {
        views[usize::from(i - 1)]
            .peer(&host_ip(j))
            .cloned()
            .expect("row")
    };
    // Each cut pair disconnected exactly once (counted from before the cut:
    // a simultaneous dial at start may already have counted a transient
    // `duplicate` disconnect).
    for (i, j) in [(1, 3), (2, 3), (3, 1), (3, 2)] {
        let (now, then) = (row(&after, i, j), row(&before, i, j));
        assert_ne!(now.active, then.active, "{i}->{j} reconnected");
        let lost = now.counters.disconnects - then.counters.disconnects;
        assert_eq!(lost, 1, "{i}->{j}\n{}", describe(&net, &nodes));
    }
    let (now, then) = (row(&after, 1, 2), row(&before, 1, 2));
    assert_eq!(now.active, then.active, "1-2 untouched");
    assert_eq!(now.counters.disconnects, then.counters.disconnects);
    stop_all(&mut nodes);
}
