//! MQTT latency: from a command to alarmd (`Alarm1.Arm` / `Disarm`, exit delay 0) to the
//! moment a Home Assistant-like subscriber on a real Mosquitto has the new value of the
//! alarm's state topic — through alarmd's state machine and durable save, its
//! `PropertiesChanged`, mqttd's mirror and the broker.

use crate::report::{Goal, Row, Section};
use crate::stats::Summary;
use anyhow::{Context, Result, bail};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use secura_bus::names;
use secura_bus::proxies::Alarm1Proxy;
use secura_testbed::mosquitto::Mosquitto;
use secura_testbed::{Daemon, TestBus};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use zbus::proxy::CacheProperties;

/// Goal: 99th percentile, ms (the "within 1 s" is what a person notices; this is
/// the budget of a healthy system).
const GOAL_P99_MS: f64 = 50.0;
const START: Duration = Duration::from_secs(30);
/// Longest wait for one state message before the run is given up.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
const STATE_TOPIC: &str = "secura/bench/alarm/state";

/// Time `changes` state changes, half Arm and half Disarm.
pub async fn run(work: &std::path::Path, changes: usize) -> Result<Section> {
    if !secura_testbed::mosquitto::available() {
        bail!("mosquitto is not installed (apt install mosquitto)");
    }
    let bus = TestBus::start().context("starting a private D-Bus")?;
    let broker = Mosquitto::start(&work.join("mosquitto")).context("starting Mosquitto")?;
    let cfg = bus.dir().join("config.toml");
    // No camera, sensor, sniffer or bot: alarmd reports them missing only after the grace.
    std::fs::write(
        &cfg,
        format!(
            "[alarm]\nexit_delay = \"0s\"\nstartup_grace = \"1h\"\n\n\
             [mqtt]\nnode_name = \"bench\"\nbroker = \"{}\"\n",
            broker.url(false)
        ),
    )?;
    let cfg = cfg.display().to_string();
    let mut daemons = Vec::new();
    for (name, bus_name) in [
        ("secura-alarmd", names::ALARM_NAME),
        ("secura-mqttd", names::NODES_NAME),
    ] {
        let d = Daemon::spawn(&bus, name, &["--config", &cfg], &bus.dir().join(name))?;
        if let Err(e) = bus.wait_for_name(bus_name, START).await {
            bail!("{e}\n--- {name} log ---\n{}", d.log());
        }
        daemons.push(d);
    }
    let conn = bus.connect().await?;
    let alarm = Alarm1Proxy::builder(&conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;

    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, String)>();
    let (client, mut events) = AsyncClient::new(
        MqttOptions::new("bench-home-assistant", "127.0.0.1", broker.port()),
        64,
    );
    let reader = tokio::spawn(async move {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) if p.topic == STATE_TOPIC => {
                    let text = String::from_utf8_lossy(&p.payload).into_owned();
                    if tx.send((Instant::now(), text)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    client.subscribe(STATE_TOPIC, QoS::AtLeastOnce).await?;
    let logs = || {
        daemons
            .iter()
            .map(Daemon::log)
            .collect::<Vec<_>>()
            .join("\n")
    };
    wait_for(&mut rx, "disarmed")
        .await
        .with_context(|| format!("mqttd never published disarmed\n{}", logs()))?;

    let mut latencies = Vec::with_capacity(changes);
    for i in 0..changes {
        // A repeat of the previous value must not count as this change's answer.
        while rx.try_recv().is_ok() {}
        let (want, sent) = if i % 2 == 0 {
            let sent = Instant::now();
            alarm.arm().await.context("Alarm1.Arm")?;
            ("armed_away", sent)
        } else {
            let sent = Instant::now();
            alarm.disarm().await.context("Alarm1.Disarm")?;
            ("disarmed", sent)
        };
        let Some(at) = wait_for(&mut rx, want).await else {
            bail!(
                "change {}: no {want} on {STATE_TOPIC} within {MESSAGE_TIMEOUT:?}\n{}",
                i + 1,
                logs()
            );
        };
        latencies.push(at.saturating_duration_since(sent).as_secs_f64() * 1e3);
        if (i + 1) % 50 == 0 {
            eprintln!("  {} changes", i + 1);
        }
    }
    reader.abort();
    let s = Summary::of(&latencies).context("no changes measured")?;
    let mut sec = Section::new("MQTT latency");
    sec.rows.push(
        Row::measured(
            "Alarm1 command → new value on the MQTT state topic",
            "ms",
            s,
        )
        .with_goal(Goal::new(
            format!("p99 ≤ {GOAL_P99_MS} ms"),
            s.p99 <= GOAL_P99_MS,
        )),
    );
    sec.notes.push(format!(
        "{changes} changes (Arm and Disarm in turn, exit_delay = \"0s\"), release alarmd and \
         mqttd on a private bus and a local Mosquitto (QoS 1), timed from the D-Bus call to \
         the subscriber's receipt; the time includes alarmd's fsync'd state save."
    ));
    Ok(sec)
}

/// The arrival time of the next `want` on the state topic (other values are skipped: `Arm`
/// with no exit delay may pass through `arming`).
async fn wait_for(
    rx: &mut mpsc::UnboundedReceiver<(Instant, String)>,
    want: &str,
) -> Option<Instant> {
    let deadline = tokio::time::Instant::now() + MESSAGE_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((at, text))) if text == want => return Some(at),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return None,
        }
    }
}
