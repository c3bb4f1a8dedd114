//! The whole system in `--sim` (the five real daemons, the Bot API stand-in) plus mqttd and
//! a real Mosquitto: an alert shows in Home Assistant as `triggered`, with its first photo.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use secura_testbed::eventually;
use secura_testbed::system::{Options, System};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn motion_while_armed_is_triggered_in_home_assistant_with_the_alerts_photo() {
    let sys = System::start(Options::default().alarm("exit_delay", "\"1s\""))
        .await
        .unwrap();
    let mqtt = sys.start_mqtt().await.unwrap();
    let (broker, mqttd) = (&mqtt.broker, &mqtt.daemon);
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

/// Home Assistant's motion sensor follows the PIR as it rises and falls (it used to be
/// published only at connect: mqttd listened for a property change stream that never came).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_motion_sensor_in_home_assistant_follows_the_pir_live() {
    use secura_testbed::system::Part;
    let sys = System::start(Options::default()).await.unwrap();
    let mqtt = sys.start_mqtt().await.unwrap();
    let (broker, mqttd) = (&mqtt.broker, &mqtt.daemon);
    let last: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    let (client, mut ev) = AsyncClient::new(
        MqttOptions::new("home-assistant", "127.0.0.1", broker.port()),
        16,
    );
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
        .subscribe("secura/hall/motion/state", QoS::AtLeastOnce)
        .await
        .unwrap();
    let motion_is = |want: &'static str| {
        let last = last.clone();
        async move {
            last.lock()
                .unwrap()
                .get("secura/hall/motion/state")
                .map(Vec::as_slice)
                == Some(want.as_bytes())
        }
    };
    assert!(
        eventually(WAIT, || motion_is("OFF")).await,
        "{}\n{}",
        mqttd.log(),
        sys.logs()
    );
    let pir = sys.sim(Part::Sensord).await.unwrap();
    pir.motion().await.unwrap();
    assert!(
        eventually(WAIT, || motion_is("ON")).await,
        "the PIR rose but Home Assistant still shows no motion\n{}",
        mqttd.log()
    );
    pir.motion_ended().await.unwrap();
    assert!(
        eventually(WAIT, || motion_is("OFF")).await,
        "the PIR fell but Home Assistant still shows motion\n{}",
        mqttd.log()
    );
    task.abort();
}
