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

/// A dead alarm must never be silent: when systemd gives up on alarmd (its start limit, or an
/// exit a restart cannot cure), `OnFailure=` runs a oneshot that queues a notice through botd,
/// as a user the Bot policy lets call `Notify`, and as tightly confined as alarmd itself.
#[test]
fn alarmd_failing_for_good_tells_the_owners_through_botd() {
    let alarmd = read("systemd/secura-alarmd.service");
    assert_eq!(
        key(&alarmd, "OnFailure"),
        vec!["secura-alarm-failed.service"]
    );
    let unit = read("systemd/secura-alarm-failed.service");
    assert_eq!(key(&unit, "Type"), vec!["oneshot"]);
    let exec = key(&unit, "ExecStart");
    assert_eq!(exec.len(), 1, "{exec:?}");
    assert!(
        exec[0].starts_with(
            "/usr/bin/busctl --system call org.securapicam.Bot /org/securapicam/Bot \
             org.securapicam.Bot1 Notify s \"🚨 "
        ),
        "{exec:?}"
    );
    assert!(exec[0].contains("NOT watching"), "{exec:?}");
    let user = key(&unit, "User");
    assert_eq!(user, vec!["secura-alarmd"]);
    let policy = read("dbus-policy/org.securapicam.Bot.conf");
    let section = policy
        .split("<policy user=\"secura-alarmd\">")
        .nth(1)
        .and_then(|s| s.split("</policy>").next())
        .expect("the Bot policy has a section for secura-alarmd");
    assert!(
        section.contains("send_member=\"Notify\""),
        "secura-alarmd may not call Notify: {section}"
    );
    assert_eq!(key(&unit, "CapabilityBoundingSet"), vec![""]);
    let score = exposure("secura-alarm-failed.service");
    println!("secura-alarm-failed.service: exposure {score}");
    assert!(score <= 0.5, "secura-alarm-failed.service scores {score}");
    let package = read("alarmd/Cargo.toml");
    assert!(package.contains("\"../systemd/secura-alarm-failed.service\""));
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(repo_root().join("systemd/secura-alarm-failed.service"))
        .output()
        .expect("systemd-analyze");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn key<'a>(unit: &'a str, k: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
        .collect()
}

/// A node Pi (`[mqtt] role = "node"`) starts its hardware daemons and mqttd, never an alarm or
/// a bot of its own, and stopping the target stops what it started.
#[test]
fn the_node_target_runs_the_hardware_and_mqttd_but_no_alarm() {
    let node = read("systemd/secura-node.target");
    let wants: Vec<&str> = key(&node, "Wants")
        .iter()
        .flat_map(|w| w.split_whitespace())
        .collect();
    assert_eq!(
        wants,
        [
            "secura-sensord.service",
            "secura-camd.service",
            "secura-mqttd.service"
        ]
    );
    let conflicts = key(&node, "Conflicts").join(" ");
    for d in ["alarmd", "botd"] {
        assert!(
            conflicts.contains(&format!("secura-{d}.service")),
            "{conflicts}"
        );
    }
    // The sniffer may be added to a node; then the target stops it too.
    for unit in wants.iter().copied().chain(["secura-sniffer.service"]) {
        let text = read(&format!("systemd/{unit}"));
        let part_of = key(&text, "PartOf").join(" ");
        assert!(
            part_of.contains("secura-node.target") && part_of.contains("secura-pi-cam.target"),
            "{unit}: PartOf={part_of}"
        );
    }
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
        // The daemon's default state directory (kit::cli::state_dir) is the unit's.
        let dir = secura_kit::cli::state_dir(daemon);
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
    // sensord reaches the GPIO chip whatever its number, and rppal's register window on a
    // Pi 4 (/dev/gpiomem) and a Pi 5 (/dev/gpiomem0).
    let sensord = read("systemd/secura-sensord.service");
    let devices = key(&sensord, "DeviceAllow");
    for want in ["char-gpiochip rw", "/dev/gpiomem rw", "/dev/gpiomem0 rw"] {
        assert!(devices.contains(&want), "sensord lacks DeviceAllow={want}");
    }
    assert!(
        !devices.iter().any(|d| d.starts_with("/dev/gpiochip")),
        "sensord names fixed gpiochip numbers: {devices:?}"
    );
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

/// Every exit code the daemon can end with, from its `Daemon` implementation.
fn exits(service: secura_bus::names::Service) -> &'static [secura_kit::Exit] {
    use secura_bus::names::Service;
    use secura_kit::Daemon;
    match service {
        Service::Alarm => secura_alarmd::start::Alarmd::EXITS,
        Service::Presence => secura_sniffer::cli::Sniffer::EXITS,
        Service::Sensor => secura_sensord::Sensord::EXITS,
        Service::Camera => secura_camd::Camd::EXITS,
        Service::Bot => secura_botd::Botd::EXITS,
        Service::Nodes => secura_mqttd::Mqttd::EXITS,
    }
}

#[test]
fn every_units_restart_prevent_exit_status_matches_what_its_daemon_can_exit_with() {
    use secura_bus::names::Service;
    for service in Service::ALL {
        let unit = read(&format!("systemd/{}.service", service.binary()));
        let mut listed: Vec<u8> = key(&unit, "RestartPreventExitStatus")
            .iter()
            .flat_map(|v| v.split_whitespace())
            .map(|c| {
                c.parse()
                    .unwrap_or_else(|_| panic!("{}: {c}", service.binary()))
            })
            .collect();
        listed.sort_unstable();
        let mut expected: Vec<u8> = exits(service)
            .iter()
            .filter(|e| e.no_restart())
            .map(|e| e.code())
            .collect();
        expected.sort_unstable();
        assert_eq!(
            listed,
            expected,
            "{}: RestartPreventExitStatus= must list exactly the codes a restart cannot cure",
            service.binary()
        );
        assert!(
            exits(service).contains(&secura_kit::Exit::Config)
                && exits(service).contains(&secura_kit::Exit::NoPermission),
            "every daemon refuses a bad configuration (78) and root (77)"
        );
    }
}

/// A runaway daemon (a hostile Bot API answer, a leak) must be stopped by its own unit before
/// it takes a Pi Zero 2 W's 512 MiB: every unit bounds memory, tasks and open files.
#[test]
fn every_unit_bounds_its_memory_tasks_and_open_files() {
    let mut units = 0;
    for entry in std::fs::read_dir(repo_root().join("systemd")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "service") {
            continue;
        }
        units += 1;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let unit = std::fs::read_to_string(&path).unwrap();
        for (k, most) in [
            ("MemoryMax", 256u64 << 20),
            ("TasksMax", 64),
            ("LimitNOFILE", 4096),
        ] {
            let v = key(&unit, k);
            assert_eq!(v.len(), 1, "{name}: {k}= must be set once: {v:?}");
            let n = parse_limit(v[0]).unwrap_or_else(|| panic!("{name}: {k}={}", v[0]));
            assert!(n > 0 && n <= most, "{name}: {k}={} is not a bound", v[0]);
        }
    }
    assert_eq!(
        units, 8,
        "six daemons, the monitor interface and alarmd's failure notice"
    );
}

/// `64M`, `32`: a number with an optional K/M/G suffix (powers of 1024, as systemd reads them).
fn parse_limit(v: &str) -> Option<u64> {
    let (digits, mult) = match v.as_bytes().last()? {
        b'K' => (&v[..v.len() - 1], 1u64 << 10),
        b'M' => (&v[..v.len() - 1], 1 << 20),
        b'G' => (&v[..v.len() - 1], 1 << 30),
        _ => (v, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

/// `packaging/secura-monitor` (what secura-monitor@.service runs) with `iw` and `ip` replaced
/// by scripts that log their arguments (no Wi-Fi radio here): the calls it makes.
fn monitor_script(args: &[&str], env: &[(&str, &str)], lan_info: &str, mon0: bool) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls");
    for tool in ["iw", "ip"] {
        let path = dir.path().join(tool);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"{tool} $*\" >> {log}\n\
                 if [ \"$*\" = \"dev wlan0 info\" ]; then printf '%s' '{lan_info}'; fi\n",
                log = log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let net = dir.path().join("net");
    std::fs::create_dir(&net).unwrap();
    if mon0 {
        std::fs::create_dir(net.join("mon0")).unwrap();
    }
    let out = Command::new(repo_root().join("packaging/secura-monitor"))
        .args(args)
        .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
        .env("SECURA_SYS_CLASS_NET", &net)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "secura-monitor {args:?}: {out:?}");
    std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

const ASSOCIATED: &str =
    "Interface wlan0\n\tifindex 3\n\ttype managed\n\tchannel 6 (2437 MHz), width: 20 MHz\n";

#[test]
fn the_monitor_interface_listens_on_the_home_networks_channel() {
    let calls = monitor_script(&["start", "wlan1"], &[], ASSOCIATED, false);
    assert_eq!(
        calls,
        [
            "iw dev wlan1 interface add mon0 type monitor",
            "ip link set mon0 up",
            "iw dev wlan0 info",
            "iw dev mon0 set channel 6",
        ]
    );
    // The documented setting wins.
    let calls = monitor_script(
        &["start", "wlan1"],
        &[("MONITOR_CHANNEL", "11")],
        ASSOCIATED,
        false,
    );
    assert_eq!(calls.last().unwrap(), "iw dev mon0 set channel 11");
    // Not associated and nothing set: mon0 is still made, with a warning, and the unit works.
    let calls = monitor_script(&["start", "wlan1"], &[], "Interface wlan0\n", false);
    assert!(
        !calls.iter().any(|c| c.contains("set channel")),
        "{calls:?}"
    );
    let unit = read("systemd/secura-monitor@.service");
    assert!(unit.contains("EnvironmentFile=-/etc/default/secura-monitor"));
    assert_eq!(
        key(&unit, "ExecStart"),
        ["/usr/lib/secura-pi-cam/secura-monitor start %i"]
    );
}

#[test]
fn removing_the_monitor_interface_is_tried_only_when_it_exists() {
    // Absent (first start, or the adapter is gone): no iw call that could fail the unit.
    assert!(monitor_script(&["stop"], &[], "", false).is_empty());
    let calls = monitor_script(&["start", "wlan1"], &[], ASSOCIATED, false);
    assert!(!calls.iter().any(|c| c.ends_with("del")), "{calls:?}");
    // Present: removed, before being made again.
    assert_eq!(
        monitor_script(&["stop"], &[], "", true),
        ["iw dev mon0 del"]
    );
    let calls = monitor_script(&["start", "wlan1"], &[], ASSOCIATED, true);
    assert_eq!(calls.first().unwrap(), "iw dev mon0 del");
    let unit = read("systemd/secura-monitor@.service");
    assert!(
        !unit.lines().any(|l| l.contains("iw dev mon0 del")),
        "the unit must not call iw del unconditionally"
    );
}

/// The users exist before the D-Bus policy naming them is unpacked: preinst creates them from a
/// copy of the sysusers.d file, which must stay identical to it.
#[test]
fn preinst_creates_the_packages_users_before_the_policy_is_unpacked() {
    let preinst = read("debian/preinst");
    let sysusers = read("systemd/sysusers.d/secura-pi-cam.conf");
    let embedded = preinst
        .split_once("<<'SYSUSERS'\n")
        .and_then(|(_, rest)| rest.split_once("SYSUSERS\n"))
        .map(|(body, _)| body)
        .expect("preinst has no SYSUSERS here-document");
    assert_eq!(
        embedded, sysusers,
        "debian/preinst's user list differs from systemd/sysusers.d/secura-pi-cam.conf"
    );
    assert!(preinst.contains("--replace=/usr/lib/sysusers.d/secura-pi-cam.conf"));
    let manifest = read("alarmd/Cargo.toml");
    assert!(
        manifest.contains(
            r#"["../systemd/sysusers.d/secura-pi-cam.conf", "usr/lib/sysusers.d/", "644"]"#
        )
    );
    let out = Command::new("sh")
        .args(["-n"])
        .arg(repo_root().join("debian/preinst"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    if nix::unistd::geteuid().is_root() {
        // Idempotent, as on an upgrade: every user is there afterwards.
        let out = Command::new("sh")
            .arg(repo_root().join("debian/preinst"))
            .arg("upgrade")
            .output()
            .unwrap();
        assert!(out.status.success(), "preinst upgrade: {out:?}");
        for line in sysusers.lines().filter(|l| l.starts_with("u ")) {
            let user = line.split_whitespace().nth(1).unwrap();
            assert!(
                nix::unistd::User::from_name(user).unwrap().is_some(),
                "{user} missing after preinst"
            );
        }
    }
}
