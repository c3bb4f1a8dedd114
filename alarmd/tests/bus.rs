//! alarmd as a real process on a private bus with the project's policy, driven with busctl
//! and the `bus/` proxies; fakes stand in for the other daemons.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use secura_bus::names;
use secura_bus::proxies::Alarm1Proxy;
use secura_testbed::fakes::{self, Fakes};
use secura_testbed::{Daemon, TestBus, eventually};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ALICE: &str = "a4:5e:60:00:00:01";
const WAIT: Duration = Duration::from_secs(30);

fn write_config(dir: &Path, alarm: &str, devices: bool) -> PathBuf {
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
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

struct Env {
    bus: TestBus,
    alarmd: Daemon,
    state_dir: PathBuf,
    proxy: Alarm1Proxy<'static>,
}

impl Env {
    async fn start(alarm: &str, devices: bool) -> Env {
        let bus = TestBus::start().unwrap();
        let cfg = write_config(bus.dir(), alarm, devices);
        let state_dir = bus.dir().join("state");
        let alarmd = Daemon::spawn(
            &bus,
            "secura-alarmd",
            &["--config", cfg.to_str().unwrap(), "-d"],
            &state_dir,
        )
        .unwrap();
        bus.wait_for_name(names::ALARM_NAME, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", alarmd.log()));
        let conn = bus.connect().await.unwrap();
        let proxy = Alarm1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .unwrap();
        Env {
            bus,
            alarmd,
            state_dir,
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
async fn introspection_lists_alarm1_and_matches_the_checked_in_xml() {
    let env = Env::start("", false).await;
    let out = env
        .bus
        .busctl_ok(&["introspect", names::ALARM_NAME, names::ALARM_PATH])
        .unwrap();
    for member in [
        ".Arm",
        ".Disarm",
        ".Enable",
        ".Disable",
        ".CommandAs",
        ".Snapshot",
        ".History",
        ".State",
        ".Home",
        ".Devices",
        ".LastChange",
        ".LastReason",
        ".Troubles",
        ".StateChanged",
    ] {
        assert!(out.contains(member), "{member} missing from:\n{out}");
    }
    let conn = env.bus.connect().await.unwrap();
    secura_testbed::introspect::check_interface_xml(
        &conn,
        names::ALARM_NAME,
        names::ALARM_PATH,
        names::ALARM_IFACE,
    )
    .await
    .unwrap();
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
    let actor = format!("uid:{}", uid());
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
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(fakes.bot.sent().iter().all(|s| s.photos.is_empty()));
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

#[tokio::test]
async fn sigterm_stops_alarmd_cleanly() {
    let mut env = Env::start("", false).await;
    let code = env.alarmd.stop(WAIT).unwrap();
    assert_eq!(code, Some(0), "{}", env.alarmd.log());
}

#[test]
fn unknown_config_key_exits_78_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[alarm]\nverify = \"5s\"\nexit_dealy = \"5s\"\n").unwrap();
    let (code, out) = secura_testbed::daemon::run_to_end(
        "secura-alarmd",
        &["--config", cfg.to_str().unwrap(), "--check-config"],
    )
    .unwrap();
    assert_eq!(code, Some(78), "{out}");
    assert!(out.contains("bad.toml:3:"), "{out}");
    assert!(out.contains("exit_dealy"), "{out}");
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
    assert!(
        bot.has("alarmd restarted after an unclean stop"),
        "{:?}",
        bot.sent()
    );
    // Handed over once: a clean restart does not send it again.
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
