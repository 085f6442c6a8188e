//! The invariant `sends-arrive`, for scenarios with application traffic
//! (`Scenario::traffic`): a peer a node shows as connected receives what the
//! node sends it. Every node sends one message to each peer it shows as
//! connected at the traffic interval. While the two ends of a pair agree on
//! their connection, the receiver's count of messages from the sender must
//! grow within the agreement bound: a link that stalls is detected by pings
//! within that bound, and its ends then stop agreeing. A send path that
//! fails, or goes nowhere, while the table says connected is caught by real
//! sends, not by a field of the table. O(connections) per checkpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use super::{same_connection, Observed, Violation};

/// `sends-arrive`'s state across the checkpoints of one run.
pub(crate) struct Delivery {
    within: Duration,
    /// Per (sender, receiver) that agree on their connection: the
    /// receiver's count of messages from the sender, and since when it has
    /// stood still.
    still: BTreeMap<(usize, usize), (u64, Duration)>,
    index_of: BTreeMap<IpAddr, usize>,
}

impl Delivery {
    /// A check whose messages must arrive `within` this bound.
    pub(crate) fn new(within: Duration) -> Delivery {
        Delivery {
            within,
            still: BTreeMap::new(),
            index_of: BTreeMap::new(),
        }
    }

    /// Checks every pair whose ends agree on their connection at `now`.
    pub(crate) fn check(&mut self, now: Duration, nodes: &[Observed]) -> Result<(), Violation> {
        if self.index_of.len() != nodes.len() {
            self.index_of = nodes.iter().enumerate().map(|(i, n)| (n.ip, i)).collect();
        }
        let mut agreeing = BTreeSet::new();
        for (a, sender) in nodes.iter().enumerate() {
            let Some(view) = &sender.view else { continue };
            for row in view.peers.iter().filter(|r| r.connected) {
                let Some(b) = self.index_of.get(&row.ip).copied().filter(|&b| b != a) else {
                    continue;
                };
                let (Some(conn), Some(theirs)) = (&row.active, &nodes[b].view) else {
                    continue;
                };
                let back = theirs
                    .rows_for(sender.ip)
                    .find(|r| r.active.as_ref().is_some_and(|c| same_connection(conn, c)));
                let Some(count) = back.and_then(|r| r.received) else {
                    continue;
                };
                agreeing.insert((a, b));
                let (last, since) = self.still.entry((a, b)).or_insert((count, now));
                if *last != count {
                    (*last, *since) = (count, now);
                } else if now - *since > self.within {
                    let receiver = &nodes[b].name;
                    return Err(Violation {
                        invariant: "sends-arrive",
                        at: now,
                        nodes: vec![sender.name.clone(), receiver.clone()],
                        detail: format!(
                            "{} shows {receiver} connected, but {receiver} has received nothing from it for {:.3}s (bound {:.3}s; {count} received in all)",
                            sender.name,
                            (now - *since).as_secs_f64(),
                            self.within.as_secs_f64(),
                        ),
                    });
                }
            }
        }
        self.still.retain(|pair, _| agreeing.contains(pair));
        Ok(())
    }
}
