//! The install files (systemd units, sysusers, D-Bus policy) checked against each other and
//! against the code, so they cannot drift; and each unit's exposure score held under its limit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use secura_testbed::bus::repo_root;
use std::process::Command;

/// (daemon, highest accepted `systemd-analyze security` exposure) from the install issue.
const LIMITS: [(&str, f64); 6] = [
    ("alarmd", 0.5),
    ("sensord", 1.0),
    ("camd", 1.0),
    ("botd", 1.5),
    ("sniffer", 1.5),
    ("mqttd", 1.5),
];

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn exposure(unit: &str) -> f64 {
    let path = repo_root().join("systemd").join(unit);
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&path)
        .output()
        .expect("systemd-analyze (apt-get install systemd)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no score for {unit}: {text}"));
    let score = line
        .split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap();
    score.parse().unwrap()
}

#[test]
fn every_unit_is_under_its_exposure_limit() {
    for (daemon, limit) in LIMITS {
        let unit = format!("secura-{daemon}.service");
        let score = exposure(&unit);
        println!("{unit}: exposure {score} (limit {limit})");
        assert!(score <= limit, "{unit} scores {score}, above {limit}");
    }
}

fn key<'a>(unit: &'a str, k: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
        .collect()
}

#[test]
fn units_users_state_directories_and_policies_agree() {
    let sysusers = read("systemd/sysusers.d/secura-pi-cam.conf");
    let target = read("systemd/secura-pi-cam.target");
    let policy_names = [
        ("alarmd", "Alarm"),
        ("sniffer", "Presence"),
        ("sensord", "Sensor"),
        ("camd", "Camera"),
        ("botd", "Bot"),
        ("mqttd", "Nodes"),
    ];
    for (daemon, bus) in policy_names {
        let unit_name = format!("secura-{daemon}.service");
        let unit = read(&format!("systemd/{unit_name}"));
        let user = format!("secura-{daemon}");
        assert_eq!(key(&unit, "User"), vec![user.as_str()], "{unit_name}");
        assert_eq!(
            key(&unit, "ExecStart"),
            vec![format!("/usr/bin/secura-{daemon}").as_str()]
        );
        assert_eq!(key(&unit, "Type"), vec!["notify"], "{unit_name}");
        assert_eq!(key(&unit, "Restart"), vec!["on-failure"], "{unit_name}");
        assert!(!key(&unit, "WatchdogSec").is_empty(), "{unit_name}");
        // The daemon's default state directory (bus::cli::state_dir) is the unit's.
        let dir = secura_bus::cli::state_dir(daemon);
        if std::env::var_os("STATE_DIRECTORY").is_none() {
            assert_eq!(
                dir.file_name().unwrap().to_str().unwrap(),
                key(&unit, "StateDirectory")[0]
            );
        }
        assert!(
            sysusers
                .lines()
                .any(|l| l.split_whitespace().take(2).eq(["u", user.as_str()])),
            "{user} not in sysusers.d"
        );
        assert!(
            target.contains(&unit_name),
            "{unit_name} not wanted by the target"
        );
        let conf = read(&format!("dbus-policy/org.securapicam.{bus}.conf"));
        assert!(
            conf.contains(&format!("<policy user=\"{user}\">"))
                && conf.contains(&format!("<allow own=\"org.securapicam.{bus}\"/>")),
            "org.securapicam.{bus}.conf does not let {user} own the name"
        );
        // Only the sniffer holds a capability.
        let caps = key(&unit, "CapabilityBoundingSet");
        if daemon == "sniffer" {
            assert_eq!(caps, vec!["CAP_NET_RAW"]);
        } else {
            assert_eq!(caps, vec![""], "{unit_name} must hold no capability");
        }
    }
    assert!(sysusers.lines().any(|l| l.starts_with("g secura ")));
    let botd = read("systemd/secura-botd.service");
    assert!(botd.contains("LoadCredential=telegram-token:"));
    let mqttd = read("systemd/secura-mqttd.service");
    assert_eq!(
        key(&mqttd, "RestrictAddressFamilies"),
        vec!["AF_UNIX AF_INET AF_INET6"]
    );
}

#[test]
fn every_policy_and_interface_file_is_well_formed_and_loads_into_dbus_daemon() {
    let dir = repo_root().join("dbus-policy");
    let mut confs = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        // "--" inside an XML comment makes dbus-daemon skip the whole file with a warning only.
        for (i, comment) in text.split("<!--").skip(1).enumerate() {
            let body = comment.split("-->").next().unwrap_or("");
            assert!(
                !body.contains("--"),
                "{}: comment {} contains \"--\", which is not well-formed XML",
                path.display(),
                i + 1
            );
        }
        if path.extension().is_some_and(|e| e == "conf") {
            confs += 1;
        }
    }
    assert_eq!(confs, 6, "one policy file per bus name");
    let bus = secura_testbed::TestBus::start().unwrap();
    let log = std::fs::read_to_string(bus.dir().join("dbus-daemon.log")).unwrap_or_default();
    assert!(
        !log.contains("Encountered error"),
        "dbus-daemon rejected a policy file:\n{log}"
    );
}
