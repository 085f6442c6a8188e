//! `link-liveness`: a stream that stays stalled while both ends hold it is
//! closed by one of them within the dead-peer bound.
//!
//! A stream is stalled from one end A to the other end B when A has written
//! bytes that B has not read (`A.bytes_out > B.bytes_in`, both counted after
//! the handshake) and B's count does not move. That happens when a
//! partition or a hold swallows segments (on both backends a segment sent
//! into a cut link is lost and that direction stalls for good, even after
//! the heal), or when B stops reading. Either end must notice: with pings
//! every `ping_interval`, the last ping answered before the stall was sent
//! before the first byte that did not arrive, and the `max_missed_pongs`-th
//! ping after it times out `Config::dead_peer_bound()` (`ping_interval ×
//! max_missed_pongs + pong_timeout`, 65 s with the defaults) after that
//! answered ping at the latest. So once a stall is first seen, one end must
//! have closed the connection (it leaves that end's table, or is marked
//! closing) within that bound, or the stream must carry bytes again.
//!
//! Only pairs where both ends are up, hold the same connection (addresses
//! mirrored) and publish their counts are looked at; a connection one end
//! has already let go is `ends-agree`'s to judge. The cost per checkpoint
//! is O(connections × peers per node): each held connection is matched
//! with its other end among the rows of one peer.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{same_connection, Observed, Violation};

/// A stall: the writer's index and its end's addresses.
type Key = (usize, SocketAddr, SocketAddr);

/// Stalled streams carried from one checkpoint to the next.
pub(super) struct Stalls {
    /// How long a stall may last: the dead-peer bound.
    within: Duration,
    /// Per stalled direction: when it was first seen, and how much the
    /// reader had read then (any progress starts the clock again).
    since: BTreeMap<Key, (Duration, u64)>,
}

impl Stalls {
    /// No stall seen yet; a stall may last `within`.
    pub(super) fn new(within: Duration) -> Stalls {
        Stalls {
            within,
            since: BTreeMap::new(),
        }
    }

    /// Looks at every connection both ends hold at `now`; `index_of` maps
    /// each node's IP to its index in `nodes`.
    pub(super) fn check(
        &mut self,
        now: Duration,
        nodes: &[Observed],
        index_of: &BTreeMap<IpAddr, usize>,
    ) -> Result<(), Violation> {
        let mut seen = BTreeMap::new();
        for (a, node) in nodes.iter().enumerate() {
            let Some(view) = &node.view else { continue };
            for row in &view.peers {
                let b = match index_of.get(&row.ip) {
                    Some(&b) if b != a => b,
                    _ => continue,
                };
                let Some(peer) = &nodes[b].view else { continue };
                for conn in row.connections.iter().filter(|c| !c.closing) {
                    let other = peer
                        .rows_for(node.ip)
                        .flat_map(|r| &r.connections)
                        .find(|c| same_connection(conn, c) && !c.closing);
                    let (Some(sent), Some(got)) = (conn.traffic, other.and_then(|o| o.traffic))
                    else {
                        continue;
                    };
                    if sent.bytes_out <= got.bytes_in {
                        continue;
                    }
                    let key = (a, conn.local_addr, conn.remote_addr);
                    let since = match self.since.get(&key) {
                        Some(&(since, read)) if read == got.bytes_in => since,
                        _ => now,
                    };
                    seen.insert(key, (since, got.bytes_in));
                    if now - since > self.within {
                        return Err(Violation {
                            invariant: "link-liveness",
                            at: now,
                            nodes: vec![node.name.clone(), nodes[b].name.clone()],
                            detail: format!(
                                "stream {}->{} stalled for {:.3}s (bound {:.3}s) and both ends still hold it: {} wrote {} bytes, {} read {}",
                                conn.local_addr,
                                conn.remote_addr,
                                (now - since).as_secs_f64(),
                                self.within.as_secs_f64(),
                                node.name,
                                sent.bytes_out,
                                nodes[b].name,
                                got.bytes_in,
                            ),
                        });
                    }
                }
            }
        }
        self.since = seen;
        Ok(())
    }
}
