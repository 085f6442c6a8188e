//! The Grafana dashboard in `node/dashboards/` is built only on metric
//! names the node exports: every `peerlink_…` name in its queries is a
//! sample name in real `/metrics` scrapes of a node (one with a connected,
//! pinged peer, one after that peer was killed). (The
//! dashboard is not rendered in Grafana here; see `docs/operating.md`.)

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use common::{http_get, try_peers_of, wait_until, NodeProcess};

/// The dashboard's queries, in panel order.
fn dashboard_queries() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/peerlink.json");
    let text = std::fs::read_to_string(path).expect("dashboard file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    let panels = json["panels"].as_array().expect("panels");
    let targets = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("targets"));
    let exprs = targets.map(|t| t["expr"].as_str().expect("expr").to_string());
    exprs.collect()
}

/// The `peerlink_…` identifiers in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("peerlink_") {
        let preceded = rest[..at].chars().next_back().is_some_and(is_name);
        let tail = &rest[at..];
        let end = tail.find(|c: char| !is_name(c)).unwrap_or(tail.len());
        if !preceded {
            names.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names
}

/// The sample names of an exposition (histogram series included).
fn sample_names(text: &str) -> BTreeSet<String> {
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty());
    let names = samples.map(|l| l.split(['{', ' ']).next().unwrap_or_default().to_string());
    names.collect()
}

/// The identifiers are found where PromQL has them, and nowhere else.
#[test]
fn names_in_an_expression() {
    let expr = "histogram_quantile(0.5, sum by (le) (rate(peerlink_ping_rtt_seconds_bucket[5m]))) / x_peerlink_no";
    assert_eq!(metric_names(expr), vec!["peerlink_ping_rtt_seconds_bucket"]);
}

/// Every metric the dashboard queries is in a real scrape of a node with
/// a connected, pinged peer.
#[test]
fn dashboard_uses_only_exported_names() {
    let queries = dashboard_queries();
    let used: BTreeSet<String> = queries.iter().flat_map(|q| metric_names(q)).collect();
    assert!(used.len() >= 20, "{used:?}");
    let a_admin: SocketAddr = "127.0.0.1:27261".parse().expect("addr");
    let a_args = ["--listen", "127.0.0.61:27260", "--admin", "127.0.0.1:27261"];
    let b_args = [
        "--listen",
        "127.0.0.62:27260",
        "--admin",
        "127.0.0.1:27262",
        "--peer",
        "127.0.0.61:27260",
    ];
    let a = NodeProcess::spawn("dashboard-a", &a_args.map(String::from));
    let b = NodeProcess::spawn("dashboard-b", &b_args.map(String::from));
    // Connected, and the first ping answered (the per-peer RTT series
    // exist from then on).
    wait_until(
        "peer connected and pinged",
        Duration::from_secs(10),
        Duration::from_millis(20),
        || try_peers_of(a_admin).filter(|v| v.peers.iter().any(|p| p.last_rtt_seconds.is_some())),
        || a.log_text(),
    );
    let (status, connected) = http_get(a_admin, "/metrics").expect("scrape");
    assert_eq!(status, 200);
    // Closes have series only once one happened: kill the peer, wait
    // until A counts the close, scrape again.
    drop(b);
    wait_until(
        "the close counted",
        Duration::from_secs(10),
        Duration::from_millis(20),
        || try_peers_of(a_admin).filter(|v| !v.stats.closed.is_empty()),
        || a.log_text(),
    );
    let (status, closed) = http_get(a_admin, "/metrics").expect("scrape");
    assert_eq!(status, 200);
    let mut exported = sample_names(&connected);
    exported.extend(sample_names(&closed));
    let missing: Vec<&String> = used.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "not exported: {missing:?}\n{connected}\n{closed}"
    );
}
