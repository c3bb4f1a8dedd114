//! System tests (DESIGN §9 tier 3, root as in CI): a "phone" in its own network namespace on a
//! veth pair, whose kernel really answers ARP, and the real sniffer capturing on the other end.
//! Skipped with a printed reason when not root or when `ip netns` does not work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use futures_util::StreamExt;
use secura_bus::names::PRESENCE_NAME;
use secura_bus::proxies::Presence1Proxy;
use secura_testbed::netns::{self, Phone};
use secura_testbed::{Daemon, TestBus, bin_path};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use zbus::proxy::CacheProperties;

const T: Duration = Duration::from_secs(10);

fn skip() -> bool {
    match netns::unavailable() {
        Some(reason) => {
            eprintln!("skipped: {reason}");
            true
        }
        None => false,
    }
}

fn config(bus: &TestBus, phone: &Phone) -> PathBuf {
    config_for(bus, phone.host_interface(), phone.mac())
}

/// A configuration capturing on `iface` for a phone with `mac`.
fn config_for(bus: &TestBus, iface: &str, mac: &str) -> PathBuf {
    let path = bus.dir().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[presence]\nlan_interface = \"{}\"\nsighting_interval = \"1s\"\n\
             probe_timeout = \"1s\"\n[[presence.devices]]\nname = \"Alice\"\nmac = \"{}\"\n",
            iface, mac
        ),
    )
    .unwrap();
    path
}

struct Setup {
    _bus: TestBus,
    daemon: Daemon,
    conn: zbus::Connection,
}

async fn sniffer(bus: TestBus, phone: &Phone) -> Setup {
    let cfg = config(&bus, phone);
    sniffer_with(bus, cfg).await
}

async fn sniffer_with(bus: TestBus, cfg: PathBuf) -> Setup {
    let daemon = Daemon::spawn(
        &bus,
        "secura-sniffer",
        &["--config", cfg.to_str().unwrap(), "-d"],
        &bus.dir().join("state"),
    )
    .unwrap();
    if let Err(e) = bus.wait_for_name(PRESENCE_NAME, T).await {
        panic!("{e}\n--- sniffer log ---\n{}", daemon.log());
    }
    let conn = bus.connect().await.unwrap();
    conn.request_name("org.securapicam.TestClient")
        .await
        .unwrap();
    Setup {
        _bus: bus,
        daemon,
        conn,
    }
}

async fn presence(conn: &zbus::Connection) -> Presence1Proxy<'static> {
    Presence1Proxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn phone_traffic_is_sighted_and_probe_finds_it_even_after_it_moves() {
    if skip() {
        return;
    }
    let mut phone = Phone::create("a4:5e:60:c0:ff:ee", 23).unwrap();
    tokio::time::timeout(Duration::from_secs(60), async {
        let s = sniffer(TestBus::start().unwrap(), &phone).await;
        let p = presence(&s.conn).await;
        let source = format!("lan:{}", phone.host_interface());
        assert!(
            secura_testbed::eventually(T, || async {
                p.sources().await.unwrap() == vec![source.clone()]
            })
            .await,
            "{}",
            s.daemon.log()
        );
        let mut sightings = p.receive_sighting().await.unwrap();
        phone.chatter().unwrap();
        let sighting = tokio::time::timeout(T, sightings.next())
            .await
            .unwrap_or_else(|_| panic!("no sighting\n{}", s.daemon.log()))
            .unwrap();
        let a = sighting.args().unwrap();
        assert_eq!((a.mac, a.source), (phone.mac(), source.as_str()));

        // Its address was learned from its ARP: asked first, answered at once.
        let start = Instant::now();
        let answers = p.probe(&[phone.mac()], 2000).await.unwrap();
        assert!(answers[0].answered, "{answers:?}\n{}", s.daemon.log());
        assert_eq!(answers[0].ip, phone.ip().to_string());
        assert!(
            start.elapsed() < Duration::from_millis(1000),
            "{:?}",
            start.elapsed()
        );

        // A new lease: the old address is silent, the sweep finds the new one.
        phone.renumber(77).unwrap();
        let answers = p.probe(&[phone.mac()], 3000).await.unwrap();
        assert!(answers[0].answered, "{answers:?}\n{}", s.daemon.log());
        assert_eq!(answers[0].ip, phone.ip().to_string());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_is_unanswered_within_its_timeout_once_the_phone_is_gone() {
    if skip() {
        return;
    }
    let phone = Phone::create("a4:5e:60:c0:ff:01", 42).unwrap();
    tokio::time::timeout(Duration::from_secs(60), async {
        let s = sniffer(TestBus::start().unwrap(), &phone).await;
        let p = presence(&s.conn).await;
        assert!(
            p.probe(&[phone.mac()], 2000).await.unwrap()[0].answered,
            "{}",
            s.daemon.log()
        );
        phone.set_link(false).unwrap();
        let start = Instant::now();
        let answers = p.probe(&[phone.mac()], 1500).await.unwrap();
        let took = start.elapsed();
        assert!(!answers[0].answered, "{answers:?}");
        assert_eq!(answers[0].ip, "");
        assert!(
            took >= Duration::from_millis(1400) && took < Duration::from_millis(2500),
            "{took:?}"
        );
        phone.set_link(true).unwrap();
        assert!(p.probe(&[phone.mac()], 3000).await.unwrap()[0].answered);
    })
    .await
    .unwrap();
}

#[test]
fn probing_a_mac_that_is_not_on_the_link_is_unanswered_with_exit_2() {
    if skip() {
        return;
    }
    // The phone answers ARP for its own MAC only; the request to another goes unanswered.
    let phone = Phone::create("a4:5e:60:c0:ff:02", 9).unwrap();
    let out = Command::new(bin_path("secura-sniffer").unwrap())
        .args([
            "probe",
            "--interface",
            phone.host_interface(),
            "--timeout",
            "800ms",
        ])
        .arg("a4:5e:60:c0:ff:03")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("did not answer"));
}

fn setpriv_nobody(caps: bool) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"]);
    if caps {
        c.args(["--inh-caps", "+net_raw", "--ambient-caps", "+net_raw"]);
    }
    c.arg(bin_path("secura-sniffer").unwrap());
    c
}

#[test]
fn an_unprivileged_user_with_only_cap_net_raw_can_probe_and_scan() {
    if skip() {
        return;
    }
    let phone = Phone::create("a4:5e:60:c0:ff:04", 5).unwrap();
    let out = setpriv_nobody(true)
        .args(["probe", "--interface", phone.host_interface(), phone.mac()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text.contains(&format!("answered from {}", phone.ip())),
        "{text}"
    );

    let scan = std::thread::scope(|s| {
        let scan = s.spawn(|| {
            setpriv_nobody(true)
                .args([
                    "scan",
                    "--interface",
                    phone.host_interface(),
                    "--seconds",
                    "3",
                ])
                .output()
                .unwrap()
        });
        std::thread::sleep(Duration::from_millis(800));
        phone.chatter().unwrap();
        scan.join().unwrap()
    });
    let text = String::from_utf8_lossy(&scan.stdout);
    assert_eq!(scan.status.code(), Some(0), "{scan:?}");
    let line = text
        .lines()
        .find(|l| l.starts_with(phone.mac()))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("global (vendor-assigned)"), "{line}");
    assert!(line.contains(&phone.ip().to_string()), "{line}");
}

#[test]
fn without_cap_net_raw_the_daemon_exits_naming_setcap_and_the_unit() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[presence]\nlan_interface = \"lo\"\n").unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = setpriv_nobody(false)
        .args(["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    // 77 (EX_NOPERM), which the unit lists in RestartPreventExitStatus: no restart loop.
    assert_eq!(out.status.code(), Some(77), "{out:?}");
    assert!(text.contains("CAP_NET_RAW"), "{text}");
    assert!(text.contains("setcap cap_net_raw+ep"), "{text}");
    assert!(text.contains("secura-sniffer.service"), "{text}");
    let out = setpriv_nobody(false)
        .args(["probe", "--interface", "lo", "02:00:00:00:00:01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(77), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("setcap"));
}

/// The capability sets of every thread of `pid`, from /proc.
fn thread_caps(pid: u32) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        for line in status.lines().filter(|l| l.starts_with("Cap")) {
            let (k, v) = line.split_once(':').unwrap();
            out.push((k.to_string(), v.trim().to_string()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_keeps_only_cap_net_raw_in_every_thread() {
    if skip() {
        return;
    }
    let phone = Phone::create("a4:5e:60:c0:ff:05", 7).unwrap();
    tokio::time::timeout(Duration::from_secs(60), async {
        let s = sniffer(TestBus::start().unwrap(), &phone).await;
        let caps = thread_caps(s.daemon.pid().unwrap());
        assert!(caps.len() >= 5 * 2, "{caps:?}");
        // CAP_NET_RAW is bit 13.
        for (set, value) in caps {
            let expected = match set.as_str() {
                "CapPrm" | "CapEff" | "CapBnd" => "0000000000002000",
                _ => "0000000000000000",
            };
            assert_eq!(value, expected, "{set}");
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn under_the_unit_s_grant_cap_net_raw_leaves_the_ambient_set_after_start() {
    if skip() {
        return;
    }
    if nix::unistd::User::from_name("secura-sniffer")
        .ok()
        .flatten()
        .is_none()
    {
        eprintln!("skipped: no user secura-sniffer (the package's sysusers.d creates it)");
        return;
    }
    let phone = Phone::create("a4:5e:60:c0:ff:06", 8).unwrap();
    // The real policy only: the name is secura-sniffer's.
    let bus = TestBus::start_with(secura_testbed::bus::Overlay::PolicyOnly).unwrap();
    let cfg = config(&bus, &phone);
    let log_path = bus.dir().join("sniffer-unit.log");
    let log = std::fs::File::create(&log_path).unwrap();
    // What the unit does: its user, CAP_NET_RAW inheritable and ambient, nothing else.
    let mut child = Command::new("setpriv")
        .args([
            "--reuid=secura-sniffer",
            "--regid=secura-sniffer",
            "--clear-groups",
            "--inh-caps",
            "+net_raw",
            "--ambient-caps",
            "+net_raw",
            "--",
        ])
        .arg(bin_path("secura-sniffer").unwrap())
        .args(["--config", cfg.to_str().unwrap(), "-d"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
        .env_remove("NOTIFY_SOCKET")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let checked = tokio::time::timeout(Duration::from_secs(60), async {
        if let Err(e) = bus.wait_for_name(PRESENCE_NAME, T).await {
            panic!(
                "{e}\n--- sniffer log ---\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        let caps = thread_caps(child.id());
        assert!(caps.len() >= 5 * 2, "{caps:?}");
        for (set, value) in caps {
            let expected = match set.as_str() {
                "CapPrm" | "CapEff" => "0000000000002000",
                "CapAmb" => "0000000000000000",
                // Inheritable keeps what the unit granted (emptying it needs capset, which the
                // unit's filter forbids); without the ambient set no program executed inherits
                // it. The bounding set is the unit's to restrict.
                _ => continue,
            };
            assert_eq!(value, expected, "{set}");
        }
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    checked.unwrap();
}

/// The phone's kernel stops (`ignore`) or resumes answering ARP requests.
fn ignore_arp(phone: &Phone, ignore: bool) {
    let value = if ignore { "8" } else { "0" };
    let script =
        format!("for f in /proc/sys/net/ipv4/conf/*/arp_ignore; do echo {value} > $f; done");
    let out = phone.exec(&["sh", "-c", &script]).unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn alarmd_arms_when_the_phone_is_gone_and_disarms_only_when_it_answers_arp() {
    if skip() {
        return;
    }
    let Ok(_) = bin_path("secura-alarmd") else {
        eprintln!("skipped: secura-alarmd is not built (cargo build -p secura-alarmd --bins)");
        return;
    };
    let phone = Phone::create("a4:5e:60:c0:ff:06", 31).unwrap();
    phone.set_link(false).unwrap();
    tokio::time::timeout(Duration::from_secs(120), async {
        let bus = TestBus::start().unwrap();
        let cfg = bus.dir().join("config.toml");
        std::fs::write(
            &cfg,
            format!(
                "[alarm]\naway_after = \"2s\"\nprobe_attempts = 2\nstartup_grace = \"0s\"\n\
                 [presence]\nlan_interface = \"{}\"\nsighting_interval = \"1s\"\n\
                 probe_timeout = \"700ms\"\n[[presence.devices]]\nname = \"Alice\"\n\
                 mac = \"{}\"\n",
                phone.host_interface(),
                phone.mac()
            ),
        )
        .unwrap();
        let args = ["--config", cfg.to_str().unwrap(), "-d"];
        let sniffer =
            Daemon::spawn(&bus, "secura-sniffer", &args, &bus.dir().join("sniffer")).unwrap();
        bus.wait_for_name(PRESENCE_NAME, T)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", sniffer.log()));
        let camera = secura_testbed::fakes::FakeCamera::start(&bus)
            .await
            .unwrap();
        let bot = secura_testbed::fakes::FakeBot::start(&bus).await.unwrap();
        let alarmd =
            Daemon::spawn(&bus, "secura-alarmd", &args, &bus.dir().join("alarmd")).unwrap();
        bus.wait_for_name(secura_bus::names::ALARM_NAME, T)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", alarmd.log()));
        let conn = bus.connect().await.unwrap();
        let alarm = secura_bus::proxies::Alarm1Proxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .unwrap();
        let state = || async { alarm.state().await.unwrap_or_default() };
        let logs = || {
            format!(
                "--- alarmd ---\n{}\n--- sniffer ---\n{}",
                alarmd.log(),
                sniffer.log()
            )
        };

        // Nobody home: away_after, then unanswered probes, then armed.
        assert!(
            secura_testbed::eventually(Duration::from_secs(30), || async {
                state().await == "armed"
            })
            .await,
            "{}",
            logs()
        );

        // Someone transmits with the phone's MAC but does not answer ARP: still armed.
        ignore_arp(&phone, true);
        phone.set_link(true).unwrap();
        phone.chatter().unwrap();
        let unconfirmed = secura_testbed::eventually(Duration::from_secs(15), || async {
            alarm
                .history(30)
                .await
                .unwrap_or_default()
                .iter()
                .any(|h| h.text.contains("unconfirmed sighting of Alice"))
        })
        .await;
        assert!(unconfirmed, "{}", logs());
        assert_eq!(state().await, "armed", "{}", logs());

        // The phone really is back: it answers ARP, and its next frames disarm.
        ignore_arp(&phone, false);
        tokio::time::sleep(Duration::from_millis(1100)).await; // past the sighting throttle
        phone.chatter().unwrap();
        assert!(
            secura_testbed::eventually(Duration::from_secs(15), || async {
                state().await == "disarmed"
            })
            .await,
            "{}",
            logs()
        );
        let arrived = format!("Alice arrived (ARP answer from {})", phone.ip());
        assert!(
            secura_testbed::eventually(T, || async { bot.has(&arrived) }).await,
            "{:?}\n{}",
            bot.sent(),
            logs()
        );
        drop(camera);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_capture_follows_an_interface_that_is_unplugged_and_plugged_back() {
    if skip() {
        return;
    }
    let phone = Phone::create("a4:5e:60:c0:ff:07", 8).unwrap();
    tokio::time::timeout(Duration::from_secs(60), async {
        let s = sniffer(TestBus::start().unwrap(), &phone).await;
        let p = presence(&s.conn).await;
        let source = vec![format!("lan:{}", phone.host_interface())];
        let sources_are = |want: Vec<String>| {
            let p = &p;
            async move {
                secura_testbed::eventually(T, || async { p.sources().await.unwrap() == want }).await
            }
        };
        assert!(sources_are(source.clone()).await, "{}", s.daemon.log());
        // Down and up: the same interface, the capture carries on.
        phone.set_host_link(false).unwrap();
        phone.set_host_link(true).unwrap();
        // Unplugged and plugged back: a new interface under the same name, reopened.
        phone.replug().unwrap();
        let reopened = secura_testbed::eventually(T, || async {
            s.daemon.log().matches("capturing").count() >= 2
        })
        .await;
        assert!(reopened, "{}", s.daemon.log());
        assert!(sources_are(source.clone()).await, "{}", s.daemon.log());
        let mut sightings = p.receive_sighting().await.unwrap();
        phone.chatter().unwrap();
        assert!(
            tokio::time::timeout(T, sightings.next()).await.is_ok(),
            "{}",
            s.daemon.log()
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_interface_is_captured_once_plugged_in_and_dropped_once_unplugged() {
    if skip() {
        return;
    }
    let phone = Phone::create("a4:5e:60:c0:ff:09", 8).unwrap();
    phone.unplug().unwrap();
    tokio::time::timeout(Duration::from_secs(60), async {
        let s = sniffer(TestBus::start().unwrap(), &phone).await;
        let p = presence(&s.conn).await;
        let missing =
            secura_testbed::eventually(T, || async { s.daemon.log().contains("cannot capture") })
                .await;
        assert!(missing, "{}", s.daemon.log());
        assert!(p.sources().await.unwrap().is_empty());
        phone.plug_in().unwrap();
        let source = vec![format!("lan:{}", phone.host_interface())];
        let listed =
            secura_testbed::eventually(T, || async { p.sources().await.unwrap() == source }).await;
        assert!(listed, "{}", s.daemon.log());
        phone.unplug().unwrap();
        let dropped =
            secura_testbed::eventually(T, || async { p.sources().await.unwrap().is_empty() }).await;
        assert!(dropped, "{}", s.daemon.log());
    })
    .await
    .unwrap();
}

/// Voluntary context switches of every thread of `pid`: each is a wake-up that slept again.
fn voluntary_switches(pid: u32) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status =
            std::fs::read_to_string(task.unwrap().path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

/// A socket that hears every link change in this network namespace, other tests' included.
fn link_changes() -> netlink_sys::Socket {
    let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE).unwrap();
    socket
        .bind(&netlink_sys::SocketAddr::new(0, 1 /* RTMGRP_LINK */))
        .unwrap();
    socket.set_non_blocking(true).unwrap();
    socket
}

/// How many link changes `socket` heard since last asked (a lost one counts too).
fn drain(socket: &netlink_sys::Socket) -> usize {
    let mut n = 0;
    let mut buf = vec![0u8; 16 << 10];
    loop {
        match socket.recv(&mut &mut buf[..], 0) {
            Ok(_) => n += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return n,
            Err(_) => n += 1,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_sniffer_with_its_interface_up_never_wakes() {
    if skip() {
        return;
    }
    let phone = Phone::create("a4:5e:60:c0:ff:0a", 8).unwrap();
    let changes = link_changes();
    tokio::time::timeout(Duration::from_secs(120), async {
        // The configured phone is not this link's: its kernel's own chatter (IPv6 router
        // solicitations, ARP) stops at the BPF filter, as a stranger's would.
        let bus = TestBus::start().unwrap();
        let cfg = config_for(&bus, phone.host_interface(), "a4:5e:60:c0:ff:0b");
        let s = sniffer_with(bus, cfg).await;
        let p = presence(&s.conn).await;
        let source = vec![format!("lan:{}", phone.host_interface())];
        let listed =
            secura_testbed::eventually(T, || async { p.sources().await.unwrap() == source }).await;
        assert!(listed, "{}", s.daemon.log());
        // Let the start-up settle (the bus's replies, the filter's first frames).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let pid = s.daemon.pid().unwrap();
        // A window of three periods of the 2 s interface check this replaced. Any link change
        // (other tests make and delete links) wakes the sniffer to look: only a window with
        // none counts.
        for _ in 0..10 {
            drain(&changes);
            let before = voluntary_switches(pid);
            tokio::time::sleep(Duration::from_secs(7)).await;
            let after = voluntary_switches(pid);
            if drain(&changes) == 0 {
                assert_eq!(after - before, 0, "wake-ups over 7 s; {}", s.daemon.log());
                return;
            }
        }
        panic!("links kept changing: no quiet window to measure");
    })
    .await
    .unwrap();
}
