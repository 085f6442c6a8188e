//! Unit tests of the settings: duration syntax, merge order, lists, log
//! format, and the one-line errors.

use super::*;

fn cli(args: &[&str]) -> Cli {
    let mut full = vec!["peerlink-node"];
    full.extend_from_slice(args);
    Cli::try_parse_from(full).expect("flags parse")
}

/// Durations need a unit; each unit scales as documented, units
/// combine, and fractions are allowed.
#[test]
fn durations_parse_with_units_only() {
    let ok = [
        ("500ms", Duration::from_millis(500)),
        ("15s", Duration::from_secs(15)),
        ("2m", Duration::from_secs(120)),
        ("1h", Duration::from_secs(3600)),
        ("1h 30m", Duration::from_secs(5400)),
        ("1m30s", Duration::from_secs(90)),
        ("1.5s", Duration::from_millis(1500)),
        (" 10sec ", Duration::from_secs(10)),
    ];
    for (text, want) in ok {
        assert_eq!(parse_duration(text), Ok(want), "{text}");
    }
    let hint = format!(" (use {DURATION_HINT})");
    let bad = [
        ("15", "time unit needed, for example 15sec or 15ms"),
        ("s", "expected number at 0"),
        ("-1s", "expected number at 0"),
        ("10 parsecs", "unknown time unit \"parsecs\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)"),
        ("", "value was empty"),
    ];
    for (text, message) in bad {
        assert_eq!(
            parse_duration(text),
            Err(format!("{message}{hint}")),
            "{text}"
        );
    }
}

/// A bad duration in the file names the setting, the value, what is
/// wrong and what would do, on one line.
#[test]
fn bad_file_duration_is_named() {
    let file = FileConfig::parse("listen = \"127.0.0.1:1\"\nban_duration = \"10\"\n")
        .expect("file parses");
    let err = Settings::merge(cli(&[]), file, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid duration for ban_duration: \"10\": time unit needed, for example 10sec or 10ms (use {DURATION_HINT})"
        )
    );
}

/// Flags override the file, the file overrides the defaults, and the
/// listen IP becomes the outbound source IP.
#[test]
fn flags_override_file_over_defaults() {
    let file = FileConfig::parse(
        "listen = \"127.0.0.2:9000\"\npeers = [\"127.0.0.3:9000\"]\n\
         ping_interval = \"2s\"\npong_timeout = \"3s\"\nmax_inbound = 7\n",
    )
    .expect("file parses");
    let flags = cli(&["--ping-interval", "500ms", "--max-outbound", "9"]);
    let s = Settings::merge(flags, file, None).expect("valid");
    assert_eq!(s.listen, "127.0.0.2:9000".parse().unwrap());
    assert_eq!(s.peers, vec!["127.0.0.3:9000".parse().unwrap()]);
    assert_eq!(s.local_ip, Some("127.0.0.2".parse().unwrap()));
    assert_eq!(s.config.ping_interval, Duration::from_millis(500));
    assert_eq!(s.config.pong_timeout, Duration::from_secs(3));
    assert_eq!(s.config.max_inbound, 7);
    assert_eq!(s.config.max_outbound, 9);
    assert_eq!(
        s.config.handshake_timeout,
        Config::default().handshake_timeout
    );
    assert_eq!(s.log_filter, DEFAULT_LOG_FILTER);
}

/// The flap settings come from the flag, else the file, else the
/// defaults (10 s, 27).
#[test]
fn flap_settings_flag_over_file() {
    let file = FileConfig::parse(
        "listen = \"127.0.0.2:9000\"\nflap_lifetime = \"4s\"\nflap_threshold = 40\n",
    )
    .expect("file parses");
    let s = Settings::merge(cli(&["--flap-threshold", "50"]), file, None).expect("valid");
    assert_eq!(s.config.flap_lifetime, Duration::from_secs(4));
    assert_eq!(s.config.flap_threshold, 50);
    let flags = cli(&["--listen", "127.0.0.2:9000", "--flap-lifetime", "2s"]);
    let s = Settings::merge(flags, FileConfig::default(), None).expect("valid");
    assert_eq!(s.config.flap_lifetime, Duration::from_secs(2));
    assert_eq!(s.config.flap_threshold, 27);
}

/// The log format is text by default; the file can ask for JSON and a
/// flag overrides the file; an unknown format in the file is named.
#[test]
fn log_format_flag_over_file() {
    let listen = "listen = \"127.0.0.1:1\"\n";
    let s = Settings::merge(cli(&[]), FileConfig::parse(listen).unwrap(), None).unwrap();
    assert_eq!(s.log_format, LogFormat::Text);
    let json = FileConfig::parse(&format!("{listen}log_format = \"json\"\n")).unwrap();
    let s = Settings::merge(cli(&[]), json.clone(), None).unwrap();
    assert_eq!(s.log_format, LogFormat::Json);
    let s = Settings::merge(cli(&["--log-format", "text"]), json, None).unwrap();
    assert_eq!(s.log_format, LogFormat::Text);
    let (line, message) =
        FileConfig::parse(&format!("{listen}log_format = \"xml\"\n")).unwrap_err();
    assert_eq!(line, 2);
    assert!(
        message.starts_with("unknown variant `xml`, expected `text` or `json`"),
        "{message}"
    );
}

/// `--deny` and `--allow` replace the file's lists; without them the
/// file's lists are used, and by default both are empty.
#[test]
fn deny_and_allow_lists() {
    let file = FileConfig::parse(
        "listen = \"127.0.0.1:1\"\ndeny = [\"127.0.0.9\"]\nallow = [\"127.0.0.2\", \"127.0.0.3\"]\n",
    )
    .expect("file parses");
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let s = Settings::merge(cli(&[]), file.clone(), None).expect("valid");
    assert_eq!(s.config.deny, BTreeSet::from([ip("127.0.0.9")]));
    assert_eq!(
        s.config.allow,
        BTreeSet::from([ip("127.0.0.2"), ip("127.0.0.3")])
    );
    let flags = cli(&[
        "--deny",
        "127.0.0.4",
        "--deny",
        "127.0.0.5",
        "--allow",
        "127.0.0.6",
    ]);
    let s = Settings::merge(flags, file, None).expect("valid");
    assert_eq!(
        s.config.deny,
        BTreeSet::from([ip("127.0.0.4"), ip("127.0.0.5")])
    );
    assert_eq!(s.config.allow, BTreeSet::from([ip("127.0.0.6")]));
    let s = Settings::merge(
        cli(&["--listen", "127.0.0.1:1"]),
        FileConfig::default(),
        None,
    )
    .expect("valid");
    assert!(s.config.deny.is_empty() && s.config.allow.is_empty());
}

/// Each kind of bad setting gets its own one-line message.
#[test]
fn bad_settings_are_named_on_one_line() {
    let none = Settings::merge(cli(&[]), FileConfig::default(), None).unwrap_err();
    assert!(matches!(none, SettingsError::NoListen));
    let admin = cli(&["--listen", "127.0.0.1:1", "--admin", "10.1.2.3:80"]);
    let err = Settings::merge(admin, FileConfig::default(), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "admin address 10.1.2.3:80 must be a loopback address (127.0.0.0/8 or ::1)"
    );
    let peer = cli(&["--listen", "127.0.0.1:1", "--peer", "0.0.0.0:9000"]);
    let err = Settings::merge(peer, FileConfig::default(), None).unwrap_err();
    assert!(matches!(err, SettingsError::Peer(_)));
    let zero = cli(&["--listen", "127.0.0.1:1", "--ping-interval", "0s"]);
    let err = Settings::merge(zero, FileConfig::default(), None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid settings: ping_interval must be greater than zero"
    );
    let (line, message) = FileConfig::parse("listen = \"127.0.0.1:1\"\nbogus = 1\n").unwrap_err();
    assert_eq!(line, 2);
    assert!(message.starts_with("unknown field `bogus`"), "{message}");
    assert!(!message.contains('\n'));
}
