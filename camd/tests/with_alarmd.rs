//! The real sensord and camd with the real alarmd on one private bus (DESIGN §9 tier 2): a
//! simulated PIR edge while armed puts alarmd in `verifying`, it calls `CaptureEvent`, the
//! event's photos land on camd's disk and reach the (fake) bot as JPEGs of the configured
//! size. Needs every binary: `cargo build --workspace --bins` first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use secura_bus::names;
use secura_bus::proxies::{Alarm1Proxy, Camera1Proxy, Simulator1Proxy};
use secura_testbed::fakes::{FakeBot, FakePresence};
use secura_testbed::{Daemon, TestBus, eventually};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

const CONFIG: &str = "\
[alarm]
away_after = \"1s\"
probe_attempts = 1
verify = \"2s\"
startup_grace = \"0s\"

[presence]
probe_timeout = \"200ms\"
[[presence.devices]]
name = \"Alice\"
mac = \"a4:5e:60:00:00:01\"

[sensor]
backend = \"sim\"
debounce = \"20ms\"
warmup = \"0s\"

[camera]
backend = \"sim\"
width = 320
height = 240
fps = 4
pre_trigger = \"1s\"
burst_count = 2
burst_interval = \"250ms\"
";

/// sensord and camd in `--sim`, then alarmd once both are on the bus (so it sees them from
/// the start), each with its state under the bus's directory; and a connection.
struct Three {
    sensord: Daemon,
    camd: Daemon,
    alarmd: Daemon,
    conn: zbus::Connection,
}

async fn start_three(bus: &TestBus, cfg: &str) -> Three {
    let spawn = |name: &str, args: &[&str], dir: &str| {
        Daemon::spawn(bus, name, args, &bus.dir().join(dir)).unwrap()
    };
    let sensord = spawn(
        "secura-sensord",
        &["--config", cfg, "--sim", "-d"],
        "sensord",
    );
    let camd = spawn("secura-camd", &["--config", cfg, "--sim", "-d"], "camd");
    for (name, d) in [(names::SENSOR_NAME, &sensord), (names::CAMERA_NAME, &camd)] {
        if let Err(e) = bus.wait_for_name(name, WAIT).await {
            panic!("{e}\n{}", d.log());
        }
    }
    let alarmd = spawn("secura-alarmd", &["--config", cfg, "-d"], "alarmd");
    bus.wait_for_name(names::ALARM_NAME, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", alarmd.log()));
    let conn = bus.connect().await.unwrap();
    Three {
        sensord,
        camd,
        alarmd,
        conn,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sensord_motion_while_armed_makes_alarmd_verify_and_capture_with_camd() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let bus = TestBus::start().unwrap();
        let cfg = bus.dir().join("config.toml");
        std::fs::write(&cfg, CONFIG).unwrap();
        let cfg = cfg.to_str().unwrap();
        let camd_state = bus.dir().join("camd");
        let _presence = FakePresence::start(&bus).await.unwrap();
        let bot = FakeBot::start(&bus).await.unwrap();
        let Three {
            sensord,
            camd,
            alarmd,
            conn,
        } = start_three(&bus, cfg).await;
        let alarm = Alarm1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .unwrap();
        let state_is = |want: &'static str| {
            let alarm = alarm.clone();
            async move { alarm.state().await.unwrap_or_default() == want }
        };
        // Nobody answers ARP: alarmd arms itself.
        assert!(
            eventually(WAIT, || state_is("armed")).await,
            "{}",
            alarmd.log()
        );
        // Let camd's ring fill before the trigger.
        tokio::time::sleep(Duration::from_millis(1200)).await;

        let pir = Simulator1Proxy::builder(&conn)
            .destination(names::SENSOR_NAME)
            .path(names::SENSOR_PATH)
            .build()
            .await
            .unwrap();
        pir.motion().await.unwrap();
        assert!(
            eventually(WAIT, || state_is("verifying")).await,
            "{}\n--- sensord ---\n{}",
            alarmd.log(),
            sensord.log()
        );

        // CaptureEvent was called: the event's photos are on camd's disk.
        let events = camd_state.join("events");
        let stored = || {
            std::fs::read_dir(&events)
                .map(|rd| {
                    rd.flatten()
                        .flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten().flatten())
                        .count()
                })
                .unwrap_or(0)
        };
        assert!(
            eventually(WAIT, || async { stored() >= 3 }).await,
            "{}\n--- camd ---\n{}",
            alarmd.log(),
            camd.log()
        );

        // Nobody came home within `verify`: the album goes out with camd's photos.
        assert!(
            eventually(WAIT, || state_is("armed")).await,
            "{}",
            alarmd.log()
        );
        assert!(
            eventually(WAIT, || async {
                bot.sent().iter().any(|s| !s.photos.is_empty())
            })
            .await,
            "{:?}\n{}",
            bot.sent(),
            alarmd.log()
        );
        let album = bot
            .sent()
            .into_iter()
            .find(|s| !s.photos.is_empty())
            .unwrap();
        assert!(album.photos.len() >= 3, "{} photos", album.photos.len());
        for photo in &album.photos {
            let mut d = jpeg_decoder::Decoder::new(photo.as_slice());
            d.decode().unwrap();
            let info = d.info().unwrap();
            assert_eq!((info.width, info.height), (320, 240));
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn alarmd_turns_the_camera_on_only_while_armed_and_again_after_camd_restarts() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let bus = TestBus::start().unwrap();
        let cfg = bus.dir().join("config.toml");
        // Nobody is ever away long enough to arm by itself: the test arms and disarms.
        let config = CONFIG.replace(
            "away_after = \"1s\"",
            "away_after = \"1h\"\nexit_delay = \"1s\"",
        );
        std::fs::write(&cfg, config).unwrap();
        let cfg = cfg.to_str().unwrap();
        let _presence = FakePresence::start(&bus).await.unwrap();
        let bot = FakeBot::start(&bus).await.unwrap();
        let Three {
            sensord: _sensord,
            mut camd,
            alarmd,
            conn,
        } = start_three(&bus, cfg).await;
        let alarm = Alarm1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .unwrap();
        let cam = Camera1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .unwrap();
        let sim = Simulator1Proxy::builder(&conn)
            .destination(names::CAMERA_NAME)
            .path(names::CAMERA_PATH)
            .build()
            .await
            .unwrap();
        let state_is = |want: &'static str| {
            let alarm = alarm.clone();
            async move { alarm.state().await.unwrap_or_default() == want }
        };
        let camera_is = |on: bool| {
            let (cam, sim) = (cam.clone(), sim.clone());
            async move {
                cam.active().await.ok() == Some(on) && sim.camera_open().await.ok() == Some(on)
            }
        };

        // Disarmed: camera inactive, the device closed (after camd's first frame).
        assert!(
            eventually(WAIT, || state_is("disarmed")).await,
            "{}",
            alarmd.log()
        );
        assert!(
            eventually(WAIT, || camera_is(false)).await,
            "{}\n--- camd ---\n{}",
            alarmd.log(),
            camd.log()
        );

        // Arm: on from `arming`; an alert while armed still has pre-trigger frames.
        alarm.arm().await.unwrap();
        assert!(
            eventually(WAIT, || camera_is(true)).await,
            "{}\n--- camd ---\n{}",
            alarmd.log(),
            camd.log()
        );
        assert!(
            eventually(WAIT, || state_is("armed")).await,
            "{}",
            alarmd.log()
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let pir = Simulator1Proxy::builder(&conn)
            .destination(names::SENSOR_NAME)
            .path(names::SENSOR_PATH)
            .build()
            .await
            .unwrap();
        pir.motion().await.unwrap();
        assert!(
            eventually(WAIT, || async {
                bot.sent().iter().any(|s| !s.photos.is_empty())
            })
            .await,
            "{:?}\n{}",
            bot.sent(),
            alarmd.log()
        );
        let album = bot
            .sent()
            .into_iter()
            .find(|s| !s.photos.is_empty())
            .unwrap();
        // burst_count = 2: a third photo can only come from the pre-trigger ring.
        assert!(album.photos.len() >= 3, "{} photos", album.photos.len());
        assert!(
            eventually(WAIT, || state_is("armed")).await,
            "{}",
            alarmd.log()
        );

        // camd restarts while armed (starting inactive): alarmd turns it on again.
        camd.restart().unwrap();
        bus.wait_for_name(names::CAMERA_NAME, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", camd.log()));
        assert!(
            eventually(WAIT, || camera_is(true)).await,
            "{}\n--- camd ---\n{}",
            alarmd.log(),
            camd.log()
        );

        // Disarm: off again.
        alarm.disarm().await.unwrap();
        assert!(
            eventually(WAIT, || camera_is(false)).await,
            "{}\n--- camd ---\n{}",
            alarmd.log(),
            camd.log()
        );
    })
    .await
    .unwrap();
}
