//! `record`: one trace event as a typed value. The canonical text line and
//! the run's SHA-256 are derived from records (their `Display`), and
//! snapshots, `replay --trace-format json` and the timeline read records, so
//! nothing parses a line back apart.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::ser::{SerializeMap, SerializeStruct, Serializer};
use serde::Serialize;

/// One trace event: when, where, which connection, what, and its fields.
///
/// ```
/// use std::time::Duration;
/// use peerlink_sim::record::TraceRecord;
///
/// let r = TraceRecord::new(
///     Duration::from_millis(16),
///     "n1",
///     "closed",
///     vec![
///         ("peer".into(), "192.168.0.1".into()),
///         ("conn_id".into(), "c1".into()),
///         ("reason".into(), "duplicate".into()),
///     ],
/// );
/// assert_eq!(r.conn.as_deref(), Some("c1"));
/// assert_eq!(r.field("reason"), Some("duplicate"));
/// assert_eq!(
///     r.to_string(),
///     "     0.016 n1 closed peer=192.168.0.1 conn_id=c1 reason=duplicate"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    /// Simulated time of the event.
    pub at: Duration,
    /// The host that emitted it (`n0`, …), or `sim` for the runner's own
    /// events (faults).
    pub node: String,
    /// The connection's id as the node logs it (`c3` for peerlink's
    /// `conn_id`, `3` for a legacy model's `conn`), when the event has one.
    pub conn: Option<String>,
    /// The peer as the node logs it (an IP, or `IP:PORT` for a table keyed
    /// by address), when the event has one.
    pub peer: Option<String>,
    /// The event's message: `established`, `closed`, `fault crash n2`, ….
    pub kind: String,
    /// Every field, the connection's span fields first and then the event's,
    /// in the order they were recorded (`peer` and `conn` included, so the
    /// canonical line can be rebuilt).
    pub fields: Vec<(String, String)>,
}

/// Field names that carry the connection id.
const CONN_FIELDS: [&str; 2] = ["conn_id", "conn"];

impl TraceRecord {
    /// A record; `conn` and `peer` are lifted from `fields`.
    pub fn new(
        at: Duration,
        node: impl Into<String>,
        kind: impl Into<String>,
        fields: Vec<(String, String)>,
    ) -> Self {
        let find = |names: &[&str]| {
            fields
                .iter()
                .find(|(k, _)| names.contains(&k.as_str()))
                .map(|(_, v)| v.clone())
        };
        TraceRecord {
            at,
            node: node.into(),
            conn: find(&CONN_FIELDS),
            peer: find(&["peer"]),
            kind: kind.into(),
            fields,
        }
    }

    /// The value of the first field called `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The peer's IP, whether the node logs it as an IP or as `IP:PORT`.
    pub fn peer_ip(&self) -> Option<IpAddr> {
        let peer = self.peer.as_deref()?;
        peer.parse::<IpAddr>()
            .ok()
            .or_else(|| peer.parse::<SocketAddr>().ok().map(|a| a.ip()))
    }

    /// The event's kind for counting: the message (only `fault <what>` for
    /// the runner's fault events, whose message also names the hosts), plus
    /// ` reason=<reason>` when the event has a reason.
    pub fn kind_and_reason(&self) -> String {
        let mut kind = if self.kind.starts_with("fault ") {
            self.kind.split(' ').take(2).collect::<Vec<_>>().join(" ")
        } else {
            self.kind.clone()
        };
        if let Some(reason) = self.field("reason") {
            kind.push_str(" reason=");
            kind.push_str(reason);
        }
        kind
    }
}

/// The canonical line: simulated seconds (width 6) and milliseconds, host,
/// message, then ` key=value` for every field in order.
impl fmt::Display for TraceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>6}.{:03} {} {}",
            self.at.as_secs(),
            self.at.subsec_millis(),
            self.node,
            self.kind
        )?;
        for (k, v) in &self.fields {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

/// Fields as a JSON object in recorded order.
struct OrderedFields<'a>(&'a [(String, String)]);

impl Serialize for OrderedFields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// One JSON object per record: `at_us` (simulated microseconds), `node`,
/// `conn`, `peer`, `kind`, and `fields` as an object in recorded order.
impl Serialize for TraceRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("TraceRecord", 6)?;
        st.serialize_field(
            "at_us",
            &u64::try_from(self.at.as_micros()).unwrap_or(u64::MAX),
        )?;
        st.serialize_field("node", &self.node)?;
        st.serialize_field("conn", &self.conn)?;
        st.serialize_field("peer", &self.peer)?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("fields", &OrderedFields(&self.fields))?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy_closed() -> TraceRecord {
        TraceRecord::new(
            Duration::from_millis(50_006),
            "n3",
            "closed",
            vec![
                ("peer".into(), "192.168.0.5:7000".into()),
                ("conn".into(), "2".into()),
                ("reason".into(), "ping_timeout".into()),
            ],
        )
    }

    /// A legacy model's `conn` is the connection id; an `IP:PORT` peer
    /// still gives the IP.
    #[test]
    fn lifts_conn_and_peer() {
        let r = legacy_closed();
        assert_eq!(r.conn.as_deref(), Some("2"));
        assert_eq!(r.peer_ip(), Some("192.168.0.5".parse().unwrap()));
        assert_eq!(r.kind_and_reason(), "closed reason=ping_timeout");
    }

    /// A fault's kind drops the hosts; the JSON keeps field order.
    #[test]
    fn fault_kind_and_json() {
        let fault = TraceRecord::new(Duration::from_secs(10), "sim", "fault crash n1", vec![]);
        assert_eq!(fault.kind_and_reason(), "fault crash");
        assert_eq!(fault.to_string(), "    10.000 sim fault crash n1");
        assert_eq!(
            serde_json::to_string(&legacy_closed()).unwrap(),
            r#"{"at_us":50006000,"node":"n3","conn":"2","peer":"192.168.0.5:7000","kind":"closed","fields":{"peer":"192.168.0.5:7000","conn":"2","reason":"ping_timeout"}}"#
        );
    }
}
