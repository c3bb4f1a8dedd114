//! camd as a real process on a private bus (DESIGN §9 tier 2): the sim camera with
//! `--sim`, the V4L2 backend against a missing device, and the rpicam backend against a
//! stand-in `rpicam-vid`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use secura_bus::fd::{is_write_sealed, read_all};
use secura_bus::names::Service;
use secura_bus::names::{CAMERA_NAME, CAMERA_PATH};
use secura_bus::proxies::{Camera1Proxy, Simulator1Proxy};
use secura_testbed::daemon::run_to_end;
use secura_testbed::{Daemon, Launch, Started, eventually};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zbus::proxy::CacheProperties;

const T: Duration = Duration::from_secs(15);

const SIM: &str = "backend = \"sim\"\nwidth = 320\nheight = 240\nfps = 4\npre_trigger = \"1s\"\n\
                   burst_count = 3\nburst_interval = \"250ms\"\nquality = 80\n";

fn config(dir: &Path, camera: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(&path, format!("[camera]\n{camera}")).unwrap();
    path
}

async fn setup_with(
    camera: &str,
    args: &[&str],
    env: &[(&str, &str)],
    prepare: impl FnOnce(&Path) + 'static,
) -> Started {
    // Most tests here are about continuous capture: the camera stays on unless a test says
    // how it wants `always_on`.
    let on = if camera.contains("always_on") {
        ""
    } else {
        "always_on = true\n"
    };
    let mut launch = Launch::new(Service::Camera, format!("[camera]\n{on}{camera}"))
        .args(args)
        .prepare_state(prepare);
    for (k, v) in env {
        launch = launch.env(k, v);
    }
    launch.start().await
}

async fn setup(camera: &str, args: &[&str]) -> Started {
    setup_with(camera, args, &[], |_| {}).await
}

async fn camera(conn: &zbus::Connection) -> Camera1Proxy<'static> {
    Camera1Proxy::builder(conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await
        .unwrap()
}

async fn simulator(conn: &zbus::Connection) -> Simulator1Proxy<'static> {
    Simulator1Proxy::builder(conn)
        .destination(CAMERA_NAME)
        .path(CAMERA_PATH)
        .build()
        .await
        .unwrap()
}

async fn wait_healthy(cam: &Camera1Proxy<'_>, daemon: &Daemon) {
    if !eventually(T, || async { cam.healthy().await.unwrap() }).await {
        panic!(
            "camera never became healthy\n--- camd log ---\n{}",
            daemon.log()
        );
    }
}

fn decode(jpeg: &[u8]) -> (u16, u16, Vec<u8>) {
    let mut d = jpeg_decoder::Decoder::new(jpeg);
    let pixels = d.decode().unwrap();
    let info = d.info().unwrap();
    (info.width, info.height, pixels)
}

fn stored(state: &Path, event: u64) -> Vec<PathBuf> {
    let dir = state.join("events").join(event.to_string());
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread")]
async fn capture_event_returns_sealed_jpegs_of_the_configured_size_and_stores_them() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let s = setup(SIM, &["--sim"]).await;
        let cam = camera(&s.conn).await;
        wait_healthy(&cam, &s.daemon).await;
        assert_eq!(cam.backend().await.unwrap(), "sim");
        assert_eq!(cam.resolution().await.unwrap(), (320, 240));
        // Let the ring fill its pre-trigger second.
        tokio::time::sleep(Duration::from_millis(1500)).await;

        let asked = secura_bus::types::now_micros();
        let photos = cam.capture_event(42).await.unwrap();
        // About a second of pre-trigger frames at 4 fps, then the burst of 3.
        assert!(photos.len() >= 6, "{} photos", photos.len());
        let pre = photos.iter().filter(|(_, at)| *at < asked).count();
        assert!(pre >= 3, "only {pre} pre-trigger frames");
        let times: Vec<u64> = photos.iter().map(|(_, at)| *at).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        let burst = &times[times.len() - 3..];
        assert!(
            burst.windows(2).all(|w| w[1] - w[0] >= 200_000),
            "{burst:?}"
        );
        assert!(burst[0] >= asked, "burst started before the request");

        let files = stored(&s.state, 42);
        assert_eq!(files.len(), photos.len(), "{files:?}");
        let mut images = Vec::new();
        for (fd, at) in &photos {
            let fd = fd.as_fd();
            assert!(is_write_sealed(&fd), "photo fd is not sealed");
            let bytes = read_all(&fd, 10 << 20).unwrap();
            let (w, h, pixels) = decode(&bytes);
            assert_eq!((w, h), (320, 240));
            let on_disk = s.state.join(format!("events/42/{at}.jpg"));
            assert_eq!(std::fs::read(&on_disk).unwrap(), bytes);
            images.push(pixels);
            let mut file = std::fs::File::from(fd.try_clone_to_owned().unwrap());
            assert!(std::io::Write::write_all(&mut file, b"tamper").is_err());
        }
        images.dedup();
        assert_eq!(images.len(), photos.len(), "consecutive frames must differ");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_are_fresh_frames_that_change_over_time() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let s = setup(SIM, &["--sim"]).await;
        let cam = camera(&s.conn).await;
        wait_healthy(&cam, &s.daemon).await;
        let (fd, at) = cam.snapshot().await.unwrap();
        let now = secura_bus::types::now_micros();
        assert!(now - at < 1_000_000, "snapshot is {} µs old", now - at);
        let first = decode(&read_all(&fd.as_fd(), 10 << 20).unwrap());
        tokio::time::sleep(Duration::from_millis(600)).await;
        let (fd2, at2) = cam.snapshot().await.unwrap();
        let second = decode(&read_all(&fd2.as_fd(), 10 << 20).unwrap());
        assert!(at2 > at);
        assert_eq!((second.0, second.1), (320, 240));
        assert_ne!(first.2, second.2);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_camera_is_unhealthy_refuses_photos_and_recovers_when_repaired() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let s = setup(SIM, &["--sim"]).await;
        let cam = camera(&s.conn).await;
        let sim = simulator(&s.conn).await;
        wait_healthy(&cam, &s.daemon).await;

        sim.set_fault("lens cap on").await.unwrap();
        assert!(eventually(T, || async { !cam.healthy().await.unwrap() }).await);
        assert!(cam.fault().await.unwrap().contains("lens cap on"));
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let err = secura_bus::Error::from(cam.capture_event(7).await.unwrap_err());
        assert!(
            matches!(&err, secura_bus::Error::Hardware(m) if m.contains("lens cap on")),
            "{err:?}"
        );
        assert!(stored(&s.state, 7).is_empty());

        sim.set_fault("").await.unwrap();
        wait_healthy(&cam, &s.daemon).await;
        assert_eq!(cam.fault().await.unwrap(), "");
        let (fd, _) = cam.snapshot().await.unwrap();
        assert_eq!(decode(&read_all(&fd.as_fd(), 10 << 20).unwrap()).0, 320);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn events_older_than_the_retention_are_pruned() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let cfg = format!("{SIM}retention = \"2s\"\n");
        let s = setup(&cfg, &["--sim"]).await;
        let cam = camera(&s.conn).await;
        wait_healthy(&cam, &s.daemon).await;
        cam.capture_event(1).await.unwrap();
        assert!(!stored(&s.state, 1).is_empty());
        tokio::time::sleep(Duration::from_millis(3500)).await;
        cam.capture_event(2).await.unwrap();
        assert!(!stored(&s.state, 2).is_empty());
        assert!(
            !s.state.join("events/1").exists(),
            "event 1 outlived its retention"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_over_max_storage_is_pruned_oldest_first_at_start() {
    let now = secura_bus::types::now_micros();
    let cfg = format!("{SIM}max_storage = \"1MiB\"\n");
    let s = setup_with(&cfg, &["--sim"], &[], move |state| {
        for (event, age) in [(7u64, 20_000_000u64), (8, 10_000_000)] {
            let dir = state.join(format!("events/{event}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{}.jpg", now - age)), vec![0u8; 700 << 10]).unwrap();
        }
    })
    .await;
    assert!(
        !s.state.join("events/7").exists(),
        "the oldest event was kept"
    );
    assert_eq!(stored(&s.state, 8).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_v4l2_device_leaves_the_daemon_up_and_unhealthy_with_the_reason() {
    let cfg = "backend = \"v4l2\"\ndevice = \"/nonexistent/video7\"\n";
    let s = setup(cfg, &[]).await;
    let cam = camera(&s.conn).await;
    assert_eq!(cam.backend().await.unwrap(), "v4l2");
    assert!(
        eventually(T, || async {
            cam.fault().await.unwrap().contains("/nonexistent/video7")
        })
        .await,
        "{}",
        s.daemon.log()
    );
    assert!(!cam.healthy().await.unwrap());
    assert!(cam.fault().await.unwrap().contains("plugged in"));
    let err = secura_bus::Error::from(cam.snapshot().await.unwrap_err());
    assert!(matches!(err, secura_bus::Error::Hardware(_)), "{err:?}");
}

/// A stand-in for `rpicam-vid`: writes `frames` JPEGs (with garbage between them) to stdout at
/// 5 fps, records its arguments, then runs `end` (shell).
fn fake_rpicam(dir: &Path, frames: u32, end: &str) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let mut img = Vec::new();
    let pixels = vec![200u8; 64 * 48 * 3];
    jpeg_encoder::Encoder::new(&mut img, 80)
        .encode(&pixels, 64, 48, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    std::fs::write(dir.join("frame.jpg"), img).unwrap();
    let script = format!(
        "#!/bin/sh\necho \"$@\" > {args}\ni=0\nwhile [ $i -lt {frames} ]; do\n  cat {frame}\n  \
         printf 'junk'\n  sleep 0.2\n  i=$((i+1))\ndone\n{end}\n",
        args = dir.join("args").display(),
        frame = dir.join("frame.jpg").display(),
    );
    let path = bin.join("rpicam-vid");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[tokio::test(flavor = "multi_thread")]
async fn rpicam_frames_are_served_and_a_dead_child_is_reported_and_restarted() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let scratch = tempfile::tempdir().unwrap();
        let bin = fake_rpicam(
            scratch.path(),
            15,
            "echo 'ERROR: *** no cameras available ***' >&2\nexit 3",
        );
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let cfg = "backend = \"rpicam\"\nwidth = 64\nheight = 48\nfps = 5\nvflip = true\n";
        let s = setup_with(cfg, &[], &[("PATH", &path)], |_| {}).await;
        let cam = camera(&s.conn).await;
        assert_eq!(cam.backend().await.unwrap(), "rpicam");
        wait_healthy(&cam, &s.daemon).await;
        let (fd, _) = cam.snapshot().await.unwrap();
        let (w, h, _) = decode(&read_all(&fd.as_fd(), 1 << 20).unwrap());
        assert_eq!((w, h), (64, 48));
        let args = std::fs::read_to_string(scratch.path().join("args")).unwrap();
        assert!(
            args.contains("--codec mjpeg") && args.contains("--output -"),
            "{args}"
        );
        assert!(args.contains("--vflip"), "{args}");

        // The child exits after its frames: reported with its last words, then restarted.
        assert!(
            eventually(T, || async {
                cam.fault().await.unwrap().contains("no cameras available")
            })
            .await,
            "{}",
            s.daemon.log()
        );
        let fault = cam.fault().await.unwrap();
        assert!(fault.contains("exit status: 3"), "{fault}");
        wait_healthy(&cam, &s.daemon).await;
    })
    .await
    .unwrap();
}

#[test]
fn an_out_of_range_value_exits_78_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "width = 640\nquality = 101\n");
    let (code, out) = run_to_end(
        "secura-camd",
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
    assert!(out.contains("quality"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_is_answered_while_a_capture_event_is_running() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let cfg = SIM.replace("burst_count = 3", "burst_count = 8");
        let s = setup(&cfg, &["--sim"]).await;
        let cam = camera(&s.conn).await;
        wait_healthy(&cam, &s.daemon).await;
        let started = std::time::Instant::now();
        let (event, snap) = tokio::join!(cam.capture_event(3), async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let r = cam.snapshot().await;
            (r, started.elapsed())
        });
        let (snap, snap_done) = snap;
        snap.unwrap();
        let event = event.unwrap();
        let event_done = started.elapsed();
        assert!(event.len() >= 8);
        // The burst takes about 2 s; the snapshot must not wait for it.
        assert!(
            snap_done < Duration::from_millis(1200),
            "snapshot took {snap_done:?}"
        );
        assert!(event_done > snap_done);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_rpicam_child_that_stops_writing_is_killed_and_restarted() {
    tokio::time::timeout(Duration::from_secs(90), async {
        let scratch = tempfile::tempdir().unwrap();
        // Two frames, then silence without exiting (a wedged camera pipeline).
        let bin = fake_rpicam(
            scratch.path(),
            2,
            "echo 'dequeue timer expired' >&2\nexec sleep 60",
        );
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let cfg = "backend = \"rpicam\"\nwidth = 64\nheight = 48\nfps = 5\n";
        let s = setup_with(cfg, &[], &[("PATH", &path)], |_| {}).await;
        let cam = camera(&s.conn).await;
        wait_healthy(&cam, &s.daemon).await;
        let killed = || async { cam.fault().await.unwrap().contains("without output") };
        assert!(
            eventually(Duration::from_secs(30), killed).await,
            "{}",
            s.daemon.log()
        );
        let fault = cam.fault().await.unwrap();
        assert!(fault.contains("dequeue timer expired"), "{fault}");
        wait_healthy(&cam, &s.daemon).await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inactive_camera_is_closed_and_opened_only_for_requests_and_set_active_runs_the_ring() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let s = setup(&format!("{SIM}always_on = false\n"), &["--sim"]).await;
        let cam = camera(&s.conn).await;
        let sim = simulator(&s.conn).await;
        // The first frame proves the camera works; then it closes, nobody wants it.
        wait_healthy(&cam, &s.daemon).await;
        assert!(!cam.active().await.unwrap());
        let closed = || async { !sim.camera_open().await.unwrap() };
        assert!(eventually(T, closed).await, "{}", s.daemon.log());
        assert!(cam.healthy().await.unwrap(), "closing is not a fault");

        // A snapshot opens it for one frame, then it closes again.
        let asked = secura_bus::types::now_micros();
        let (fd, at) = cam.snapshot().await.unwrap();
        assert!(at >= asked, "an inactive camera keeps no old frames");
        let (w, h, _) = decode(&read_all(&fd.as_fd(), 10 << 20).unwrap());
        assert_eq!((w, h), (320, 240));
        assert!(eventually(T, closed).await, "{}", s.daemon.log());
        assert!(s.daemon.log().contains("camera opened for one frame"));

        // An event while inactive: no pre-trigger frames, the burst from the opened camera.
        let asked = secura_bus::types::now_micros();
        let photos = cam.capture_event(7).await.unwrap();
        assert_eq!(photos.len(), 3, "the burst only");
        assert!(photos.iter().all(|(_, at)| *at >= asked));
        assert_eq!(stored(&s.state, 7).len(), 3);
        assert!(eventually(T, closed).await, "{}", s.daemon.log());

        // Active: the device stays open and the ring fills.
        cam.set_active(true).await.unwrap();
        assert!(cam.active().await.unwrap());
        assert!(eventually(T, || async { sim.camera_open().await.unwrap() }).await);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let asked = secura_bus::types::now_micros();
        let photos = cam.capture_event(8).await.unwrap();
        let pre = photos.iter().filter(|(_, at)| *at < asked).count();
        assert!(pre >= 3, "only {pre} pre-trigger frames");

        // Inactive again: closed.
        cam.set_active(false).await.unwrap();
        assert!(!cam.active().await.unwrap());
        assert!(eventually(T, closed).await, "{}", s.daemon.log());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn always_on_keeps_the_camera_capturing_whatever_set_active_says() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let s = setup(&format!("{SIM}always_on = true\n"), &["--sim"]).await;
        let cam = camera(&s.conn).await;
        let sim = simulator(&s.conn).await;
        wait_healthy(&cam, &s.daemon).await;
        assert!(cam.active().await.unwrap());
        cam.set_active(false).await.unwrap();
        assert!(cam.active().await.unwrap());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(sim.camera_open().await.unwrap());
        let asked = secura_bus::types::now_micros();
        let photos = cam.capture_event(9).await.unwrap();
        assert!(photos.iter().filter(|(_, at)| *at < asked).count() >= 3);
    })
    .await
    .unwrap();
}
