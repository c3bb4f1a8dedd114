//! `make demo`: the system on a private bus with simulated hardware, narrating a scenario,
//! then staying up for the user to try busctl until Ctrl-C.

use anyhow::{Context, Result};
use secura_bus::names;
use secura_bus::proxies::Alarm1Proxy;
use secura_testbed::fakes::Fakes;
use secura_testbed::{Daemon, TestBus, eventually};
use std::path::PathBuf;
use std::time::Duration;

const PHONE: &str = "a4:5e:60:de:e0:01";
const PHONE_IP: &str = "192.0.2.23";

fn say(text: &str) {
    println!("\n\x1b[1m==> {text}\x1b[0m");
}

async fn wait_state(alarm: &Alarm1Proxy<'_>, want: &str, within: Duration) -> Result<()> {
    let ok = eventually(within, || async {
        alarm.state().await.map(|s| s == want).unwrap_or(false)
    })
    .await;
    anyhow::ensure!(ok, "the alarm did not reach {want:?} within {within:?}");
    println!("    State = {want}");
    Ok(())
}

fn print_new(fakes: &Fakes, seen: &mut usize, photos_dir: &PathBuf) -> Result<()> {
    let sent = fakes.bot.sent();
    for s in sent.iter().skip(*seen) {
        if s.photos.is_empty() {
            println!("    [telegram] {}", s.text);
        } else {
            std::fs::create_dir_all(photos_dir)?;
            let mut files = Vec::new();
            for (i, p) in s.photos.iter().enumerate() {
                let f = photos_dir.join(format!("alert-{}-{}.jpg", *seen + 1, i + 1));
                std::fs::write(&f, p)?;
                files.push(f.display().to_string());
            }
            println!(
                "    [telegram] album of {} photos: {}",
                s.photos.len(),
                s.text
            );
            println!("               saved: {}", files.join(", "));
        }
    }
    *seen = sent.len();
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let bus = TestBus::start().context("starting a private D-Bus")?;
    let dir = bus.dir().to_path_buf();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[alarm]\naway_after = \"10s\"\nprobe_attempts = 2\nexit_delay = \"5s\"\n\
             verify = \"3s\"\nstartup_grace = \"5s\"\n\n[presence]\nprobe_timeout = \"500ms\"\n\
             [[presence.devices]]\nname = \"Alice\"\nmac = \"{PHONE}\"\n"
        ),
    )?;
    let fakes = Fakes::start(&bus).await?;
    fakes.presence.arrive(PHONE, PHONE_IP).await?;
    let _alarmd = Daemon::spawn(
        &bus,
        "secura-alarmd",
        &["--config", config.to_str().unwrap_or_default(), "-d"],
        &dir.join("alarmd"),
    )?;
    bus.wait_for_name(names::ALARM_NAME, Duration::from_secs(20))
        .await?;
    let conn = bus.connect().await?;
    let alarm = Alarm1Proxy::builder(&conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await?;
    let photos = std::env::current_dir()?.join("demo-photos");
    let mut seen = 0;

    say("secura-alarmd runs on a private bus; camera, sensor, sniffer and bot are simulated");
    println!("    Alice's phone ({PHONE}) is at home and answers ARP from {PHONE_IP}.");
    wait_state(&alarm, "disarmed", Duration::from_secs(5)).await?;

    say("Alice leaves: her phone goes quiet (away_after is 10s in the demo)");
    fakes.presence.leave(PHONE);
    wait_state(&alarm, "armed", Duration::from_secs(60)).await?;
    print_new(&fakes, &mut seen, &photos)?;

    say("Motion in the hall: photos are taken at once, then 3s to see whether a phone answers");
    fakes.sensor.motion().await?;
    wait_state(&alarm, "verifying", Duration::from_secs(10)).await?;
    wait_state(&alarm, "armed", Duration::from_secs(20)).await?;
    eventually(Duration::from_secs(20), || async {
        fakes.bot.sent().iter().any(|s| !s.photos.is_empty())
    })
    .await;
    print_new(&fakes, &mut seen, &photos)?;

    say("Alice comes home: her phone is sighted and answers ARP");
    fakes.presence.arrive(PHONE, PHONE_IP).await?;
    wait_state(&alarm, "disarmed", Duration::from_secs(20)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    print_new(&fakes, &mut seen, &photos)?;

    say("/status");
    println!(
        "    State={} Home={} LastReason={:?} Troubles={:?}",
        alarm.state().await?,
        alarm.home().await?,
        alarm.last_reason().await?,
        alarm.troubles().await?
    );

    let a = bus.address();
    say("The system stays up. Try, in another terminal:");
    println!("    export DBUS_SYSTEM_BUS_ADDRESS={a}");
    println!(
        "    busctl introspect {} {}",
        names::ALARM_NAME,
        names::ALARM_PATH
    );
    println!(
        "    busctl call {} {} {} Arm",
        names::ALARM_NAME,
        names::ALARM_PATH,
        names::ALARM_IFACE
    );
    println!(
        "    busctl get-property {} {} {} State LastReason Troubles",
        names::ALARM_NAME,
        names::ALARM_PATH,
        names::ALARM_IFACE
    );
    println!(
        "    busctl call {} {} {} History u 10",
        names::ALARM_NAME,
        names::ALARM_PATH,
        names::ALARM_IFACE
    );
    println!("  Ctrl-C stops everything.");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            () = tokio::time::sleep(Duration::from_millis(500)) => print_new(&fakes, &mut seen, &photos)?,
        }
    }
    say("stopping");
    Ok(())
}
