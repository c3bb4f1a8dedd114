//! alarmd as a real process on a private bus with the project's policy, driven with busctl
//! and the `bus/` proxies; fakes stand in for the other daemons.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use secura_bus::names;
use secura_bus::names::Service;
use secura_bus::proxies::Alarm1Proxy;
use secura_testbed::fakes::{self, Fakes};
use secura_testbed::{Daemon, Launch, TestBus, eventually};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ALICE: &str = "a4:5e:60:00:00:01";
const WAIT: Duration = Duration::from_secs(30);

fn config_text(alarm: &str, devices: bool) -> String {
    let verify = if alarm.contains("verify") {
        ""
    } else {
        "verify = \"2s\"\n"
    };
    let mut text = format!(
        "[alarm]\naway_after = \"1s\"\nprobe_attempts = 2\nexit_delay = \"1s\"\n{verify}\
         startup_grace = \"0s\"\n{alarm}\n[presence]\nprobe_timeout = \"300ms\"\n"
    );
    if devices {
        text.push_str(&format!(
            "[[presence.devices]]\nname = \"Alice\"\nmac = \"{ALICE}\"\n"
        ));
    }
    text
}

fn write_config(dir: &Path, alarm: &str, devices: bool) -> PathBuf {
    secura_testbed::harness::write_config(dir, &config_text(alarm, devices))
}

struct Env {
    bus: TestBus,
    alarmd: Daemon,
    state_dir: PathBuf,
    proxy: Alarm1Proxy<'static>,
}

impl Env {
    async fn start(alarm: &str, devices: bool) -> Env {
        Env::start_with(alarm, devices, |_| {}).await
    }

    /// Start alarmd after `prepare` has had the state directory.
    async fn start_with(alarm: &str, devices: bool, prepare: impl FnOnce(&Path) + 'static) -> Env {
        let s = Launch::new(Service::Alarm, config_text(alarm, devices))
            .prepare_state(prepare)
            .start()
            .await;
        let proxy = Alarm1Proxy::builder(&s.conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .unwrap();
        Env {
            bus: s.bus,
            alarmd: s.daemon,
            state_dir: s.state,
            proxy,
        }
    }

    async fn state(&self) -> String {
        self.proxy.state().await.unwrap_or_default()
    }

    async fn wait_state(&self, want: &str) {
        let ok = eventually(WAIT, || async { self.state().await == want }).await;
        assert!(
            ok,
            "state stayed {} instead of {want}\n{}",
            self.state().await,
            self.alarmd.log()
        );
    }

    fn prop(&self, name: &str) -> String {
        self.bus
            .busctl_ok(&[
                "get-property",
                names::ALARM_NAME,
                names::ALARM_PATH,
                names::ALARM_IFACE,
                name,
            ])
            .unwrap()
    }

    fn call(&self, method: &str) -> std::process::Output {
        self.bus
            .busctl(&[
                "call",
                names::ALARM_NAME,
                names::ALARM_PATH,
                names::ALARM_IFACE,
                method,
            ])
            .unwrap()
    }
}

fn uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

#[tokio::test]
async fn busctl_arm_goes_to_arming_then_armed_after_the_exit_delay() {
    let env = Env::start("", false).await;
    assert_eq!(env.prop("State").trim(), "s \"disarmed\"");
    let out = env.call("Arm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.prop("State").trim(), "s \"arming\"");
    env.wait_state("armed").await;
    assert!(env.prop("LastReason").contains("exit delay over"));
}

#[tokio::test]
async fn disabled_survives_sigkill_and_restart_and_history_names_the_actor() {
    let mut env = Env::start("", false).await;
    assert!(env.call("Disable").status.success());
    assert_eq!(env.state().await, "disabled");
    env.alarmd.kill_hard();
    env.alarmd.restart().unwrap();
    env.bus
        .wait_for_name(names::ALARM_NAME, WAIT)
        .await
        .unwrap();
    assert_eq!(env.state().await, "disabled");
    assert!(env.state_dir.join("state.json").exists());
    // Arm is refused while disabled, with a typed error, and changes nothing.
    let out = env.call("Arm");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("disabled"));
    assert_eq!(env.state().await, "disabled");
    let history = env.proxy.history(10).await.unwrap();
    // The local caller by user name, with the uid beside it.
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .map(|u| u.name);
    let actor = match &me {
        Some(name) => format!("{name} (uid:{})", uid()),
        None => format!("uid:{}", uid()),
    };
    assert!(
        history
            .iter()
            .any(|h| h.kind == "command" && h.text == "disable" && h.actor == actor),
        "{history:?}"
    );
    assert!(
        history
            .iter()
            .any(|h| h.kind == "state" && h.text.starts_with("disarmed → disabled")),
        "{history:?}"
    );
    let out = env
        .bus
        .busctl_ok(&[
            "call",
            names::ALARM_NAME,
            names::ALARM_PATH,
            names::ALARM_IFACE,
            "History",
            "u",
            "10",
        ])
        .unwrap();
    assert!(out.starts_with("a(tsss)"), "{out}");
    assert!(out.contains(&actor), "{out}");
}

#[tokio::test]
async fn wrong_argument_types_get_dbus_errors_and_alarmd_keeps_serving() {
    let env = Env::start("", false).await;
    let base = [
        "call",
        names::ALARM_NAME,
        names::ALARM_PATH,
        names::ALARM_IFACE,
    ];
    let history_with_string = [&base[..], &["History", "s", "ten"]].concat();
    let out = env.bus.busctl(&history_with_string).unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Signature mismatch"), "{err}");
    let bad_command = [&base[..], &["CommandAs", "ss", "explode", "telegram:1"]].concat();
    let out = env.bus.busctl(&bad_command).unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command"));
    let e = env.proxy.command_as("explode", "x").await.unwrap_err();
    assert!(matches!(
        secura_bus::Error::from(e),
        secura_bus::Error::InvalidArgument(_)
    ));
    assert_eq!(env.state().await, "disarmed");
}

#[tokio::test]
async fn command_as_records_the_relayed_actor() {
    let env = Env::start("", false).await;
    env.proxy
        .command_as("disable", "telegram:42")
        .await
        .unwrap();
    assert_eq!(env.state().await, "disabled");
    let history = env.proxy.history(5).await.unwrap();
    let want = format!("telegram:42 (via uid:{})", uid());
    assert!(history.iter().any(|h| h.actor == want), "{history:?}");
    assert!(env.prop("LastReason").contains("telegram:42"));
    // With the name botd passes, people read the name; the history keeps the ids beside it.
    env.proxy
        .command_as("enable", "telegram:42:Alice")
        .await
        .unwrap();
    let history = env.proxy.history(5).await.unwrap();
    let want = format!("Alice (telegram:42 via uid:{})", uid());
    assert!(history.iter().any(|h| h.actor == want), "{history:?}");
    assert_eq!(env.prop("LastReason").trim(), "s \"enabled by Alice\"");
    // A command that changes nothing fails, saying so.
    let e = env
        .proxy
        .command_as("enable", "telegram:42:Alice")
        .await
        .unwrap_err();
    let why = secura_bus::Error::from(e).message();
    assert!(why.contains("already enabled"), "{why}");
}

#[tokio::test]
async fn snapshot_as_records_the_relayed_actor() {
    // No camd here: the failed photo is recorded as the relayed user's all the same.
    let env = Env::start("", false).await;
    let photo = env.proxy.snapshot_as("telegram:42:Alice").await;
    let want = format!("Alice (telegram:42 via uid:{})", uid());
    let recorded = eventually(WAIT, || async {
        env.proxy
            .history(5)
            .await
            .unwrap_or_default()
            .iter()
            .any(|h| h.kind == "command" && h.text.starts_with("snapshot") && h.actor == want)
    })
    .await;
    assert!(recorded, "{photo:?} {:?}", env.proxy.history(5).await);
    let bad = env.proxy.snapshot_as("").await.unwrap_err();
    assert!(matches!(
        secura_bus::Error::from(bad),
        secura_bus::Error::InvalidArgument(_)
    ));
}

#[tokio::test]
async fn missing_daemons_are_troubles_and_clear_when_they_appear() {
    let env = Env::start("", true).await;
    let troubles = || async { env.proxy.troubles().await.unwrap_or_default() };
    let ok = eventually(WAIT, || async {
        let t = troubles().await;
        ["camd", "botd", "sniffer", "sensord"]
            .iter()
            .all(|d| t.contains(&format!("{d} is not running")))
    })
    .await;
    assert!(ok, "{:?}\n{}", troubles().await, env.alarmd.log());
    // alarmd keeps serving meanwhile; with the sniffer missing it does not arm on its own.
    assert_eq!(env.state().await, "disarmed");
    let fakes = Fakes::start(&env.bus).await.unwrap();
    assert!(
        eventually(WAIT, || async { troubles().await.is_empty() }).await,
        "{:?}",
        troubles().await
    );
    // The notices held while botd was away are delivered once it is back.
    assert!(
        eventually(WAIT, || async {
            fakes.bot.has("Resolved: camd is not running")
        })
        .await,
        "{:?}",
        fakes.bot.sent()
    );
    // A daemon vanishing again is noticed.
    fakes.camera.stop().await;
    assert!(
        eventually(WAIT, || async {
            troubles()
                .await
                .contains(&"camd is not running".to_string())
        })
        .await
    );
    assert!(
        eventually(WAIT, || async {
            fakes.bot.has("Trouble: camd is not running")
        })
        .await
    );
}

#[tokio::test]
async fn nobody_home_arms_then_motion_sends_an_album_after_verify() {
    let bus_fakes = Env::start("", true).await;
    let env = &bus_fakes;
    let fakes = Fakes::start(&env.bus).await.unwrap();
    env.wait_state("armed").await;
    assert!(
        eventually(WAIT, || async {
            fakes.bot.has("Armed: nobody seen for") && fakes.bot.has("2/2 ARP probes unanswered")
        })
        .await,
        "{:?}",
        fakes.bot.sent()
    );
    fakes.sensor.motion().await.unwrap();
    env.wait_state("verifying").await;
    assert!(eventually(WAIT, || async { fakes.camera.events() == vec![1] }).await);
    env.wait_state("armed").await;
    assert!(
        eventually(WAIT, || async {
            fakes.bot.sent().iter().any(|s| s.photos.len() == 3)
        })
        .await
    );
    let album = fakes
        .bot
        .sent()
        .into_iter()
        .find(|s| !s.photos.is_empty())
        .unwrap();
    assert!(
        album
            .text
            .starts_with("Motion detected while armed (event 1)")
    );
    for p in &album.photos {
        assert_eq!(&p[..2], &[0xff, 0xd8], "a JPEG");
    }
    let history = env.proxy.history(50).await.unwrap();
    assert!(history.iter().any(|h| h.kind == "alert"), "{history:?}");
}

#[tokio::test]
async fn arp_answer_disarms_but_a_sighting_without_one_does_not() {
    let env = Env::start("", true).await;
    let fakes = Fakes::start(&env.bus).await.unwrap();
    env.wait_state("armed").await;
    // Radio evidence only: the phone does not answer ARP.
    let probes_before = fakes.presence.probe_count();
    fakes.presence.sight(ALICE).await.unwrap();
    assert!(
        eventually(WAIT, || async {
            env.proxy
                .history(20)
                .await
                .unwrap_or_default()
                .iter()
                .any(|h| h.text.contains("unconfirmed sighting of Alice"))
        })
        .await
    );
    assert!(fakes.presence.probe_count() > probes_before);
    assert_eq!(env.state().await, "armed");
    // The phone really comes home.
    fakes.presence.arrive(ALICE, "10.0.0.7").await.unwrap();
    env.wait_state("disarmed").await;
    assert!(
        eventually(WAIT, || async {
            fakes
                .bot
                .has("Disarmed: Alice arrived (ARP answer from 10.0.0.7).")
        })
        .await,
        "{:?}",
        fakes.bot.sent()
    );
    let devices = env.proxy.devices().await.unwrap();
    assert!(devices[0].present);
    assert!(env.proxy.home().await.unwrap());
}

#[tokio::test]
async fn owner_tripping_the_pir_before_being_sighted_gets_no_alert() {
    let env = Env::start("verify = \"5s\"", true).await;
    let fakes = Fakes::start(&env.bus).await.unwrap();
    env.wait_state("armed").await;
    // The phone is back on the LAN (answers ARP) but has not been sighted yet.
    fakes
        .presence
        .state
        .lock()
        .unwrap()
        .home
        .insert(ALICE.into(), "10.0.0.9".into());
    fakes.sensor.motion().await.unwrap();
    env.wait_state("disarmed").await;
    assert!(
        eventually(WAIT, || async { fakes.bot.has("welcome home, Alice") }).await,
        "{:?}",
        fakes.bot.sent()
    );
    // No alarm, but the photos still reach the owners, as the arrival (which may be forged).
    assert!(
        eventually(WAIT, || async {
            fakes.bot.sent().iter().any(|s| {
                s.text
                    .starts_with("Alice's phone answered — photos of event 1 at ")
                    && !s.photos.is_empty()
            })
        })
        .await,
        "{:?}",
        fakes.bot.sent()
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(!fakes.bot.has("Motion detected"), "{:?}", fakes.bot.sent());
}

#[tokio::test]
async fn a_motion_signal_from_anyone_but_the_sensor_is_ignored() {
    let env = Env::start("", false).await;
    let fakes = Fakes::start(&env.bus).await.unwrap();
    assert!(env.call("Arm").status.success());
    env.wait_state("armed").await;
    fakes::impostor_motion(&env.bus).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(fakes.camera.events().is_empty());
    fakes.sensor.motion().await.unwrap();
    assert!(eventually(WAIT, || async { !fakes.camera.events().is_empty() }).await);
}

#[tokio::test]
async fn a_failed_camera_still_sends_the_alert_as_text() {
    let env = Env::start("", false).await;
    let fakes = Fakes::start(&env.bus).await.unwrap();
    assert!(env.call("Arm").status.success());
    env.wait_state("armed").await;
    fakes
        .camera
        .set_broken(Some("/dev/video0 vanished"))
        .await
        .unwrap();
    assert!(
        eventually(WAIT, || async {
            env.proxy
                .troubles()
                .await
                .unwrap_or_default()
                .contains(&"camera: /dev/video0 vanished".to_string())
        })
        .await
    );
    fakes.sensor.motion().await.unwrap();
    assert!(
        eventually(WAIT, || async {
            fakes.bot.has("The camera failed: /dev/video0 vanished")
        })
        .await,
        "{:?}",
        fakes.bot.sent()
    );
    // Snapshot reports the failure as a typed error.
    let err = env.proxy.snapshot().await.unwrap_err();
    assert!(matches!(
        secura_bus::Error::from(err),
        secura_bus::Error::NotAvailable(_)
    ));
    fakes.camera.set_broken(None).await.unwrap();
    let fd = env.proxy.snapshot().await.unwrap();
    let bytes = secura_bus::fd::read_all(&std::os::fd::AsFd::as_fd(&fd), 1 << 20).unwrap();
    assert_eq!(&bytes[..2], &[0xff, 0xd8]);
}

#[test]
fn check_config_prints_the_effective_sections() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "", true);
    let (code, out) = secura_testbed::daemon::run_to_end(
        "secura-alarmd",
        &["--config", cfg.to_str().unwrap(), "--check-config"],
    )
    .unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("[alarm]") && out.contains("away_after = \"1s\""),
        "{out}"
    );
    assert!(out.contains(ALICE), "{out}");
}

#[tokio::test]
async fn an_alert_not_yet_handed_to_botd_survives_a_crash_of_alarmd() {
    let mut env = Env::start("", false).await;
    let fakes = Fakes::start(&env.bus).await.unwrap();
    assert!(env.call("Arm").status.success());
    env.wait_state("armed").await;
    // botd is away: the alert can only wait in alarmd.
    let Fakes {
        bot,
        sensor,
        camera: _camera,
        presence: _presence,
    } = fakes;
    bot.stop().await;
    sensor.motion().await.unwrap();
    assert!(
        eventually(WAIT, || async {
            env.proxy
                .history(20)
                .await
                .unwrap_or_default()
                .iter()
                .any(|h| h.kind == "alert")
        })
        .await
    );
    env.alarmd.kill_hard();
    env.alarmd.restart().unwrap();
    env.bus
        .wait_for_name(names::ALARM_NAME, WAIT)
        .await
        .unwrap();
    assert_eq!(env.state().await, "armed");
    let bot = secura_testbed::fakes::FakeBot::start(&env.bus)
        .await
        .unwrap();
    assert!(
        eventually(WAIT, || async {
            bot.has("Motion detected while armed (event 1)")
                && bot.has("alarmd restarted before this alert was sent")
        })
        .await,
        "{:?}\n{}",
        bot.sent(),
        env.alarmd.log()
    );
    // Alerts go before notices, so the notice may come just after.
    assert!(
        eventually(WAIT, || async {
            bot.has("alarmd restarted after an unclean stop")
        })
        .await,
        "{:?}",
        bot.sent()
    );
    // Handed over once: a clean restart does not send it again. (Alerts go first: wait for
    // the notices still on their way before counting.)
    assert!(
        eventually(WAIT, || async { bot.has("Resolved: botd is not running") }).await,
        "{:?}",
        bot.sent()
    );
    let before = bot.sent().len();
    env.alarmd.stop(WAIT).unwrap();
    env.alarmd.restart().unwrap();
    env.bus
        .wait_for_name(names::ALARM_NAME, WAIT)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = bot.sent();
    assert_eq!(
        after
            .iter()
            .filter(|s| s.text.contains("Motion detected while armed (event 1)"))
            .count(),
        1,
        "{after:?}"
    );
    assert_eq!(after.len(), before, "{after:?}");
}

#[tokio::test]
async fn camera_health_follows_camd_started_after_alarmd_and_restarted() {
    let env = Env::start("", false).await;
    let troubles = || async { env.proxy.troubles().await.unwrap_or_default() };
    let camera_ok = || async {
        !troubles()
            .await
            .iter()
            .any(|t| t.starts_with("camera") || t.starts_with("camd"))
    };
    let has = |want: &'static str| {
        let troubles = &troubles;
        async move { troubles().await.iter().any(|t| t == want) }
    };
    assert!(eventually(WAIT, || has("camd is not running")).await);
    for round in 0..2 {
        // camd (re)starts after alarmd: "starting" at first, healthy a moment later. That is
        // every start, not a trouble (the owner would get two messages per restart).
        let camera = fakes::FakeCamera::start(&env.bus).await.unwrap();
        camera.set_broken(Some("starting")).await.unwrap();
        assert!(
            eventually(WAIT, || async { !has("camd is not running").await }).await,
            "round {round}: camd back: {:?}",
            troubles().await
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            !has("camera: starting").await,
            "round {round}: a camera starting is no trouble yet: {:?}\n{}",
            troubles().await,
            env.alarmd.log()
        );
        camera.set_broken(None).await.unwrap();
        assert!(
            eventually(WAIT, camera_ok).await,
            "round {round}: healthy: {:?}\n{}",
            troubles().await,
            env.alarmd.log()
        );
        camera
            .set_broken(Some("/dev/video0 vanished"))
            .await
            .unwrap();
        assert!(
            eventually(WAIT, || has("camera: /dev/video0 vanished")).await,
            "round {round}: {:?}",
            troubles().await
        );
        camera.set_broken(None).await.unwrap();
        assert!(eventually(WAIT, camera_ok).await);
        camera.stop().await;
        assert!(eventually(WAIT, || has("camd is not running")).await);
    }
    // A camd that stays "starting" past the grace is a trouble after all.
    let camera = fakes::FakeCamera::start(&env.bus).await.unwrap();
    camera.set_broken(Some("starting")).await.unwrap();
    assert!(
        eventually(WAIT, || has("camera: starting")).await,
        "{:?}\n{}",
        troubles().await,
        env.alarmd.log()
    );
}

#[tokio::test]
async fn an_unhealthy_daemon_without_a_reason_is_never_an_empty_trouble() {
    let env = Env::start("", false).await;
    // A sensord that reports itself unhealthy without saying why.
    let _sensord = fakes::FakeSensor::start_with_health(&env.bus, false)
        .await
        .unwrap();
    let troubles = || async { env.proxy.troubles().await.unwrap_or_default() };
    assert!(
        eventually(WAIT, || async {
            troubles().await.iter().any(|t| t == "sensor: not healthy")
        })
        .await,
        "{:?}\n{}",
        troubles().await,
        env.alarmd.log()
    );
    assert!(!troubles().await.iter().any(|t| t == "sensor: "));
}

#[tokio::test]
async fn a_command_whose_state_cannot_be_saved_fails_and_changes_nothing() {
    let mut env = Env::start("", false).await;
    // The state file can no longer be replaced (as on a full disk): its temp file is taken.
    // (alarmd may be between writing and renaming it right now.)
    let tmp = env.state_dir.join(".state.json.tmp");
    assert!(eventually(WAIT, || async { std::fs::create_dir(&tmp).is_ok() }).await);
    let out = env.call("Disable");
    assert!(!out.status.success(), "a change that a restart would lose");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not be saved"), "{err}");
    assert_eq!(env.state().await, "disarmed");
    assert!(
        eventually(WAIT, || async {
            env.proxy
                .troubles()
                .await
                .unwrap_or_default()
                .iter()
                .any(|t| t.starts_with("cannot save the alarm state"))
        })
        .await
    );
    // The disk has room again: the next change is saved and the trouble is over.
    std::fs::remove_dir(&tmp).unwrap();
    assert!(env.call("Arm").status.success());
    assert!(
        eventually(WAIT, || async {
            !env.proxy
                .troubles()
                .await
                .unwrap_or_default()
                .iter()
                .any(|t| t.starts_with("cannot save the alarm state"))
        })
        .await
    );
    assert!(env.call("Disarm").status.success());
    // What the owner was told is what a restart comes back with.
    env.alarmd.kill_hard();
    env.alarmd.restart().unwrap();
    env.bus
        .wait_for_name(names::ALARM_NAME, WAIT)
        .await
        .unwrap();
    assert_eq!(env.state().await, "disarmed");
    assert!(env.call("Disable").status.success());
    assert_eq!(env.state().await, "disabled");
}

#[tokio::test]
async fn a_damaged_history_is_moved_aside_and_alarmd_runs_with_a_trouble() {
    let env = Env::start_with("", false, |dir| {
        std::fs::write(dir.join("history.sqlite"), vec![0x42u8; 4096]).unwrap();
    })
    .await;
    assert_eq!(env.state().await, "disarmed");
    let troubles = env.proxy.troubles().await.unwrap();
    assert!(
        troubles
            .iter()
            .any(|t| t.starts_with("the event history was damaged")),
        "{troubles:?}"
    );
    let kept = std::fs::read_dir(&env.state_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("history.sqlite.damaged-")
        });
    assert!(kept, "the damaged file is kept for a look");
    assert!(env.call("Disable").status.success());
    let history = env.proxy.history(10).await.unwrap();
    assert!(history.iter().any(|h| h.text == "disable"), "{history:?}");
}

#[tokio::test]
async fn frames_alone_from_an_absent_phone_neither_keep_the_house_disarmed_nor_go_unreported() {
    let env = Env::start("", true).await;
    let fakes = Fakes::start(&env.bus).await.unwrap();
    // A forger sends a frame from Alice's MAC every 200 ms; nothing answers ARP as her.
    let forging = std::sync::atomic::AtomicBool::new(true);
    let forger = async {
        while forging.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = fakes.presence.sight(ALICE).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let check = async {
        env.wait_state("armed").await;
        let want = "Alice's phone is heard but does not answer — possible spoofing";
        let raised = eventually(WAIT, || async {
            env.proxy
                .troubles()
                .await
                .unwrap_or_default()
                .iter()
                .any(|t| t == want)
        })
        .await;
        forging.store(false, std::sync::atomic::Ordering::Relaxed);
        raised
    };
    let ((), raised) = tokio::join!(forger, check);
    assert!(raised, "{:?}\n{}", fakes.bot.sent(), env.alarmd.log());
    assert!(
        eventually(WAIT, || async {
            fakes
                .bot
                .has("Trouble: Alice's phone is heard but does not answer")
        })
        .await,
        "{:?}",
        fakes.bot.sent()
    );
    assert_eq!(env.state().await, "armed");
}

/// A camd that holds its connection but never answers a property read.
struct HangingCamera;

#[zbus::interface(name = "org.securapicam.Camera1")]
impl HangingCamera {
    #[zbus(property)]
    async fn healthy(&self) -> bool {
        std::future::pending().await
    }
    #[zbus(property)]
    async fn fault(&self) -> String {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_peer_that_never_answers_does_not_delay_the_news_that_it_left() {
    let env = Env::start("", false).await;
    let troubles = || async { env.proxy.troubles().await.unwrap_or_default() };
    let missing = || async { troubles().await.iter().any(|t| t == "camd is not running") };
    assert!(eventually(WAIT, missing).await);
    let camd = zbus::connection::Builder::address(env.bus.address())
        .serve_at(names::CAMERA_PATH, HangingCamera)
        .name(names::CAMERA_NAME)
        .build()
        .await
        .unwrap();
    assert!(eventually(WAIT, || async { !missing().await }).await);
    // It gives the name up but keeps the connection (and the unanswered read) open.
    camd.release_name(names::CAMERA_NAME).await.unwrap();
    // Health reads time out after a few seconds; without a timeout the read would wait for the
    // bus daemon's own reply timeout (25 s and more) before the departure is seen.
    assert!(
        eventually(Duration::from_secs(20), missing).await,
        "{:?}\n{}",
        troubles().await,
        env.alarmd.log()
    );
    drop(camd);
}

#[tokio::test]
async fn an_alert_is_announced_and_its_first_photo_can_be_read_back() {
    use futures_util::StreamExt;
    let env = Env::start("", false).await;
    let fakes = Fakes::start(&env.bus).await.unwrap();
    let err = env.proxy.last_alert().await.unwrap_err();
    assert!(matches!(
        secura_bus::Error::from(err),
        secura_bus::Error::NotAvailable(_)
    ));
    let mut alerted = env.proxy.receive_alerted().await.unwrap();
    assert!(env.call("Arm").status.success());
    env.wait_state("armed").await;
    fakes.sensor.motion().await.unwrap();
    let sig = tokio::time::timeout(WAIT, alerted.next())
        .await
        .expect("Alerted within the wait")
        .expect("the signal stream stays open");
    let args = sig.args().unwrap();
    assert_eq!(args.event, 1);
    assert!(
        args.caption
            .starts_with("Motion detected while armed (event 1)")
    );
    let (event, at, caption, fd) = env.proxy.last_alert().await.unwrap();
    assert_eq!((event, at, caption.as_str()), (1, args.at, args.caption));
    let bytes = secura_bus::fd::read_all(&std::os::fd::AsFd::as_fd(&fd), 1 << 20).unwrap();
    assert_eq!(&bytes[..2], &[0xff, 0xd8], "a JPEG");
    assert!(secura_bus::fd::is_write_sealed(&std::os::fd::AsFd::as_fd(
        &fd
    )));
    // The album botd got is whole although the photo was read on the way.
    assert!(
        eventually(WAIT, || async {
            fakes.bot.sent().iter().any(|s| !s.photos.is_empty())
        })
        .await
    );
    let album = fakes
        .bot
        .sent()
        .into_iter()
        .find(|s| !s.photos.is_empty())
        .unwrap();
    assert_eq!(album.photos[0], bytes);
}
