//! Fault tests of the whole system (five real daemons, private bus, Bot API stand-in): daemons
//! SIGKILLed at random moments and restarted as systemd would, daemons frozen with SIGSTOP, a
//! camera failing while armed, and the Bot API down for a while.
//!
//! The random moments come from a seed printed by the test; `SECURA_FAULT_SEED=<seed>` repeats
//! a run and `SECURA_FAULT_ROUNDS=<n>` (default 3) sets how many rounds the kill test plays.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use secura_bus::names;
use secura_testbed::eventually;
use secura_testbed::system::{OWNER, Options, Part, System};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);
const LONG: Duration = Duration::from_secs(60);

/// xorshift64*: reproducible from the printed seed, which is all a test needs.
struct Rng(u64);

impl Rng {
    fn from_env() -> Rng {
        let seed = std::env::var("SECURA_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            })
            | 1;
        println!("SECURA_FAULT_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.below(max))
    }
}

/// Samples `State` every 30 ms, so a regression between two checks is seen too.
struct Sampler {
    seen: Arc<Mutex<Vec<(Instant, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(sys: &System) -> Sampler {
        let alarm = sys.alarm.clone();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            loop {
                // A state read that fails (alarmd down) is not a state.
                if let Ok(Ok(s)) =
                    tokio::time::timeout(Duration::from_millis(500), alarm.state()).await
                {
                    out.lock().unwrap().push((Instant::now(), s));
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        });
        Sampler { seen, task }
    }

    /// The states seen between `from` and `to`.
    fn between(&self, from: Instant, to: Instant) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The event number in an alert caption, `🚨 Motion detected while armed (event N) at …`.
fn alert_event(text: &str) -> Option<u64> {
    let rest = text.strip_prefix("🚨 Motion detected while armed (event ")?;
    rest.split(')').next()?.parse().ok()
}

/// Kill `part` after `delay` and restart it at once, as `Restart=always` would.
async fn crash_and_restart(sys: &mut System, part: Part, delay: Duration, log: &mut Vec<Part>) {
    tokio::time::sleep(delay).await;
    println!("  SIGKILL {} after {delay:?}", part.short());
    sys.restart(part).await.unwrap();
    log.push(part);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_moments_never_regresses_the_state_or_loses_or_repeats_an_alert() {
    let rounds: u32 = std::env::var("SECURA_FAULT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let mut rng = Rng::from_env();
    let mut sys = System::start(Options::default()).await.unwrap();
    sys.wait_state("disarmed", WAIT).await.unwrap();
    let sampler = Sampler::start(&sys);
    let mut crashed = Vec::new();

    for round in 0..rounds {
        println!("round {round}");
        // Everyone leaves; somebody crashes while the system decides to arm.
        sys.phone_leaves().await.unwrap();
        let victim = Part::ALL[rng.below(5) as usize];
        crash_and_restart(&mut sys, victim, rng.millis(3000), &mut crashed).await;
        sys.wait_state("armed", LONG).await.unwrap();
        let armed_at = Instant::now();

        // Armed stays armed across a crash of alarmd itself.
        sys.restart(Part::Alarmd).await.unwrap();
        crashed.push(Part::Alarmd);
        assert_eq!(sys.state().await, "armed", "{}", sys.logs());

        // Motion; somebody crashes while the photos are taken and the alert goes out.
        let alerts_before = sys.texts().iter().filter_map(|t| alert_event(t)).count();
        sys.motion().await.unwrap();
        let victim = Part::ALL[rng.below(5) as usize];
        crash_and_restart(&mut sys, victim, rng.millis(4000), &mut crashed).await;
        let ok = eventually(LONG, || async {
            sys.texts().iter().filter_map(|t| alert_event(t)).count() > alerts_before
        })
        .await;
        assert!(
            ok,
            "no alert in round {round}: {:?}\n{}",
            sys.texts(),
            sys.logs()
        );
        sys.wait_state("armed", LONG).await.unwrap();

        // The owner comes back: until then the state never left armed/verifying.
        let home_at = Instant::now();
        sys.phone_arrives().await.unwrap();
        let states = sampler.between(armed_at, home_at);
        assert!(
            states.iter().all(|s| s == "armed" || s == "verifying"),
            "armed regressed in round {round}: {states:?}\n{}",
            sys.logs()
        );
        sys.wait_state("disarmed", LONG).await.unwrap();
    }

    // Disabled stays disabled whoever crashes.
    sys.alarm.disable().await.unwrap();
    let disabled_at = Instant::now();
    for _ in 0..3 {
        let victim = Part::ALL[rng.below(5) as usize];
        crash_and_restart(&mut sys, victim, rng.millis(1000), &mut crashed).await;
        assert_eq!(sys.state().await, "disabled", "{}", sys.logs());
    }
    sys.phone_leaves().await.unwrap();
    sys.motion().await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let states = sampler.between(disabled_at, Instant::now());
    assert!(
        !states.is_empty() && states.iter().all(|s| s == "disabled"),
        "{states:?}"
    );

    // Every alert alarmd raised was delivered, and exactly once.
    let history = sys.alarm.history(1000).await.unwrap();
    let raised: Vec<u64> = history
        .iter()
        .filter_map(|h| {
            h.text
                .strip_prefix("alert sent for event ")
                .and_then(|n| n.parse().ok())
        })
        .collect();
    let ok = eventually(WAIT, || async {
        let got: Vec<u64> = sys.texts().iter().filter_map(|t| alert_event(t)).collect();
        raised.iter().all(|e| got.contains(e))
    })
    .await;
    let mut delivered: BTreeMap<u64, usize> = BTreeMap::new();
    for e in sys.texts().iter().filter_map(|t| alert_event(t)) {
        *delivered.entry(e).or_default() += 1;
    }
    assert!(
        ok,
        "raised {raised:?}, delivered {delivered:?}\n{}",
        sys.logs()
    );
    assert!(
        delivered.values().all(|n| *n == 1),
        "an alert was delivered twice: {delivered:?}"
    );
    assert!(raised.len() >= rounds as usize, "{raised:?}");

    // Each crash of another daemon was a trouble and a notice.
    for part in [Part::Camd, Part::Sensord, Part::Sniffer, Part::Botd] {
        if !crashed.contains(&part) {
            continue;
        }
        let trouble = format!("{} is not running", part.short());
        assert!(
            history
                .iter()
                .any(|h| h.kind == "trouble" && h.text == trouble),
            "{part:?} crashed unnoticed: {history:?}"
        );
        // "Trouble: X is not running." — said loudly when it happened while armed.
        sys.wait_text(0, WAIT, |t| {
            t.starts_with(&format!("⚠️ Trouble: {trouble}."))
        })
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_daemon_times_out_its_callers_while_alarmd_keeps_serving() {
    let sys = System::start(Options::default()).await.unwrap();
    sys.wait_state("disarmed", WAIT).await.unwrap();
    let bus = sys.bus();

    // camd frozen: a direct call times out; alarmd's Snapshot gives up with an error in time,
    // and alarmd answers everything else at once meanwhile.
    sys.set_running(Part::Camd, false).unwrap();
    let out = bus
        .busctl(&[
            "--timeout=2",
            "call",
            names::CAMERA_NAME,
            names::CAMERA_PATH,
            names::CAMERA_IFACE,
            "Snapshot",
        ])
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timed out"),
        "{out:?}"
    );
    let started = Instant::now();
    let snapshot = tokio::spawn({
        let alarm = sys.alarm.clone();
        async move { alarm.snapshot().await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    assert_eq!(sys.alarm.state().await.unwrap(), "disarmed");
    assert!(sys.alarm.history(5).await.is_ok());
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let err = snapshot.await.unwrap().unwrap_err().to_string();
    assert!(
        err.contains("NotAvailable") && err.contains("did not answer"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    sys.set_running(Part::Camd, true).unwrap();
    let fd = sys.alarm.snapshot().await.unwrap();
    let bytes = secura_bus::fd::read_all(&std::os::fd::AsFd::as_fd(&fd), 16 << 20).unwrap();
    assert!(bytes.starts_with(&[0xff, 0xd8]));

    // botd frozen: alarmd's notices wait, its commands still work; they arrive on SIGCONT.
    sys.set_running(Part::Botd, false).unwrap();
    // A request botd had already written may still be read by the stand-in after the stop.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = sys.sent().len();
    let t = Instant::now();
    sys.alarm.arm().await.unwrap();
    sys.wait_state("armed", WAIT).await.unwrap();
    sys.alarm.disarm().await.unwrap();
    assert_eq!(sys.alarm.state().await.unwrap(), "disarmed");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(sys.sent().len(), before);
    sys.set_running(Part::Botd, true).unwrap();
    // The local caller by user name (`root`), as alarmd finds it in the passwd database.
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .map_or_else(|| format!("uid:{}", nix::unistd::geteuid()), |u| u.name);
    sys.wait_text(before, WAIT, |t| t == format!("Disarmed — by {me}."))
        .await
        .unwrap();
    let texts = sys.texts();
    let arming = texts
        .iter()
        .position(|t| t.starts_with(&format!("Arming — by {me}:")));
    let disarmed = texts
        .iter()
        .position(|t| *t == format!("Disarmed — by {me}."));
    assert!(arming < disarmed, "in order: {texts:?}");

    // alarmd frozen: its callers time out; on SIGCONT it answers again.
    sys.set_running(Part::Alarmd, false).unwrap();
    let out = bus
        .busctl(&[
            "--timeout=1",
            "get-property",
            names::ALARM_NAME,
            names::ALARM_PATH,
            names::ALARM_IFACE,
            "State",
        ])
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    sys.set_running(Part::Alarmd, true).unwrap();
    assert!(eventually(WAIT, || async { sys.state().await == "disarmed" }).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_camera_failing_while_armed_still_alerts_as_text_saying_the_camera_failed() {
    let sys = System::start(Options::default()).await.unwrap();
    sys.wait_state("disarmed", WAIT).await.unwrap();
    sys.alarm.arm().await.unwrap();
    sys.wait_state("armed", WAIT).await.unwrap();

    sys.camera_fault("no frames from /dev/video0")
        .await
        .unwrap();
    let trouble = sys
        .wait_text(0, WAIT, |t| t.starts_with("⚠️ Trouble: camera: "))
        .await
        .unwrap();
    assert!(
        trouble.contains("no frames from /dev/video0"),
        "{trouble:?}"
    );
    assert!(
        trouble.ends_with(". The system is ARMED: an intrusion may go unseen or unreported."),
        "{trouble:?}"
    );
    let fault = trouble
        .trim_start_matches("⚠️ Trouble: ")
        .split(". The system is ARMED")
        .next()
        .unwrap()
        .to_string();
    assert!(
        sys.alarm.troubles().await.unwrap().contains(&fault),
        "{fault:?}"
    );
    // Past pre_trigger (1s): not even frames from before the failure are left.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sys.motion().await.unwrap();
    let alert = sys
        .wait_text(0, LONG, |t| t.starts_with("🚨 Motion detected while armed"))
        .await
        .unwrap();
    assert!(
        alert.contains("\nThe camera failed: "),
        "{alert:?} {:?}\n{}",
        sys.sent()
            .iter()
            .map(|c| (c.method.clone(), c.photos.len()))
            .collect::<Vec<_>>(),
        sys.logs()
    );
    assert!(sys.albums().is_empty(), "{:?}", sys.albums().len());

    // Repaired: the trouble ends, and the next alert has photos again.
    sys.camera_fault("").await.unwrap();
    sys.wait_text(0, WAIT, |t| t == format!("✅ Resolved: {fault}."))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await; // past alert_cooldown
    sys.motion().await.unwrap();
    let ok = eventually(LONG, || async { !sys.albums().is_empty() }).await;
    assert!(ok, "{:?}\n{}", sys.texts(), sys.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_raised_while_the_bot_api_is_down_are_delivered_once_it_returns() {
    let sys = System::start(Options::default()).await.unwrap();
    sys.wait_state("disarmed", WAIT).await.unwrap();
    let bot = secura_bus::proxies::Bot1Proxy::builder(sys.connection())
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap();

    sys.tg.go_down();
    sys.alarm.arm().await.unwrap();
    sys.wait_state("armed", WAIT).await.unwrap();
    sys.motion().await.unwrap();
    // Queued durably in botd's outbox, not sent.
    let ok = eventually(WAIT, || async { bot.outbox().await.unwrap_or(0) >= 3 }).await;
    assert!(ok, "outbox {:?}\n{}", bot.outbox().await, sys.logs());
    assert!(!bot.connected().await.unwrap());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(sys.albums().is_empty());

    sys.tg.come_up().await.unwrap();
    let ok = eventually(LONG, || async { sys.albums().len() == 1 }).await;
    assert!(ok, "{:?}\n{}", sys.texts(), sys.logs());
    let ok = eventually(WAIT, || async { bot.outbox().await.unwrap_or(1) == 0 }).await;
    assert!(ok);
    // In order, once each.
    let texts = sys.texts();
    let arming = texts.iter().position(|t| t.starts_with("Arming — by "));
    let armed = texts.iter().position(|t| t == "Armed.");
    let alert = texts.iter().position(|t| alert_event(t).is_some());
    assert!(arming < armed && armed < alert, "{texts:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sys.albums().len(), 1);
    assert_eq!(
        sys.texts()
            .iter()
            .filter(|t| alert_event(t).is_some())
            .count(),
        1
    );
    assert!(sys.tg.sent_to(OWNER).iter().all(|c| c.chat == Some(OWNER)));
}
