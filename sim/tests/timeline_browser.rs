//! The `replay --html` page in a real headless Chromium (Debian's `chromium`
//! package; `.ci/run` installs it): the page loads with no console output
//! at all (so no error), its script ran (axis drawn, zoom from the URL
//! applied), and the lanes, bars, faults and violation in the rendered DOM
//! match the run's own trace records and applied faults, and the page's JSON
//! summary.
//!
//! Without Chromium these tests fail and say how to install it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use peerlink_sim::faults::Fault;
use peerlink_sim::runner::{run, RunOptions, RunReport};
use peerlink_sim::scenarios::scenario_by_name;
use peerlink_sim::snapshot::host_ip;
use serde_json::Value;

/// The Chromium binary: `$CHROMIUM`, else `chromium` on the PATH.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "headless Chromium not found: install Debian's package \
             (`apt-get update && apt-get install -y chromium`, as .ci/run does) \
             or set CHROMIUM to its path"
        )
    })
}

/// What the browser made of a page: the DOM after scripts ran, and every
/// console line Chromium logged.
struct Loaded {
    dom: String,
    console: Vec<String>,
}

fn load(page: &Path, fragment: &str) -> Loaded {
    let url = format!("file://{}{fragment}", page.display());
    // A profile of its own, so tests running at once never share one.
    let profile = page.with_extension(format!("profile{}", fragment.len()));
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium failed: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    Loaded {
        dom: String::from_utf8(out.stdout).expect("utf-8 DOM"),
        console: stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_string)
            .collect(),
    }
}

/// Writes the page with the real CLI and returns its path.
fn write_page(name: &str, args: &[&str]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("{name}.html"));
    let out = Command::new(env!("CARGO_BIN_EXE_peerlink-sim"))
        .args(args)
        .arg("--html")
        .arg(&path)
        .output()
        .expect("peerlink-sim runs");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "replay failed: {out:?}"
    );
    path
}

/// Counts of what the run's records and faults say should be drawn.
struct Expected {
    lanes: usize,
    bars: usize,
    faults: usize,
}

/// From the records alone: every connection end that completed its
/// handshake is a bar; every pair with a bar or a pair fault is a lane;
/// every applied fault that starts a disturbance is a fault.
fn expected(report: &RunReport, nodes: usize) -> Expected {
    let host = |name: &str| (0..nodes).find(|&i| format!("n{i}") == name);
    let ip = |ip| (0..nodes).find(|&i| host_ip(i) == ip);
    let mut pairs = BTreeSet::new();
    let mut bars = 0;
    for r in &report.trace {
        if r.kind != "established" || r.conn.is_none() {
            continue;
        }
        if let (Some(a), Some(b)) = (host(&r.node), r.peer_ip().and_then(ip)) {
            bars += 1;
            pairs.insert((a.min(b), a.max(b)));
        }
    }
    for f in &report.faults {
        match f.fault {
            Fault::Partition(a, b)
            | Fault::PartitionOneWay(a, b)
            | Fault::Hold(a, b)
            | Fault::Latency(a, b, _) => {
                pairs.insert((a.min(b), a.max(b)));
            }
            _ => {}
        }
    }
    Expected {
        lanes: pairs.len(),
        bars,
        faults: report.faults.iter().filter(|f| !f.fault.is_heal()).count(),
    }
}

fn count(dom: &str, needle: &str) -> usize {
    dom.matches(needle).count()
}

/// The JSON summary element's content.
fn summary(dom: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"summary\">";
    let start = dom.find(open).expect("summary element") + open.len();
    let len = dom[start..].find("</script>").expect("summary ends");
    serde_json::from_str(&dom[start..start + len]).expect("summary is JSON")
}

fn check(name: &str, scenario: &str, seed: u64, policy: Option<&str>) -> (Loaded, RunReport) {
    let seed_text = seed.to_string();
    let mut args = vec!["replay", scenario, "--seed", &seed_text];
    if let Some(p) = policy {
        args.extend(["--policy", p]);
    }
    let page = write_page(name, &args);
    let s = scenario_by_name(scenario).unwrap();
    let options = RunOptions {
        keep_trace: true,
        model: policy.map(str::to_string),
        ..RunOptions::default()
    };
    let report = run(&s, seed, &options).unwrap();
    let want = expected(&report, s.nodes);

    let loaded = load(&page, "");
    let dom = &loaded.dom;
    assert_eq!(loaded.console, Vec::<String>::new(), "console output");
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page's script ran to its end"
    );
    assert!(
        count(dom, "<g class=\"tick\">") >= 5,
        "the script drew the axis"
    );
    assert_eq!(count(dom, "<g class=\"lane"), want.lanes, "lanes");
    assert_eq!(count(dom, "<g class=\"bar "), want.bars, "bars");
    assert_eq!(count(dom, "<g class=\"fault "), want.faults, "faults");
    assert_eq!(
        count(dom, "id=\"violation\""),
        usize::from(report.violation.is_some())
    );
    let json = summary(dom);
    assert_eq!(json["lanes"].as_array().unwrap().len(), want.lanes);
    assert_eq!(json["bars"].as_array().unwrap().len(), want.bars);
    assert_eq!(json["faults"].as_array().unwrap().len(), want.faults);
    assert_eq!(json["trace_sha256"], report.trace_hash.as_str());
    assert_eq!(json["lanes_left_out"], 0);

    // Zoom from the URL: the script applies it and redraws.
    let zoomed = load(&page, "#from=0&to=0.02");
    assert_eq!(
        zoomed.console,
        Vec::<String>::new(),
        "console output, zoomed"
    );
    assert!(zoomed.dom.contains("data-view=\"0-20000\""), "zoomed view");
    assert!(count(&zoomed.dom, "<g class=\"tick\">") >= 5);
    (loaded, report)
}

/// A failing run with faults: a crash, a hold, a partition, latency
/// changes, and the violation marked on the lanes of the node it names.
#[test]
fn faults_and_violation_render() {
    let (loaded, report) = check(
        "random-faults-0-zombie",
        "random-faults",
        0,
        Some("legacy-zombie-slots"),
    );
    let v = report.violation.expect("this seed fails");
    assert_eq!(v.invariant, "table-matches-sockets");
    let dom = &loaded.dom;
    // This run, exactly: 10 of the 10 pairs, 40 connection ends, 7 faults
    // (4 latency changes, a hold, a partition, n2's crash).
    assert_eq!(count(dom, "<g class=\"lane"), 10);
    assert_eq!(count(dom, "<g class=\"bar "), 40);
    assert_eq!(count(dom, "<g class=\"fault fault-latency\""), 4);
    assert_eq!(count(dom, "<g class=\"fault fault-crash\""), 1);
    // The violation names n3: its four lanes are marked.
    assert_eq!(count(dom, "<g class=\"lane violated\""), 4);
    // n2's crash ends its open connection ends.
    assert_eq!(count(dom, "ended by n2's crash"), 4);
}

/// mesh-8: all 28 pairs drawn, readable, no faults.
#[test]
fn mesh8_renders_every_pair() {
    let (loaded, report) = check("mesh-8-0", "mesh-8", 0, None);
    assert!(report.violation.is_none());
    assert_eq!(count(&loaded.dom, "<g class=\"lane"), 28);
    assert_eq!(count(&loaded.dom, "<g class=\"fault "), 0);
}

/// A page that cannot be written is a clear error naming the path, exit 2.
#[test]
fn unwritable_page_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_peerlink-sim"))
        .args(["replay", "simultaneous-dial", "--seed", "0", "--html"])
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-dir/run.html"))
        .output()
        .expect("peerlink-sim runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("peerlink-sim: cannot write "),
        "{stderr}"
    );
    assert!(stderr.contains("no-such-dir/run.html"), "{stderr}");
}
