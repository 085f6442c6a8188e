//! The `serde` feature's hand-written parts: ids as the strings logs print
//! (a peer's IP, a node id's 32 hex digits, `c7`), durations as seconds,
//! and the keyed counters of `ManagerStats` as JSON-friendly maps and
//! lists. `PeerId` and `NodeId` also deserialize; a `ConnectionId` does
//! not (only an allocator makes one), so the rows that hold one are
//! `Serialize` only.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::close::DisconnectReason;
use crate::id::{ConnectionDirection, ConnectionId, NodeId, PeerId};

impl Serialize for PeerId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.ip())
    }
}

impl<'de> Deserialize<'de> for PeerId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map(PeerId::new).map_err(D::Error::custom)
    }
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:032x}", self.0))
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() != 32 {
            return Err(D::Error::custom("a node id is 32 hex digits"));
        }
        u128::from_str_radix(&text, 16)
            .map(NodeId)
            .map_err(D::Error::custom)
    }
}

impl Serialize for ConnectionId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `Duration` as seconds (a float).
pub(crate) mod secs {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Duration::try_from_secs_f64(f64::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// `Option<Duration>` as seconds or `null`.
pub(crate) mod opt_secs {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        d.map(|d| d.as_secs_f64()).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let secs = Option::<f64>::deserialize(d)?;
        let d = secs.map(Duration::try_from_secs_f64).transpose();
        d.map_err(D::Error::custom)
    }
}

/// Counts by direction as a map `{"inbound": n, "outbound": n}`.
pub(crate) fn direction_map<S: Serializer>(
    map: &BTreeMap<ConnectionDirection, u64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut out = s.serialize_map(Some(map.len()))?;
    for (direction, n) in map {
        out.serialize_entry(&direction.to_string(), n)?;
    }
    out.end()
}

/// One entry of [`close_counts`].
#[derive(Serialize)]
struct CloseCount {
    direction: ConnectionDirection,
    /// `local`, `remote` or `lost`.
    side: &'static str,
    reason: &'static str,
    count: u64,
}

/// Closes by direction and reason as a list of
/// `{direction, side, reason, count}`, in the map's order.
pub(crate) fn close_counts<S: Serializer>(
    map: &BTreeMap<(ConnectionDirection, DisconnectReason), u64>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let rows = map.iter().map(|((direction, reason), count)| CloseCount {
        direction: *direction,
        side: reason.side(),
        reason: reason.as_str(),
        count: *count,
    });
    s.collect_seq(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids serialize as the strings logs print, and those that may be
    /// built from text read back.
    #[test]
    fn ids_as_strings() {
        let peer = PeerId::new("127.0.0.2".parse().unwrap());
        let node = NodeId(0xab << 120);
        assert_eq!(
            (
                serde_json::to_string(&peer).unwrap(),
                serde_json::to_string(&node).unwrap()
            ),
            (
                "\"127.0.0.2\"".to_string(),
                format!("\"ab{}\"", "0".repeat(30))
            )
        );
        let back: NodeId = serde_json::from_str(&serde_json::to_string(&node).unwrap()).unwrap();
        assert_eq!(back, node);
        let back: PeerId = serde_json::from_str("\"127.0.0.2\"").unwrap();
        assert_eq!(back, peer);
        assert!(serde_json::from_str::<NodeId>("\"ab\"").is_err());
    }
}
