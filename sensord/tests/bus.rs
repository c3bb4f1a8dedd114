//! sensord as a real process on a private bus, in `--sim` mode (DESIGN §9 tier 2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use futures_util::StreamExt;
use secura_bus::names::{SENSOR_IFACE, SENSOR_NAME, SENSOR_PATH};
use secura_bus::proxies::{Sensor1Proxy, Simulator1Proxy};
use secura_testbed::daemon::run_to_end;
use secura_testbed::{Daemon, TestBus, eventually};
use std::path::{Path, PathBuf};
use std::time::Duration;
use zbus::proxy::CacheProperties;

const T: Duration = Duration::from_secs(10);

fn config(dir: &Path, sensor: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, format!("[sensor]\n{sensor}")).unwrap();
    path
}

struct Setup {
    bus: TestBus,
    daemon: Daemon,
    conn: zbus::Connection,
}

/// A bus, sensord on it with `[sensor]` = `sensor` and `args`, and a client connection that
/// owns a name (the policy delivers Sensor1 signals only to org.securapicam.* owners).
async fn setup(sensor: &str, args: &[&str]) -> Setup {
    let bus = TestBus::start().unwrap();
    let cfg = config(bus.dir(), sensor);
    let mut all = vec!["--config", cfg.to_str().unwrap(), "-d"];
    all.extend_from_slice(args);
    let daemon = Daemon::spawn(&bus, "secura-sensord", &all, &bus.dir().join("state")).unwrap();
    if let Err(e) = bus.wait_for_name(SENSOR_NAME, T).await {
        panic!("{e}\n--- sensord log ---\n{}", daemon.log());
    }
    let conn = bus.connect().await.unwrap();
    conn.request_name("org.securapicam.TestClient")
        .await
        .unwrap();
    Setup { bus, daemon, conn }
}

async fn sensor(conn: &zbus::Connection) -> Sensor1Proxy<'static> {
    Sensor1Proxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .unwrap()
}

async fn simulator(conn: &zbus::Connection) -> Simulator1Proxy<'static> {
    Simulator1Proxy::builder(conn)
        .destination(SENSOR_NAME)
        .path(SENSOR_PATH)
        .build()
        .await
        .unwrap()
}

const SIM: &str = "backend = \"sim\"\ndebounce = \"20ms\"\nwarmup = \"0s\"\n";

#[tokio::test(flavor = "multi_thread")]
async fn simulated_motion_emits_motion_then_motion_ended_and_updates_properties() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let s = setup(SIM, &["--sim"]).await;
        let sensor = sensor(&s.conn).await;
        let sim = simulator(&s.conn).await;
        assert_eq!(sensor.backend().await.unwrap(), "sim");
        assert!(eventually(T, || async { sensor.healthy().await.unwrap() }).await);
        assert!(!sensor.active().await.unwrap());
        assert_eq!(sensor.last_motion().await.unwrap(), 0);

        let mut motions = sensor.receive_motion().await.unwrap();
        let mut ends = sensor.receive_motion_ended().await.unwrap();
        let before = secura_bus::types::now_micros();
        sim.motion().await.unwrap();
        let motion = tokio::time::timeout(T, motions.next())
            .await
            .unwrap()
            .unwrap();
        let at = motion.args().unwrap().at;
        let after = secura_bus::types::now_micros();
        assert!(before <= at && at <= after, "{before} <= {at} <= {after}");
        assert!(eventually(T, || async { sensor.active().await.unwrap() }).await);
        assert_eq!(sensor.last_motion().await.unwrap(), at);

        sim.motion_ended().await.unwrap();
        let ended = tokio::time::timeout(T, ends.next()).await.unwrap().unwrap();
        assert!(ended.args().unwrap().at >= at);
        assert!(eventually(T, || async { !sensor.active().await.unwrap() }).await);
        assert_eq!(sensor.last_motion().await.unwrap(), at);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn served_sensor1_matches_the_checked_in_introspection_xml() {
    let s = setup(SIM, &["--sim"]).await;
    secura_testbed::introspect::check_interface_xml(
        &s.conn,
        SENSOR_NAME,
        SENSOR_PATH,
        SENSOR_IFACE,
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_makes_the_sensor_unhealthy_and_a_repair_makes_it_work_again() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let s = setup(SIM, &["--sim"]).await;
        let sensor = sensor(&s.conn).await;
        let sim = simulator(&s.conn).await;
        assert!(eventually(T, || async { sensor.healthy().await.unwrap() }).await);

        sim.set_fault("GPIO 14: wire cut").await.unwrap();
        assert!(eventually(T, || async { !sensor.healthy().await.unwrap() }).await);
        assert!(sensor.fault().await.unwrap().contains("wire cut"));
        let err = sim.motion().await.unwrap_err();
        assert!(err.to_string().contains("Hardware"), "{err}");
        assert!(s.daemon.log().contains("retrying"));

        sim.set_fault("").await.unwrap();
        assert!(eventually(T, || async { sensor.healthy().await.unwrap() }).await);
        assert_eq!(sensor.fault().await.unwrap(), "");
        let mut motions = sensor.receive_motion().await.unwrap();
        sim.motion().await.unwrap();
        assert!(
            tokio::time::timeout(T, motions.next())
                .await
                .unwrap()
                .is_some()
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn edges_during_the_warmup_raise_no_motion() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let cfg = "backend = \"sim\"\ndebounce = \"20ms\"\nwarmup = \"3s\"\n";
        let s = setup(cfg, &["--sim"]).await;
        let sensor = sensor(&s.conn).await;
        let sim = simulator(&s.conn).await;
        let mut motions = sensor.receive_motion().await.unwrap();
        sim.motion().await.unwrap();
        sim.motion_ended().await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(1500), motions.next())
                .await
                .is_err(),
            "a motion was signalled during the warm-up"
        );
        assert!(s.daemon.log().contains("warming up"));
        // After the warm-up the same input raises motion.
        tokio::time::sleep(Duration::from_secs(2)).await;
        sim.motion().await.unwrap();
        assert!(
            tokio::time::timeout(T, motions.next())
                .await
                .unwrap()
                .is_some()
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn simulator_is_not_served_without_sim() {
    let s = setup(SIM, &[]).await;
    let xml = s
        .bus
        .busctl_ok(&["introspect", "--xml-interface", SENSOR_NAME, SENSOR_PATH])
        .unwrap();
    assert!(xml.contains(SENSOR_IFACE));
    assert!(!xml.contains("org.securapicam.Simulator1"), "{xml}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_daemon_with_exit_code_0() {
    let mut s = setup(SIM, &["--sim"]).await;
    assert_eq!(s.daemon.stop(T).unwrap(), Some(0));
}

#[test]
fn check_config_prints_the_effective_sensor_section() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "pin = 17\n");
    let (code, out) = run_to_end(
        "secura-sensord",
        &[
            "--check-config",
            "--allow-root",
            "--config",
            cfg.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("[sensor]"), "{out}");
    assert!(out.contains("pin = 17"), "{out}");
    assert!(out.contains("backend = \"gpio\""), "{out}");
    assert!(out.contains("warmup = \"30s\""), "{out}");
}

#[test]
fn an_unknown_key_exits_78_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "pin = 17\ndebunce = \"50ms\"\n");
    let (code, out) = run_to_end(
        "secura-sensord",
        &[
            "--check-config",
            "--allow-root",
            "--config",
            cfg.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(code, Some(78), "{out}");
    assert!(out.contains(&format!("{}:3:", cfg.display())), "{out}");
    assert!(out.contains("debunce"), "{out}");
}

fn on_a_pi() -> bool {
    std::fs::read_to_string("/proc/device-tree/model")
        .map(|m| m.contains("Raspberry Pi"))
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread")]
async fn gpio_backend_off_a_pi_exits_69_with_a_clear_message() {
    if on_a_pi() {
        eprintln!("skipped: this is a Raspberry Pi");
        return;
    }
    let bus = TestBus::start().unwrap();
    let cfg = config(bus.dir(), "backend = \"gpio\"\n");
    let mut d = Daemon::spawn(
        &bus,
        "secura-sensord",
        &["--config", cfg.to_str().unwrap()],
        &bus.dir().join("state"),
    )
    .unwrap();
    let code = d.wait_exit(T).unwrap();
    let log = d.log();
    assert_eq!(code, Some(69), "{log}");
    assert!(log.contains("not a Raspberry Pi"), "{log}");
    assert!(
        log.contains("backend = \\\"sim\\\"") || log.contains("backend = \"sim\""),
        "{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn refuses_to_run_as_root_without_allow_root() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: not root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), SIM);
    let (code, out) = run_to_end("secura-sensord", &["--config", cfg.to_str().unwrap()]).unwrap();
    assert_eq!(code, Some(77), "{out}");
    assert!(out.contains("refuses to run as root"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn under_the_project_policy_alone_only_secura_sensord_may_own_the_name() {
    if nix::unistd::User::from_name("secura-sensord")
        .ok()
        .flatten()
        .is_some()
    {
        eprintln!("skipped: the secura-sensord user exists here");
        return;
    }
    let bus = TestBus::start_with(secura_testbed::Overlay::PolicyOnly).unwrap();
    let cfg = config(bus.dir(), SIM);
    let mut d = Daemon::spawn(
        &bus,
        "secura-sensord",
        &["--config", cfg.to_str().unwrap(), "--sim"],
        &bus.dir().join("state"),
    )
    .unwrap();
    let code = d.wait_exit(T).unwrap();
    let log = d.log();
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("cannot serve org.securapicam.Sensor"), "{log}");
    assert!(
        log.contains("AccessDenied") || log.contains("not allowed"),
        "{log}"
    );
}
