//! The `[config]` table of a scenario file: overrides of the simulator's
//! timers ([`sim_config`](crate::scenario::sim_config)), one optional key per
//! `peerlink::Config` field. Durations are humantime strings (`"15s"`).
//! Only reads and writes `Config` values; validation stays in `peerlink`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use peerlink::manager::TieBreakPolicy;
use peerlink::Config;
use serde::{Deserialize, Serialize};

/// Declares [`ConfigOverrides`] from two field lists (durations, then plain
/// values) so reading and writing a file cannot miss a field.
macro_rules! overrides {
    (durations: $($d:ident),* ; values: $($v:ident : $t:ty),* $(,)?) => {
        /// Fields of `peerlink::Config` a scenario file sets; absent keys keep
        /// the simulator's defaults.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct ConfigOverrides {
            $(
                #[allow(missing_docs)]
                #[serde(default, with = "humantime_serde", skip_serializing_if = "Option::is_none")]
                pub $d: Option<Duration>,
            )*
            $(
                #[allow(missing_docs)]
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $v: Option<$t>,
            )*
            /// Tie-break policy by name (`peerlink-sim list`).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub tie_break: Option<String>,
            /// Only these IPs may connect (empty: all).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub allow: Option<BTreeSet<IpAddr>>,
            /// These IPs may never connect.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub deny: Option<BTreeSet<IpAddr>>,
        }

        impl ConfigOverrides {
            /// The fields where `config` differs from `base`.
            pub fn diff(base: &Config, config: &Config) -> ConfigOverrides {
                ConfigOverrides {
                    $($d: (base.$d != config.$d).then_some(config.$d),)*
                    $($v: (base.$v != config.$v).then_some(config.$v),)*
                    tie_break: (base.tie_break != config.tie_break)
                        .then(|| config.tie_break.name().to_string()),
                    allow: (base.allow != config.allow).then(|| config.allow.clone()),
                    deny: (base.deny != config.deny).then(|| config.deny.clone()),
                }
            }

            /// Writes the set fields into `config`; an unknown tie-break
            /// policy name is returned as the error.
            pub fn apply(&self, config: &mut Config) -> Result<(), String> {
                $(if let Some(x) = self.$d { config.$d = x; })*
                $(if let Some(x) = self.$v { config.$v = x; })*
                if let Some(name) = &self.tie_break {
                    config.tie_break = TieBreakPolicy::from_name(name)
                        .ok_or_else(|| format!("unknown tie-break policy `{name}`"))?;
                }
                if let Some(allow) = &self.allow {
                    config.allow = allow.clone();
                }
                if let Some(deny) = &self.deny {
                    config.deny = deny.clone();
                }
                Ok(())
            }

            /// Whether no field is set.
            pub fn is_empty(&self) -> bool {
                *self == ConfigOverrides::default()
            }
        }
    };
}

overrides!(
    durations: ping_interval, pong_timeout, handshake_timeout, connect_timeout,
        redial_backoff_min, redial_backoff_max, ban_duration, flap_lifetime;
    values: network_id: u32, max_missed_pongs: u32, max_frame_len: u32,
        send_queue_len: usize, send_queue_bytes: usize, event_queue_len: usize,
        event_queue_bytes: usize, max_pings_per_interval: u32, max_inbound: usize,
        max_outbound: usize, max_pending_handshakes: usize, ban_threshold: u32,
        flap_threshold: u32,
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::sim_config;

    /// A diff applied to its base gives back the changed config.
    #[test]
    fn diff_then_apply_round_trips() {
        let base = sim_config();
        let mut changed = base.clone();
        changed.ping_interval = Duration::from_secs(1);
        changed.max_inbound = 3;
        changed.flap_lifetime = Duration::from_secs(2);
        changed.flap_threshold = 5;
        changed.tie_break = TieBreakPolicy::KeepBoth;
        let diff = ConfigOverrides::diff(&base, &changed);
        assert_eq!(diff.ping_interval, Some(Duration::from_secs(1)));
        assert_eq!(diff.max_inbound, Some(3));
        assert_eq!(diff.flap_lifetime, Some(Duration::from_secs(2)));
        assert_eq!(diff.flap_threshold, Some(5));
        assert_eq!(diff.pong_timeout, None);
        let mut rebuilt = base.clone();
        diff.apply(&mut rebuilt).unwrap();
        assert_eq!(rebuilt, changed);
        assert!(ConfigOverrides::diff(&base, &base).is_empty());
    }
}
