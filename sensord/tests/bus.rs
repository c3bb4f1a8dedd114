//! sensord as a real process on a private bus, in `--sim` mode (DESIGN §9 tier 2).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use futures_util::StreamExt;
use secura_bus::names::Service;
use secura_bus::names::{SENSOR_NAME, SENSOR_PATH};
use secura_bus::proxies::{Sensor1Proxy, Simulator1Proxy};
use secura_testbed::{Daemon, Launch, Started, TestBus, eventually};
use std::path::{Path, PathBuf};
use std::time::Duration;
use zbus::proxy::CacheProperties;

const T: Duration = Duration::from_secs(10);

fn config(dir: &Path, sensor: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, format!("[sensor]\n{sensor}")).unwrap();
    path
}

/// A bus, the daemon on it with `[sensor]` = `section` and `args`, and a client connection that
/// owns a name (the policy delivers the daemon's signals only to org.securapicam.* owners).
async fn setup(section: &str, args: &[&str]) -> Started {
    let s = Launch::new(Service::Sensor, format!("[sensor]\n{section}"))
        .args(args)
        .start()
        .await;
    s.conn
        .request_name("org.securapicam.TestClient")
        .await
        .unwrap();
    s
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
