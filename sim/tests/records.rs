//! The structured trace: `replay --trace-format json` prints one record per
//! line, and each record rebuilds the canonical text line `replay --trace`
//! prints, so both describe the same run with the same hash.

use std::fmt;
use std::process::Command;

use peerlink_sim::runner::{run, RunOptions};
use peerlink_sim::scenarios::{all_scenarios, scenario_by_name};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

fn sim(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_peerlink-sim"))
        .args(args)
        .output()
        .expect("peerlink-sim runs");
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

/// A JSON record read back with its fields in the order the text has them
/// (serde visits an object's entries in order).
#[derive(Debug, Deserialize)]
struct JsonRecord {
    at_us: u64,
    node: String,
    conn: Option<String>,
    peer: Option<String>,
    kind: String,
    fields: Fields,
}

#[derive(Debug)]
struct Fields(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> Visitor<'de> for InOrder {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of string fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, String>()? {
                    out.push(entry);
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(InOrder)
    }
}

impl JsonRecord {
    /// The canonical line, built the way `TraceRecord`'s `Display`
    /// documents it.
    fn line(&self) -> String {
        let mut line = format!(
            "{:>6}.{:03} {} {}",
            self.at_us / 1_000_000,
            self.at_us / 1_000 % 1_000,
            self.node,
            self.kind
        );
        for (k, v) in &self.fields.0 {
            line.push_str(&format!(" {k}={v}"));
        }
        line
    }
}

/// A failing run with faults: the JSON records match the text lines one for
/// one (field order included), and the summary line carries the same hash
/// and the violation.
#[test]
fn json_records_rebuild_the_text_trace() {
    let base = [
        "replay",
        "random-faults",
        "--seed",
        "0",
        "--policy",
        "legacy-zombie-slots",
    ];
    let (code, text) = sim(&[&base[..], &["--trace"]].concat());
    let (json_code, json) = sim(&[&base[..], &["--trace-format", "json"]].concat());
    assert_eq!((code, json_code), (Some(1), Some(1)));
    let text_lines: Vec<&str> = text.lines().collect();
    let json_lines: Vec<&str> = json.lines().collect();
    // Text: the records, a summary line, FAIL. JSON: the records, a summary.
    assert_eq!(json_lines.len() + 1, text_lines.len());
    let (records, summary) = json_lines.split_at(json_lines.len() - 1);
    for (i, (raw, expected)) in records.iter().zip(&text_lines).enumerate() {
        let record: JsonRecord = serde_json::from_str(raw).unwrap();
        assert_eq!(&record.line(), expected, "record {i}");
    }
    let summary: Value = serde_json::from_str(summary[0]).unwrap();
    let hash = summary["trace_sha256"].as_str().unwrap();
    assert!(text_lines[records.len()].ends_with(&format!("trace_sha256={hash}")));
    assert_eq!(summary["events"], records.len());
    assert_eq!(
        summary["violation"],
        "invariant table-matches-sockets broken at 50.050s on n3: row 192.168.0.5 connected without a connection"
    );
    // Connection ids and peers are lifted from the legacy model's fields.
    let last: JsonRecord = serde_json::from_str(records[records.len() - 1]).unwrap();
    assert_eq!(last.conn.as_deref(), Some("7"));
    assert_eq!(last.peer.as_deref(), Some("192.168.0.5"));
    assert_eq!(last.kind, "connection died, slot left connected");
}

/// A record's fields have distinct names in every built-in scenario (a JSON
/// object could not hold two), and peerlink's records carry the connection
/// id from the span.
#[test]
fn field_names_are_distinct_and_conn_ids_lifted() {
    let keep = RunOptions {
        keep_trace: true,
        ..RunOptions::default()
    };
    for scenario in all_scenarios() {
        let report = run(&scenario, 1, &keep).unwrap();
        assert_eq!(report.trace.len(), report.events, "{}", scenario.name);
        for record in &report.trace {
            let mut names: Vec<&str> = record.fields.iter().map(|(k, _)| k.as_str()).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(names.len(), before, "{}: {record}", scenario.name);
        }
    }
    let mesh = scenario_by_name("mesh-8").unwrap();
    let report = run(&mesh, 0, &keep).unwrap();
    let established: Vec<_> = report
        .trace
        .iter()
        .filter(|r| r.kind == "established")
        .collect();
    // 28 pairs, both ends of each, plus the duplicates that lost.
    assert!(established.len() >= 56, "{}", established.len());
    for r in established {
        assert_eq!(r.conn.as_deref(), r.field("conn_id"), "{r}");
        assert!(r.conn.as_deref().is_some_and(|c| c.starts_with('c')), "{r}");
        assert!(r.peer_ip().is_some(), "{r}");
    }
}
