//! The whole system in `--sim` (the five real daemons, the Bot API stand-in) plus mqttd and
//! a real Mosquitto: an alert shows in Home Assistant as `triggered`, with its first photo.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use secura_bus::names;
use secura_testbed::mosquitto::Mosquitto;
use secura_testbed::system::{Options, System};
use secura_testbed::{Daemon, eventually};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn motion_while_armed_is_triggered_in_home_assistant_with_the_alerts_photo() {
    let sys = System::start(Options::default().alarm("exit_delay", "\"1s\""))
        .await
        .unwrap();
    let broker = Mosquitto::start(&sys.bus().dir().join("broker")).unwrap();
    // The same configuration file, with an [mqtt] section the other daemons never read.
    let mut text = std::fs::read_to_string(&sys.config).unwrap();
    text.push_str(&format!(
        "\n[mqtt]\nnode_name = \"hall\"\nbroker = \"{}\"\n",
        broker.url(false)
    ));
    let cfg = sys.bus().dir().join("with-mqtt.toml");
    std::fs::write(&cfg, text).unwrap();
    let mqttd = Daemon::spawn(
        sys.bus(),
        "secura-mqttd",
        &["--config", cfg.to_str().unwrap(), "-d"],
        &sys.bus().dir().join("mqttd"),
    )
    .unwrap();
    sys.bus()
        .wait_for_name(names::NODES_NAME, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", mqttd.log()));

    let last: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    let mut o = MqttOptions::new("home-assistant", "127.0.0.1", broker.port());
    o.set_max_packet_size(8 << 20, 8 << 20);
    let (client, mut ev) = AsyncClient::new(o, 16);
    let seen = last.clone();
    let task = tokio::spawn(async move {
        loop {
            match ev.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    seen.lock()
                        .unwrap()
                        .insert(p.topic.clone(), p.payload.to_vec());
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    client
        .subscribe("secura/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let get = |t: &str| last.lock().unwrap().get(t).cloned();
    let state_is = |want: &'static str| {
        let get = &get;
        async move { get("secura/hall/alarm/state").as_deref() == Some(want.as_bytes()) }
    };
    assert!(
        eventually(WAIT, || state_is("disarmed")).await,
        "{}\n{}",
        mqttd.log(),
        sys.logs()
    );
    client
        .publish("secura/hall/alarm/set", QoS::AtLeastOnce, false, "ARM_AWAY")
        .await
        .unwrap();
    sys.wait_state("armed", WAIT).await.unwrap();
    assert!(eventually(WAIT, || state_is("armed_away")).await);
    sys.motion().await.unwrap();
    assert!(
        eventually(WAIT, || state_is("triggered")).await,
        "{}\n{}",
        mqttd.log(),
        sys.logs()
    );
    assert!(eventually(WAIT, || async { get("secura/hall/image").is_some() }).await);
    let jpeg = get("secura/hall/image").unwrap();
    let mut d = jpeg_decoder::Decoder::new(jpeg.as_slice());
    d.decode()
        .expect("the alert's first photo (from camd) decodes");
    let info = d.info().unwrap();
    assert!(info.width > 0 && info.height > 0);
    // And the owners got the album on Telegram as always.
    assert!(eventually(WAIT, || async { !sys.albums().is_empty() }).await);
    task.abort();
}
