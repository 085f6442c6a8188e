//! Command line and config file: the clap [`Cli`], the TOML [`FileConfig`],
//! and their merge into one validated [`Settings`]. Flags override the file;
//! the file overrides the library defaults. Every failure is a
//! [`SettingsError`] whose message fits on one line.
//!
//! Nothing here opens a socket: whether an address is usable is found out
//! when the node binds it (see `node`).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use peerlink::error::ConfigError;
use peerlink::Config;
use serde::Deserialize;

/// Filter used when neither `--log-level`, `RUST_LOG` nor the file sets one.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// How log lines are written on stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (colours on a terminal).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields`, `target`,
    /// and the span list.
    Json,
}

/// A small P2P node on peerlink: keeps one TCP connection per peer IP,
/// pings every peer, and serves its peer table on an admin endpoint.
#[derive(Clone, Debug, Default, Parser)]
#[command(name = "peerlink-node", version)]
pub struct Cli {
    /// TOML file with any of the settings below (snake_case keys, durations
    /// as strings like "15s" or "1m30s"); flags given here override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to accept peers on. Its IP is also the source address of
    /// outbound connections, unless it is unspecified (0.0.0.0) or
    /// --local-ip is given.
    #[arg(long, value_name = "IP:PORT")]
    pub listen: Option<SocketAddr>,
    /// A peer to keep connected (repeatable). Given at least once, the
    /// flags replace the file's `peers` list.
    #[arg(long = "peer", value_name = "IP:PORT")]
    pub peers: Vec<SocketAddr>,
    /// Source IP of outbound connections (several nodes on one machine).
    #[arg(long, value_name = "IP")]
    pub local_ip: Option<IpAddr>,
    /// Admin HTTP endpoint (loopback only): GET /peers, /metrics, /health.
    #[arg(long, value_name = "IP:PORT")]
    pub admin: Option<SocketAddr>,
    /// Log filter: a level (info, debug...) or tracing directives
    /// ("info,peerlink=debug"). Default: RUST_LOG, then the file, then info.
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Log line format on stderr: `text` (human-readable) or `json` (one
    /// JSON object per line, for log collectors). [default: text]
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Network id; peers with another id are refused. [default: 0]
    #[arg(long, value_name = "N")]
    pub network_id: Option<u32>,
    /// Most inbound connections at once. [default: 125]
    #[arg(long, value_name = "N")]
    pub max_inbound: Option<usize>,
    /// Most outbound connections at once. [default: 75]
    #[arg(long, value_name = "N")]
    pub max_outbound: Option<usize>,
    /// Most inbound handshakes in flight at once; our own dials have a
    /// budget of the same size. [default: 30]
    #[arg(long, value_name = "N")]
    pub max_pending: Option<usize>,
    /// How often each peer is pinged. [default: 15s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub ping_interval: Option<Duration>,
    /// How long a ping waits for its pong. [default: 20s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub pong_timeout: Option<Duration>,
    /// Consecutive missed pongs that declare a peer dead. [default: 3]
    #[arg(long, value_name = "N")]
    pub max_missed_pongs: Option<u32>,
    /// Time allowed for a handshake. [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub handshake_timeout: Option<Duration>,
    /// Time allowed for a TCP connect. [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// First redial delay after a failure. [default: 5s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub redial_backoff_min: Option<Duration>,
    /// Ceiling of the redial delay. [default: 300s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub redial_backoff_max: Option<Duration>,
    /// Misbehaviour strikes within --ban-duration that ban a peer IP.
    /// [default: 3]
    #[arg(long, value_name = "N")]
    pub ban_threshold: Option<u32>,
    /// How long a ban lasts. [default: 10m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub ban_duration: Option<Duration>,
    /// An inbound connection the peer ends sooner than this after its
    /// handshake is a flap and earns a `short_lived` strike; capped at
    /// --ping-interval, 0s turns flap strikes off. [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub flap_lifetime: Option<Duration>,
    /// Flap strikes within --ban-duration that ban a peer IP. Keep it
    /// above what an honest peer's redial backoff allows (26 with the
    /// default timers); the node warns at start when it is not.
    /// [default: 27]
    #[arg(long, value_name = "N")]
    pub flap_threshold: Option<u32>,
    /// An IP that may never connect or be dialled (repeatable); refused
    /// with `HelloReject(denied)`. Given at least once, the flags replace
    /// the file's `deny` list.
    #[arg(long = "deny", value_name = "IP")]
    pub deny: Vec<IpAddr>,
    /// An IP allowed to connect or be dialled (repeatable); once any is
    /// given, every other IP is refused with `HelloReject(denied)`. Given
    /// at least once, the flags replace the file's `allow` list.
    #[arg(long = "allow", value_name = "IP")]
    pub allow: Vec<IpAddr>,
}

/// The config file: the same settings as the flags, all optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// See [`Cli::listen`].
    pub listen: Option<SocketAddr>,
    /// See [`Cli::peers`].
    pub peers: Option<Vec<SocketAddr>>,
    /// See [`Cli::local_ip`].
    pub local_ip: Option<IpAddr>,
    /// See [`Cli::admin`].
    pub admin: Option<SocketAddr>,
    /// See [`Cli::log_level`].
    pub log_level: Option<String>,
    /// See [`Cli::log_format`].
    pub log_format: Option<LogFormat>,
    /// See [`Cli::network_id`].
    pub network_id: Option<u32>,
    /// See [`Cli::max_inbound`].
    pub max_inbound: Option<usize>,
    /// See [`Cli::max_outbound`].
    pub max_outbound: Option<usize>,
    /// See [`Cli::max_pending`].
    pub max_pending: Option<usize>,
    /// See [`Cli::ping_interval`].
    pub ping_interval: Option<String>,
    /// See [`Cli::pong_timeout`].
    pub pong_timeout: Option<String>,
    /// See [`Cli::max_missed_pongs`].
    pub max_missed_pongs: Option<u32>,
    /// See [`Cli::handshake_timeout`].
    pub handshake_timeout: Option<String>,
    /// See [`Cli::connect_timeout`].
    pub connect_timeout: Option<String>,
    /// See [`Cli::redial_backoff_min`].
    pub redial_backoff_min: Option<String>,
    /// See [`Cli::redial_backoff_max`].
    pub redial_backoff_max: Option<String>,
    /// See [`Cli::ban_threshold`].
    pub ban_threshold: Option<u32>,
    /// See [`Cli::ban_duration`].
    pub ban_duration: Option<String>,
    /// See [`Cli::flap_lifetime`].
    pub flap_lifetime: Option<String>,
    /// See [`Cli::flap_threshold`].
    pub flap_threshold: Option<u32>,
    /// See [`Cli::deny`].
    pub deny: Option<Vec<IpAddr>>,
    /// See [`Cli::allow`].
    pub allow: Option<Vec<IpAddr>>,
}

/// Everything the node needs to start, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Where peers connect to us.
    pub listen: SocketAddr,
    /// Peers kept connected from the start.
    pub peers: Vec<SocketAddr>,
    /// Source IP of outbound connections.
    pub local_ip: Option<IpAddr>,
    /// The admin endpoint, if any.
    pub admin: Option<SocketAddr>,
    /// The tracing filter.
    pub log_filter: String,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// The library's settings.
    pub config: Config,
}

/// Why the settings are unusable. Each message is one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for these settings.
    #[error("invalid config file {path}, line {line}: {message}")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong, on one line.
        message: String,
    },
    /// A duration in the file does not parse.
    #[error("invalid duration for {field}: {value:?}: {message}")]
    Duration {
        /// The setting.
        field: &'static str,
        /// What was given.
        value: String,
        /// Why it does not parse, and what would.
        message: String,
    },
    /// No listen address anywhere.
    #[error("no listen address: give --listen IP:PORT or `listen` in the config file")]
    NoListen,
    /// A peer address that cannot be dialled.
    #[error("peer address {0} cannot be dialled: it needs a specific IP and a non-zero port")]
    Peer(SocketAddr),
    /// The admin endpoint would be reachable from the network.
    #[error("admin address {0} must be a loopback address (127.0.0.0/8 or ::1)")]
    AdminNotLoopback(SocketAddr),
    /// The log filter does not parse.
    #[error("invalid log filter {filter:?}: {message}")]
    LogFilter {
        /// What was given.
        filter: String,
        /// Why it does not parse.
        message: String,
    },
    /// The library refused the combination of settings.
    #[error("invalid settings: {0}")]
    Config(#[from] ConfigError),
}

/// What a duration looks like, for error messages.
pub const DURATION_HINT: &str = "a number and a unit, e.g. 500ms, 15s, 2m, 1h30m";

/// Parses a duration in humantime's syntax (`500ms`, `15s`, `2m`, `1h 30m`,
/// `1.5s`); a bare number has no unit and is refused. The error is
/// humantime's, with a hint.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("{e} (use {DURATION_HINT})"))
}

impl FileConfig {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<FileConfig, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        FileConfig::parse(&text).map_err(|(line, message)| SettingsError::ParseFile {
            path: path.to_path_buf(),
            line,
            message,
        })
    }

    /// Parses TOML text; an error is its 1-based line and a one-line message.
    pub fn parse(text: &str) -> Result<FileConfig, (usize, String)> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            let offset = e.span().map_or(0, |s| s.start).min(text.len());
            let line = text.as_bytes()[..offset]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1;
            (line, one_line(e.message()))
        })
    }
}

/// Joins a possibly multi-line message into one line.
pub fn one_line(text: &str) -> String {
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    parts.join("; ")
}

fn file_duration(
    field: &'static str,
    value: Option<&String>,
) -> Result<Option<Duration>, SettingsError> {
    value
        .map(|v| {
            parse_duration(v).map_err(|message| SettingsError::Duration {
                field,
                value: v.clone(),
                message,
            })
        })
        .transpose()
}

impl Settings {
    /// Reads the file named by `--config` (if any) and merges it under the
    /// flags. `env_filter` is `RUST_LOG`, consulted after `--log-level`.
    pub fn from_cli(cli: Cli, env_filter: Option<String>) -> Result<Settings, SettingsError> {
        let file = match &cli.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Settings::merge(cli, file, env_filter)
    }

    /// Flags over file over defaults, then validation.
    pub fn merge(
        cli: Cli,
        file: FileConfig,
        env_filter: Option<String>,
    ) -> Result<Settings, SettingsError> {
        let listen = cli.listen.or(file.listen).ok_or(SettingsError::NoListen)?;
        let config = merged_config(&cli, &file)?;
        config.validate()?;
        let peers = if cli.peers.is_empty() {
            file.peers.unwrap_or_default()
        } else {
            cli.peers
        };
        if let Some(bad) = peers
            .iter()
            .find(|p| p.ip().is_unspecified() || p.port() == 0)
        {
            return Err(SettingsError::Peer(*bad));
        }
        let admin = cli.admin.or(file.admin);
        if let Some(admin) = admin.filter(|a| !a.ip().is_loopback()) {
            return Err(SettingsError::AdminNotLoopback(admin));
        }
        let local_ip = cli
            .local_ip
            .or(file.local_ip)
            .or(Some(listen.ip()).filter(|ip| !ip.is_unspecified()));
        let log_filter = cli
            .log_level
            .or(env_filter.filter(|f| !f.trim().is_empty()))
            .or(file.log_level)
            .unwrap_or_else(|| DEFAULT_LOG_FILTER.to_string());
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log_filter) {
            return Err(SettingsError::LogFilter {
                filter: log_filter,
                message: one_line(&e.to_string()),
            });
        }
        Ok(Settings {
            listen,
            peers,
            local_ip,
            admin,
            log_filter,
            log_format: cli.log_format.or(file.log_format).unwrap_or_default(),
            config,
        })
    }
}

/// Names of the duration settings, in the order [`merged_config`] uses.
const DURATION_FIELDS: [&str; 8] = [
    "ping_interval",
    "pong_timeout",
    "handshake_timeout",
    "connect_timeout",
    "redial_backoff_min",
    "redial_backoff_max",
    "ban_duration",
    "flap_lifetime",
];

/// The library config: each field from the flag, else the file, else
/// `Config::default()`.
fn merged_config(cli: &Cli, file: &FileConfig) -> Result<Config, SettingsError> {
    let d = Config::default();
    let flags = [
        cli.ping_interval,
        cli.pong_timeout,
        cli.handshake_timeout,
        cli.connect_timeout,
        cli.redial_backoff_min,
        cli.redial_backoff_max,
        cli.ban_duration,
        cli.flap_lifetime,
    ];
    let in_file = [
        &file.ping_interval,
        &file.pong_timeout,
        &file.handshake_timeout,
        &file.connect_timeout,
        &file.redial_backoff_min,
        &file.redial_backoff_max,
        &file.ban_duration,
        &file.flap_lifetime,
    ];
    let mut durations = [
        d.ping_interval,
        d.pong_timeout,
        d.handshake_timeout,
        d.connect_timeout,
        d.redial_backoff_min,
        d.redial_backoff_max,
        d.ban_duration,
        d.flap_lifetime,
    ];
    for (i, slot) in durations.iter_mut().enumerate() {
        let from_file = file_duration(DURATION_FIELDS[i], in_file[i].as_ref())?;
        *slot = flags[i].or(from_file).unwrap_or(*slot);
    }
    let [ping_interval, pong_timeout, handshake_timeout, connect_timeout, redial_backoff_min, redial_backoff_max, ban_duration, flap_lifetime] =
        durations;
    Ok({
        let mut c = d.clone();
        c.network_id = cli.network_id.or(file.network_id).unwrap_or(d.network_id);
        c.max_inbound = cli
            .max_inbound
            .or(file.max_inbound)
            .unwrap_or(d.max_inbound);
        c.max_outbound = cli
            .max_outbound
            .or(file.max_outbound)
            .unwrap_or(d.max_outbound);
        c.max_pending_handshakes = cli
            .max_pending
            .or(file.max_pending)
            .unwrap_or(d.max_pending_handshakes);
        c.max_missed_pongs = cli
            .max_missed_pongs
            .or(file.max_missed_pongs)
            .unwrap_or(d.max_missed_pongs);
        c.ping_interval = ping_interval;
        c.pong_timeout = pong_timeout;
        c.handshake_timeout = handshake_timeout;
        c.connect_timeout = connect_timeout;
        c.redial_backoff_min = redial_backoff_min;
        c.redial_backoff_max = redial_backoff_max;
        c.ban_threshold = cli
            .ban_threshold
            .or(file.ban_threshold)
            .unwrap_or(d.ban_threshold);
        c.ban_duration = ban_duration;
        c.flap_lifetime = flap_lifetime;
        c.flap_threshold = cli
            .flap_threshold
            .or(file.flap_threshold)
            .unwrap_or(d.flap_threshold);
        c.deny = ip_list(&cli.deny, file.deny.as_ref());
        c.allow = ip_list(&cli.allow, file.allow.as_ref());
        c
    })
}

/// The flags' IPs if any were given, else the file's, else none.
fn ip_list(flags: &[IpAddr], file: Option<&Vec<IpAddr>>) -> BTreeSet<IpAddr> {
    if flags.is_empty() {
        file.map(|ips| ips.iter().copied().collect())
            .unwrap_or_default()
    } else {
        flags.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests;
