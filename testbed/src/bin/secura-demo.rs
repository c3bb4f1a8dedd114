//! `make demo`: the five real daemons on a private bus with simulated hardware and the Bot API
//! stand-in (or the real Telegram with the user's own bot), narrating a scenario — the phone
//! leaves, the system arms, motion, the alert album (saved to `./demo-photos/`), the phone comes
//! back and answers ARP, disarmed, `/status` — then staying up for the user to try `busctl`
//! and Telegram commands until Ctrl-C, which stops every daemon cleanly.
//!
//! Real Telegram: `SECURA_DEMO_TOKEN=<token from @BotFather> SECURA_DEMO_USER=<your user id>
//! make demo` (the token goes to botd as a 0600 credential file and is never printed).

use anyhow::{Context, Result, bail};
use secura_bus::names;
use secura_testbed::system::{Mqtt, OWNER, Options, PHONE, Part, RealTelegram, System};
use secura_testbed::telegram::Call;
use std::path::{Path, PathBuf};
use std::time::Duration;

const STEP: Duration = Duration::from_secs(60);

fn say(text: &str) {
    println!("\n\x1b[1m==> {text}\x1b[0m");
}

fn real_telegram() -> Result<Option<RealTelegram>> {
    let token = std::env::var("SECURA_DEMO_TOKEN").unwrap_or_default();
    let user = std::env::var("SECURA_DEMO_USER").unwrap_or_default();
    match (token.trim().is_empty(), user.trim().is_empty()) {
        (true, true) => Ok(None),
        (false, false) => {
            let user = user.trim().parse().with_context(|| {
                format!("SECURA_DEMO_USER={user:?} is not a Telegram user id (a number)")
            })?;
            Ok(Some(RealTelegram { token, user }))
        }
        _ => bail!(
            "for the real Telegram set both SECURA_DEMO_TOKEN (from @BotFather) and \
             SECURA_DEMO_USER (your numeric user id, e.g. from @userinfobot)"
        ),
    }
}

/// Prints what the owner's Telegram received since the last call; saves album photos.
struct Chat {
    seen: usize,
    photos: PathBuf,
    saved: usize,
}

impl Chat {
    fn show(&mut self, sys: &System) -> Result<()> {
        let sent = sys.sent();
        for call in sent.iter().skip(self.seen) {
            self.print(call)?;
        }
        self.seen = sent.len();
        Ok(())
    }

    fn print(&mut self, call: &Call) -> Result<()> {
        let text = call.text.clone().unwrap_or_default();
        if call.photos.is_empty() {
            let buttons = call.buttons();
            let extra = if buttons.is_empty() {
                String::new()
            } else {
                format!("  [buttons: {}]", buttons.join(", "))
            };
            println!(
                "    \x1b[36m[telegram]\x1b[0m {}{extra}",
                text.trim_end().replace('\n', "\n               ")
            );
            return Ok(());
        }
        std::fs::create_dir_all(&self.photos)
            .with_context(|| format!("creating {}", self.photos.display()))?;
        let mut files = Vec::new();
        for bytes in &call.photos {
            self.saved += 1;
            let f = self
                .photos
                .join(format!("alert-photo-{:02}.jpg", self.saved));
            std::fs::write(&f, bytes).with_context(|| format!("writing {}", f.display()))?;
            files.push(f.display().to_string());
        }
        println!(
            "    \x1b[36m[telegram]\x1b[0m album of {} photos: {}",
            call.photos.len(),
            text.trim_end().replace('\n', "\n               ")
        );
        for f in files {
            println!("               saved {f}");
        }
        Ok(())
    }
}

/// Wait for `want`, showing the chat meanwhile.
async fn wait_state(sys: &System, chat: &mut Chat, want: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        chat.show(sys)?;
        if sys.state().await == want {
            println!("    State = {want}");
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "the alarm did not reach {want:?} within {STEP:?} (it is {:?}); logs in {}",
                sys.state().await,
                sys.bus().dir().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait until the owner got something `want` accepts after the first `before` messages,
/// showing the chat meanwhile.
async fn wait_sent(
    sys: &System,
    chat: &mut Chat,
    before: usize,
    want: impl Fn(&Call) -> bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        chat.show(sys)?;
        if sys.sent().iter().skip(before).any(&want) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("the expected message did not arrive within {STEP:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Copy camd's photos of the newest event (what was sent to the real Telegram).
fn copy_event_photos(sys: &System, to: &Path) -> Result<usize> {
    let events = sys.state_dir(Part::Camd).join("events");
    let newest = std::fs::read_dir(&events)
        .with_context(|| format!("reading {}", events.display()))?
        .flatten()
        .map(|e| e.path())
        .max();
    let Some(dir) = newest else { return Ok(0) };
    std::fs::create_dir_all(to)?;
    let mut n = 0;
    for f in std::fs::read_dir(&dir)?.flatten() {
        let name = f.file_name();
        std::fs::copy(f.path(), to.join(&name))?;
        n += 1;
    }
    Ok(n)
}

fn print_try(sys: &System, real: bool, mqtt: Option<&Mqtt>) {
    let a = sys.bus().address();
    let (alarm, path, iface) = (names::ALARM_NAME, names::ALARM_PATH, names::ALARM_IFACE);
    let sim = names::SIMULATOR_IFACE;
    say("The system stays up. In another terminal:");
    println!("    export DBUS_SYSTEM_BUS_ADDRESS='{a}'");
    println!("    busctl introspect {alarm} {path}");
    println!("    busctl get-property {alarm} {path} {iface} State Home LastReason Troubles");
    println!("    busctl call {alarm} {path} {iface} Arm          # Disarm, Disable, Enable");
    println!("    busctl call {alarm} {path} {iface} History u 10");
    println!("  simulated events:");
    println!(
        "    busctl call {} {} {sim} Motion",
        names::SENSOR_NAME,
        names::SENSOR_PATH
    );
    println!(
        "    busctl call {} {} {sim} PhoneLeaves s {PHONE}   # PhoneArrives s {PHONE}",
        names::PRESENCE_NAME,
        names::PRESENCE_PATH
    );
    println!(
        "    busctl call {} {} {sim} SetFault s 'lens covered'   # SetFault s '' repairs",
        names::CAMERA_NAME,
        names::CAMERA_PATH
    );
    if let Some(m) = mqtt {
        let port = m.broker.port();
        println!(
            "  Home Assistant's view (a local Mosquitto on port {port}, secura-mqttd as \"hall\"):"
        );
        println!("    mosquitto_sub -h 127.0.0.1 -p {port} -v -t 'secura/#' -t 'homeassistant/#'");
        println!(
            "    mosquitto_pub -h 127.0.0.1 -p {port} -t secura/hall/alarm/set -m ARM_AWAY   # DISARM"
        );
    }
    println!("  daemon logs: {}/secura-*.log", sys.bus().dir().display());
    if real {
        println!("  Talk to your bot on Telegram: /status, /history, /arm, /disarm, /photo, /help");
    } else {
        println!(
            "  Type a Telegram command here (/status, /history, /arm, /disarm, /photo, /help) \
             and press Enter: it is sent to the bot as the owner."
        );
    }
    println!("  Ctrl-C stops everything.");
}

async fn scenario(sys: &System, chat: &mut Chat, real: bool) -> Result<()> {
    say("Five daemons on a private D-Bus, hardware simulated");
    for part in Part::ALL {
        let pid = sys.daemon(part).and_then(|d| d.pid()).unwrap_or(0);
        println!(
            "    secura-{:<8} pid {pid:<7} {}",
            part.short(),
            part.bus_name()
        );
    }
    if real {
        println!("    botd talks to the real Telegram; only your user id is allowed.");
    } else {
        println!("    botd talks to a local stand-in of the Telegram Bot API.");
    }
    println!("    Alice's phone ({PHONE}) is at home: it transmits and answers ARP.");
    wait_state(sys, chat, "disarmed").await?;

    say("Alice leaves: her phone goes quiet (away_after is 5s in the demo, 10m by default)");
    sys.phone_leaves().await?;
    wait_state(sys, chat, "armed").await?;
    println!("    LastReason = {:?}", sys.alarm.last_reason().await?);

    say("Motion in the hall: photos at once, then 3s (verify) for a returning phone to answer");
    sys.motion().await?;
    wait_state(sys, chat, "verifying").await?;
    wait_state(sys, chat, "armed").await?;
    if real {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let n = copy_event_photos(sys, &chat.photos)?;
        println!(
            "    The alert album went to your Telegram; its {n} photos are also in {}",
            chat.photos.display()
        );
    } else {
        wait_sent(sys, chat, 0, |c| !c.photos.is_empty()).await?;
    }

    say("Alice comes home: her phone is sighted and answers ARP");
    sys.phone_arrives().await?;
    wait_state(sys, chat, "disarmed").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    chat.show(sys)?;

    say("/status");
    if real {
        println!("    Send /status to your bot. alarmd says:");
        println!(
            "    State={} Home={} LastReason={:?} Troubles={:?}",
            sys.alarm.state().await?,
            sys.alarm.home().await?,
            sys.alarm.last_reason().await?,
            sys.alarm.troubles().await?
        );
    } else {
        chat.show(sys)?;
        let before = chat.seen;
        sys.tg.send_text(OWNER, "/status");
        println!("    [you] /status");
        wait_sent(sys, chat, before, |c| {
            c.text.as_deref().is_some_and(|t| t.starts_with("State: "))
        })
        .await?;
    }
    Ok(())
}

/// The terminal's lines, read on a thread of their own (a blocking read must not hold up the
/// runtime; the thread ends with the process).
fn stdin_lines() -> tokio::sync::mpsc::Receiver<String> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let telegram = real_telegram()?;
    let real = telegram.is_some();
    let photos = std::env::current_dir()?.join("demo-photos");
    let opts = Options {
        alarm: vec![
            ("away_after".into(), "\"5s\"".into()),
            ("exit_delay".into(), "\"5s\"".into()),
            ("alert_cooldown".into(), "\"30s\"".into()),
        ],
        telegram,
        ..Options::default()
    };
    say("Starting a private D-Bus, the Bot API stand-in and the five daemons");
    let mut sys = System::start(opts)
        .await
        .context("starting the system (build the daemons first: make build)")?;
    let mqtt = if secura_testbed::mosquitto::available() {
        say("Starting a local Mosquitto and secura-mqttd (what Home Assistant would see)");
        match sys.start_mqtt().await {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("    MQTT left out: {e:#}");
                None
            }
        }
    } else {
        println!(
            "    (no mosquitto installed: the Home Assistant side is left out; apt install mosquitto)"
        );
        None
    };
    let mut chat = Chat {
        seen: 0,
        photos,
        saved: 0,
    };

    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let outcome = tokio::select! {
        r = scenario(&sys, &mut chat, real) => Some(r),
        _ = int.recv() => None,
        _ = term.recv() => None,
    };
    if let Some(Err(e)) = &outcome {
        eprintln!("\nthe scenario failed: {e:#}");
    }
    if let Some(Ok(())) = outcome {
        print_try(&sys, real, mqtt.as_ref());
        let mut lines = stdin_lines();
        let mut stdin_open = true;
        loop {
            tokio::select! {
                _ = int.recv() => break,
                _ = term.recv() => break,
                line = lines.recv(), if stdin_open => match line {
                    Some(l) if !real && !l.trim().is_empty() => {
                        sys.tg.send_text(OWNER, l.trim());
                    }
                    Some(_) => {}
                    None => stdin_open = false,
                },
                () = tokio::time::sleep(Duration::from_millis(300)) => chat.show(&sys)?,
            }
        }
    }

    say("Stopping (SIGTERM to every daemon)");
    if let Some(mut m) = mqtt {
        match m.daemon.stop(Duration::from_secs(10)) {
            Ok(Some(c)) => println!("    secura-mqttd    exited with {c}"),
            Ok(None) => println!("    secura-mqttd    was not running"),
            Err(e) => println!("    secura-mqttd    {e:#}"),
        }
    }
    for (part, code) in sys.shutdown(Duration::from_secs(10)) {
        match code {
            Ok(Some(c)) => println!("    secura-{:<8} exited with {c}", part.short()),
            Ok(None) => println!("    secura-{:<8} was not running", part.short()),
            Err(e) => println!("    secura-{:<8} {e:#}", part.short()),
        }
    }
    outcome.unwrap_or(Ok(()))
}
