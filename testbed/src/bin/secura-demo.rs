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
/// The Telegram commands the demo suggests.
const COMMANDS: &str = "/status, /history, /who, /arm, /disarm, /disable, /enable, /photo, /help";

/// `text` in the given SGR style at a terminal, plain otherwise (a log file, a pipe).
fn paint(style: &str, text: &str) -> String {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        format!("\x1b[{style}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn say(text: &str) {
    println!("\n{}", paint("1", &format!("==> {text}")));
}

/// This run's name: its start in UTC, usable as a directory name (`20261202-140231`).
fn run_name() -> String {
    let t = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    t.trim_end_matches('Z')
        .replace(['-', ':'], "")
        .replace('T', "-")
}

/// Who a line typed at the demo's prompt comes from: `/as stranger /status` from someone the
/// bot does not know, `/as 2 /start CODE` from user 2, anything else from the owner.
fn sender(line: &str) -> (i64, &str) {
    let Some(rest) = line.strip_prefix("/as ") else {
        return (OWNER, line);
    };
    let (who, text) = rest.trim_start().split_once(' ').unwrap_or((rest, ""));
    let id = match who {
        "stranger" => STRANGER,
        n => match n.parse() {
            Ok(id) => id,
            Err(_) => return (OWNER, line),
        },
    };
    (id, text.trim())
}

/// The user id `/as stranger` sends as: not allowed, never paired.
const STRANGER: i64 = 987_654_321;

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

/// Every message the bot sent, to any chat, in order.
fn messages(sys: &System) -> Vec<Call> {
    sys.tg
        .calls()
        .into_iter()
        .filter(|c| c.chat.is_some() && c.method.starts_with("send"))
        .collect()
}

/// Prints what the bot sent since the last call (the owner's chat, and others by id); saves
/// album photos, and each message as one JSON line of `chat.jsonl` beside them (what
/// `docs/render-alert.py` draws the README's picture from).
struct Chat {
    seen: usize,
    /// This run's own folder for the albums' photos.
    photos: PathBuf,
    /// Albums saved so far (each gets its own file names).
    albums: usize,
}

impl Chat {
    fn show(&mut self, sys: &System) -> Result<()> {
        let sent = messages(sys);
        for call in sent.iter().skip(self.seen) {
            self.print(call)?;
        }
        self.seen = sent.len();
        Ok(())
    }

    fn print(&mut self, call: &Call) -> Result<()> {
        let text = call.text.clone().unwrap_or_default();
        let to = match call.chat {
            Some(c) if c != OWNER => format!(" to {c}"),
            _ => String::new(),
        };
        if call.photos.is_empty() {
            let buttons = call.buttons();
            let extra = if buttons.is_empty() {
                String::new()
            } else {
                format!("  [buttons: {}]", buttons.join(", "))
            };
            println!(
                "    {}{to} {}{extra}",
                paint("36", "[telegram]"),
                text.trim_end().replace('\n', "\n               ")
            );
            return self.record(call, &[]);
        }
        std::fs::create_dir_all(&self.photos)
            .with_context(|| format!("creating {}", self.photos.display()))?;
        let mut files = Vec::new();
        self.albums += 1;
        for (n, bytes) in call.photos.iter().enumerate() {
            let f = self
                .photos
                .join(format!("alert-{:02}-photo-{:02}.jpg", self.albums, n + 1));
            std::fs::write(&f, bytes).with_context(|| format!("writing {}", f.display()))?;
            files.push(f);
        }
        println!(
            "    {}{to} album of {} photos: {}",
            paint("36", "[telegram]"),
            call.photos.len(),
            text.trim_end().replace('\n', "\n               ")
        );
        for f in &files {
            println!("               saved {}", f.display());
        }
        self.record(call, &files)
    }

    /// Appends the message to `chat.jsonl`: method, chat, text, the saved photos' file names
    /// and every parameter the Bot API got (formatting, silence, buttons, replies).
    fn record(&self, call: &Call, files: &[PathBuf]) -> Result<()> {
        use std::io::Write as _;
        std::fs::create_dir_all(&self.photos)
            .with_context(|| format!("creating {}", self.photos.display()))?;
        let names: Vec<String> = files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        let line = serde_json::json!({
            "method": call.method,
            "chat": call.chat,
            "text": call.text,
            "photos": names,
            "params": call.params,
        });
        let path = self.photos.join("chat.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        writeln!(f, "{line}").with_context(|| format!("writing {}", path.display()))
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
        if messages(sys).iter().skip(before).any(&want) {
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
        "    busctl call {} {} {sim} Motion   # MotionEnded",
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
    println!(
        "  daemon logs: {}/secura-*.log (kept after Ctrl-C)",
        sys.bus().dir().display()
    );
    if real {
        println!("  Talk to your bot on Telegram: {COMMANDS}");
    } else {
        println!(
            "  Type a Telegram command here ({COMMANDS}) and press Enter: it is sent to the bot \
             as the owner. `/as stranger /status` sends as someone the bot does not know (who \
             gets silence); `/as 2 /start CODE` as user 2 (a code from busctl call {} {} {} \
             CreatePairingCode)",
            names::BOT_NAME,
            names::BOT_PATH,
            names::BOT_IFACE
        );
    }
    println!("  Ctrl-C stops everything.");
}

/// The first line of botd's log that `want` accepts, waiting up to a minute; the error says
/// `missing` and botd's last warning.
async fn wait_log(sys: &System, want: impl Fn(&str) -> bool, missing: &str) -> Result<String> {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let log = sys.daemon(Part::Botd).map(|d| d.log()).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| want(l)) {
            return Ok(line.to_string());
        }
        if tokio::time::Instant::now() >= deadline {
            let last = log.lines().rev().find(|l| l.contains("WARN")).unwrap_or("");
            bail!("{missing} within {STEP:?}; botd's last warning: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `key=value` out of a log line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

/// With the user's own bot: botd's first request is getMe; a bad token ends the demo here,
/// with Telegram's own reason, rather than an alert that silently goes nowhere.
async fn check_token(sys: &System) -> Result<()> {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let log = sys.daemon(Part::Botd).map(|d| d.log()).unwrap_or_default();
        if log.contains("connected to the Bot API") {
            println!("    Telegram accepted the token (getMe answered).");
            return Ok(());
        }
        if let Some(line) = log
            .lines()
            .find(|l| l.contains("request=\"getMe\"") || l.contains("request=getMe"))
        {
            bail!(
                "Telegram refused getMe, so SECURA_DEMO_TOKEN is wrong or Telegram cannot be reached: {line}"
            );
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("botd did not reach the Bot API within {STEP:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
        check_token(sys).await?;
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
        let line = wait_log(
            sys,
            |l| l.contains("alert queued"),
            "the alert was not handed to botd",
        )
        .await?;
        let id = field(&line, "id").context("botd's \"alert queued\" line has no id")?;
        wait_log(
            sys,
            |l| l.contains(" delivered") && field(l, "id") == Some(id),
            "Telegram has not accepted the alert album",
        )
        .await?;
        let n = copy_event_photos(sys, &chat.photos)?;
        println!(
            "    Telegram accepted the alert album; its {n} photos are also in {}",
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
    let run = run_name();
    let photos = std::env::current_dir()?.join("demo-photos").join(&run);
    let kept_logs = std::env::current_dir()?.join("demo-logs").join(&run);
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
        albums: 0,
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
                        let (from, text) = sender(l.trim());
                        if from != OWNER {
                            println!("    [as {from}] {text}");
                        }
                        sys.tg.send_text(from, text);
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
    match keep_logs(&sys, &kept_logs) {
        Ok(n) => println!("    {n} logs kept in {}", kept_logs.display()),
        Err(e) => eprintln!("    the logs could not be kept: {e:#}"),
    }
    outcome.unwrap_or(Ok(()))
}

/// Copy the daemons' and the bus's logs out of the private bus's directory, which goes away
/// with the demo.
fn keep_logs(sys: &System, to: &Path) -> Result<usize> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let mut n = 0;
    for f in std::fs::read_dir(sys.bus().dir())?.flatten() {
        let path = f.path();
        if path.extension().is_some_and(|e| e == "log") {
            std::fs::copy(&path, to.join(f.file_name()))
                .with_context(|| format!("copying {}", path.display()))?;
            n += 1;
        }
    }
    Ok(n)
}
