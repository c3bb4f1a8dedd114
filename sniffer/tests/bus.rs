//! The sniffer as a real process on a private bus in `--sim` mode (DESIGN §9 tier 2): the
//! Presence1 contract, the throttle, Probe, the policy, the command line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use futures_util::StreamExt;
use secura_bus::names::Service;
use secura_bus::names::{PRESENCE_IFACE, PRESENCE_NAME, PRESENCE_PATH};
use secura_bus::proxies::{Presence1Proxy, Simulator1Proxy};
use secura_testbed::daemon::run_to_end;
use secura_testbed::{Launch, Started, eventually};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zbus::proxy::CacheProperties;

const T: Duration = Duration::from_secs(10);
const ALICE: &str = "a4:5e:60:12:34:56";
const BOB: &str = "3a:01:02:03:04:05";

fn config(dir: &Path, presence: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, format!("[presence]\n{presence}")).unwrap();
    path
}

fn presence_section(interval: &str) -> String {
    format!(
        "lan_interface = \"lo\"\nsighting_interval = \"{interval}\"\nprobe_timeout = \"300ms\"\n\
         [[presence.devices]]\nname = \"Alice\"\nmac = \"{ALICE}\"\n\
         [[presence.devices]]\nname = \"Bob\"\nmac = \"{BOB}\"\n"
    )
}

/// A bus, the daemon on it with `[presence]` = `section` and `args`, and a client connection that
/// owns a name (the policy delivers the daemon's signals only to org.securapicam.* owners).
async fn setup(section: &str, args: &[&str]) -> Started {
    let s = Launch::new(Service::Presence, format!("[presence]\n{section}"))
        .args(args)
        .start()
        .await;
    s.conn
        .request_name("org.securapicam.TestClient")
        .await
        .unwrap();
    s
}

async fn presence(conn: &zbus::Connection) -> Presence1Proxy<'static> {
    Presence1Proxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .unwrap()
}

async fn simulator(conn: &zbus::Connection) -> Simulator1Proxy<'static> {
    Simulator1Proxy::builder(conn)
        .destination(PRESENCE_NAME)
        .path(PRESENCE_PATH)
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_arrived_phone_is_sighted_at_the_throttle_and_answers_probes() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let s = setup(&presence_section("1s"), &["--sim"]).await;
        let p = presence(&s.conn).await;
        let sim = simulator(&s.conn).await;
        assert!(
            eventually(T, || async {
                p.sources().await.unwrap() == vec!["sim".to_string()]
            })
            .await
        );
        let devices = p.devices().await.unwrap();
        assert_eq!(devices.len(), 2);
        assert!(devices.iter().all(|d| d.last_seen == 0));

        let mut sightings = p.receive_sighting().await.unwrap();
        sim.phone_arrives(ALICE).await.unwrap();
        let first = tokio::time::timeout(T, sightings.next())
            .await
            .unwrap()
            .unwrap();
        let a = first.args().unwrap();
        assert_eq!((a.mac, a.source), (ALICE, "sim"));
        let t0 = a.at;
        // The phone "transmits" every 250 ms; the throttle lets one through per second.
        let second = tokio::time::timeout(T, sightings.next())
            .await
            .unwrap()
            .unwrap();
        let gap = second.args().unwrap().at - t0;
        assert!((900_000..2_000_000).contains(&gap), "gap {gap} µs");

        let alice = p
            .devices()
            .await
            .unwrap()
            .into_iter()
            .find(|d| d.mac == ALICE)
            .unwrap();
        assert!(alice.last_seen >= t0);

        let answers = p.probe(&[ALICE, BOB], 500).await.unwrap();
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].mac, ALICE);
        assert!(answers[0].answered);
        assert!(
            answers[0].ip.parse::<std::net::Ipv4Addr>().is_ok(),
            "{:?}",
            answers[0]
        );
        assert_eq!((answers[1].answered, answers[1].ip.as_str()), (false, ""));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_departed_phone_is_silent_and_unanswered_within_the_timeout() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let s = setup(&presence_section("200ms"), &["--sim"]).await;
        let p = presence(&s.conn).await;
        let sim = simulator(&s.conn).await;
        sim.phone_arrives(BOB).await.unwrap();
        assert!(p.probe(&[BOB], 0).await.unwrap()[0].answered);
        sim.phone_leaves(BOB).await.unwrap();
        // Drain anything already in flight, then expect silence.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let mut sightings = p.receive_sighting().await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(1200), sightings.next())
                .await
                .is_err()
        );
        let start = Instant::now();
        let a = p.probe(&[BOB], 700).await.unwrap();
        let took = start.elapsed();
        assert!(!a[0].answered);
        assert!(
            took >= Duration::from_millis(650) && took < Duration::from_secs(3),
            "{took:?}"
        );
        // 0 means the configured probe_timeout (300ms).
        let start = Instant::now();
        assert!(!p.probe(&[BOB], 0).await.unwrap()[0].answered);
        assert!(start.elapsed() < Duration::from_millis(1500));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_probes_beyond_the_limit_are_busy_and_the_rest_run_in_turn() {
    use secura_sniffer::service::{MAX_RUNNING_PROBES, MAX_WAITING_PROBES};
    tokio::time::timeout(Duration::from_secs(120), async {
        let s = setup(&presence_section("1s"), &["--sim"]).await;
        let p = presence(&s.conn).await;
        let sim = simulator(&s.conn).await;
        let admitted = MAX_RUNNING_PROBES + MAX_WAITING_PROBES;
        let calls = admitted + 10;
        // Bob is away: each admitted probe waits its whole timeout (the sim prober does what
        // the real one does), long enough for every call to arrive while the first run.
        let probes = (0..calls).map(|_| {
            let p = p.clone();
            async move { p.probe(&[BOB], 6000).await }
        });
        let started = Instant::now();
        let results = futures_util::future::join_all(probes).await;
        let took = started.elapsed();
        let (mut answered, mut busy) = (0, 0);
        for r in results {
            match r {
                Ok(a) => {
                    assert!(!a[0].answered);
                    answered += 1;
                }
                Err(e) => {
                    let e = secura_bus::Error::from(e);
                    assert!(matches!(e, secura_bus::Error::Busy(_)), "{e:?}");
                    busy += 1;
                }
            }
        }
        assert_eq!((answered, busy), (admitted, calls - admitted));
        // They ran MAX_RUNNING_PROBES at a time: three rounds of 6 s, not one.
        let rounds = admitted.div_ceil(MAX_RUNNING_PROBES);
        let least = Duration::from_millis(6000 * u64::try_from(rounds).unwrap() - 500);
        assert!(took >= least, "{took:?}");
        // The places are free again.
        sim.phone_arrives(BOB).await.unwrap();
        assert!(p.probe(&[BOB], 2000).await.unwrap()[0].answered);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_rejects_bad_arguments_with_invalid_argument() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let s = setup(&presence_section("30s"), &["--sim"]).await;
        let p = presence(&s.conn).await;
        for (macs, timeout) in [
            (vec!["not-a-mac"], 100),
            (vec!["01:00:5e:00:00:fb"], 100),
            (vec![ALICE], 3_600_000),
        ] {
            let err = p.probe(&macs, timeout).await.unwrap_err();
            assert!(
                matches!(
                    secura_bus::Error::from(err.clone()),
                    secura_bus::Error::InvalidArgument(_)
                ),
                "{macs:?} {timeout}: {err}"
            );
        }
        let many: Vec<String> = (0..40).map(|i| format!("02:00:00:00:00:{i:02x}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(p.probe(&many, 100).await.is_err());
        let sim = simulator(&s.conn).await;
        assert!(sim.phone_arrives("zz").await.is_err());
        assert!(p.probe(&[], 100).await.unwrap().is_empty());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn other_users_may_not_probe_or_read_devices() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to run busctl as another user");
        return;
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        let s = setup(&presence_section("30s"), &["--sim"]).await;
        let as_nobody = |args: &[&str]| {
            std::process::Command::new("setpriv")
                .args([
                    "--reuid=nobody",
                    "--regid=nogroup",
                    "--clear-groups",
                    "busctl",
                ])
                .arg(format!("--address={}", s.bus.address()))
                .args(args)
                .output()
                .unwrap()
        };
        let ping = as_nobody(&[
            "call",
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus",
            "GetId",
        ]);
        if !ping.status.success() {
            eprintln!(
                "skipped: the test bus does not let other users connect ({}); \
                 testbed/bus/system-test.conf.in needs <allow user=\"*\"/> like system.conf",
                String::from_utf8_lossy(&ping.stderr).trim()
            );
            return;
        }
        let probe = as_nobody(&[
            "call",
            PRESENCE_NAME,
            PRESENCE_PATH,
            PRESENCE_IFACE,
            "Probe",
            "asu",
            "1",
            ALICE,
            "100",
        ]);
        assert!(!probe.status.success());
        assert!(
            String::from_utf8_lossy(&probe.stderr).contains("ccess denied"),
            "{probe:?}"
        );
        let get = as_nobody(&[
            "get-property",
            PRESENCE_NAME,
            PRESENCE_PATH,
            PRESENCE_IFACE,
            "Devices",
        ]);
        assert!(!get.status.success(), "{get:?}");
        let introspect = as_nobody(&[
            "introspect",
            "--xml-interface",
            PRESENCE_NAME,
            PRESENCE_PATH,
        ]);
        assert!(introspect.status.success(), "{introspect:?}");
        // The test's own user (standing in for root/`secura`) may.
        s.bus
            .busctl_ok(&[
                "call",
                PRESENCE_NAME,
                PRESENCE_PATH,
                PRESENCE_IFACE,
                "Probe",
                "asu",
                "1",
                ALICE,
                "100",
            ])
            .unwrap();
    })
    .await
    .unwrap();
}

#[test]
fn replay_prints_one_json_object_per_sighting() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("lan.pcap");
    // A pcap header and two ARP requests from Alice, 40 s apart.
    let mut f = Vec::new();
    for v in [
        0xa1b2_c3d4u32.to_le_bytes().to_vec(),
        vec![2, 0, 4, 0],
        vec![0; 8],
        65535u32.to_le_bytes().to_vec(),
        1u32.to_le_bytes().to_vec(),
    ] {
        f.extend(v);
    }
    let mac = [0xa4, 0x5e, 0x60, 0x12, 0x34, 0x56];
    for secs in [1_700_000_000u32, 1_700_000_040] {
        let mut frame = vec![0xff; 6];
        frame.extend(mac);
        frame.extend([0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        frame.extend(mac);
        frame.extend([192, 168, 1, 23]);
        frame.extend([0; 6]);
        frame.extend([192, 168, 1, 1]);
        f.extend(secs.to_le_bytes());
        f.extend(0u32.to_le_bytes());
        f.extend(42u32.to_le_bytes());
        f.extend(42u32.to_le_bytes());
        f.extend(frame);
    }
    std::fs::write(&pcap, f).unwrap();
    let cfg = config(dir.path(), &presence_section("30s"));
    let (code, out) = run_to_end(
        "secura-sniffer",
        &[
            "--config",
            cfg.to_str().unwrap(),
            "replay",
            pcap.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["mac"], ALICE);
    assert_eq!(lines[0]["source"], "lan:lan.pcap");
    assert_eq!(lines[0]["ip"], "192.168.1.23");
    assert_eq!(lines[1]["at"], 1_700_000_040_000_000u64);
    assert!(out.contains("2 frames, 0 malformed"), "{out}");
}
