//! secura-mqttd against a real Mosquitto broker and the real alarmd on a private bus (fakes
//! stand in for the camera, the sensor, the sniffer and the bot). A test MQTT client plays
//! Home Assistant.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use secura_bus::names;
use secura_bus::proxies::{Alarm1Proxy, Nodes1Proxy};
use secura_testbed::fakes::Fakes;
use secura_testbed::mosquitto::{BrokerOptions, Mosquitto};
use secura_testbed::{Daemon, TestBus, eventually};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const ALICE: &str = "a4:5e:60:00:00:01";
const CODE: &str = "4711";

/// A message as the test client saw it.
#[derive(Debug, Clone)]
struct Msg {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
}

/// Home Assistant's side: subscribes to everything and remembers what arrived.
struct Ha {
    client: AsyncClient,
    seen: Arc<Mutex<Vec<Msg>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Ha {
    async fn connect(port: u16, id: &str) -> Ha {
        Ha::connect_with(MqttOptions::new(id, "127.0.0.1", port)).await
    }

    async fn connect_with(mut o: MqttOptions) -> Ha {
        o.set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(8 << 20, 8 << 20);
        let (client, mut ev) = AsyncClient::new(o, 64);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                match ev.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => s.lock().unwrap().push(Msg {
                        topic: p.topic.clone(),
                        payload: p.payload.to_vec(),
                        retain: p.retain,
                    }),
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        client
            .subscribe("secura/#", QoS::AtLeastOnce)
            .await
            .unwrap();
        client
            .subscribe("homeassistant/#", QoS::AtLeastOnce)
            .await
            .unwrap();
        Ha { client, seen, task }
    }

    fn last(&self, topic: &str) -> Option<Msg> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m.topic == topic)
            .cloned()
    }

    fn count(&self, topic: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.topic == topic)
            .count()
    }

    fn text(&self, topic: &str) -> Option<String> {
        self.last(topic)
            .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
    }

    async fn wait_text(&self, topic: &str, want: &str) -> bool {
        eventually(WAIT, || async { self.text(topic).as_deref() == Some(want) }).await
    }

    async fn send(&self, topic: &str, payload: &str, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .await
            .unwrap();
    }
}

impl Drop for Ha {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Env {
    bus: TestBus,
    broker: Mosquitto,
    fakes: Fakes,
    alarmd: Daemon,
    mqttd: Option<Daemon>,
    alarm: Alarm1Proxy<'static>,
    dir: PathBuf,
}

fn write_code(dir: &Path) -> PathBuf {
    let p = dir.join("ha-code");
    std::fs::write(&p, format!("{CODE}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn config(dir: &Path, name: &str, mqtt: &str, phone: bool) -> PathBuf {
    let mut text = String::from(
        "[alarm]\naway_after = \"1h\"\nexit_delay = \"1s\"\nverify = \"1s\"\n\
         alert_cooldown = \"60s\"\nstartup_grace = \"0s\"\n[presence]\nprobe_timeout = \"300ms\"\n",
    );
    if phone {
        text.push_str(&format!(
            "[[presence.devices]]\nname = \"Alice\"\nmac = \"{ALICE}\"\n"
        ));
    }
    text.push_str(&format!("[mqtt]\nnode_name = \"hall\"\n{mqtt}\n"));
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

impl Env {
    async fn start(extra: &str, phone: bool) -> Env {
        let bus = TestBus::start().unwrap();
        let dir = bus.dir().to_path_buf();
        let broker = Mosquitto::start(&dir.join("broker")).unwrap();
        let mqtt = format!("broker = \"{}\"\n{extra}", broker.url(false));
        let cfg = config(&dir, "config.toml", &mqtt, phone);
        let fakes = Fakes::start(&bus).await.unwrap();
        let alarmd = Daemon::spawn(
            &bus,
            "secura-alarmd",
            &["--config", cfg.to_str().unwrap(), "-d"],
            &dir.join("alarmd"),
        )
        .unwrap();
        bus.wait_for_name(names::ALARM_NAME, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", alarmd.log()));
        let conn = bus.connect().await.unwrap();
        let alarm = Alarm1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .unwrap();
        let mut env = Env {
            bus,
            broker,
            fakes,
            alarmd,
            mqttd: None,
            alarm,
            dir,
        };
        env.start_mqttd(&cfg).await;
        env
    }

    async fn start_mqttd(&mut self, cfg: &Path) {
        let d = Daemon::spawn(
            &self.bus,
            "secura-mqttd",
            &["--config", cfg.to_str().unwrap(), "-d"],
            &self.dir.join("mqttd"),
        )
        .unwrap();
        self.bus
            .wait_for_name(names::NODES_NAME, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
        self.mqttd = Some(d);
    }

    fn stop_mqttd(&mut self) {
        let stopped = self.mqttd.as_mut().unwrap().stop(Duration::from_secs(10));
        assert_eq!(stopped.ok().flatten(), Some(0), "{}", self.logs());
        self.mqttd = None;
    }

    fn logs(&self) -> String {
        format!(
            "--- mqttd ---\n{}\n--- alarmd ---\n{}\n--- broker ---\n{}",
            self.mqttd.as_ref().map(|d| d.log()).unwrap_or_default(),
            self.alarmd.log(),
            self.broker.log()
        )
    }

    async fn ha(&self) -> Ha {
        let ha = Ha::connect(self.broker.port(), "home-assistant").await;
        assert!(
            ha.wait_text("secura/hall/status", "online").await,
            "mqttd never said online\n{}",
            self.logs()
        );
        ha
    }

    async fn wait_state(&self, want: &str) {
        let ok = eventually(WAIT, || async {
            self.alarm.state().await.unwrap_or_default() == want
        })
        .await;
        assert!(ok, "alarmd never reached {want}\n{}", self.logs());
    }
}

const CONFIGS: [&str; 7] = [
    "homeassistant/alarm_control_panel/hall/alarm/config",
    "homeassistant/switch/hall/autoarm/config",
    "homeassistant/binary_sensor/hall/motion/config",
    "homeassistant/image/hall/last_alert/config",
    "homeassistant/button/hall/photo/config",
    "homeassistant/sensor/hall/troubles/config",
    "homeassistant/device_tracker/hall/phone_a45e60000001/config",
];

fn json(m: &Msg) -> serde_json::Value {
    serde_json::from_slice(&m.payload).unwrap()
}

#[tokio::test]
async fn discovery_configs_are_retained_with_the_design_topics_and_keys() {
    let env = Env::start("", true).await;
    let first = env.ha().await;
    assert!(
        first
            .wait_text("secura/hall/phone/a45e60000001/state", "not_home")
            .await
    );
    // Everything was published before this client came: it all arrives retained.
    let ha = Ha::connect(env.broker.port(), "later").await;
    for topic in CONFIGS {
        assert!(
            eventually(WAIT, || async { ha.last(topic).is_some() }).await,
            "no {topic}\n{}",
            env.logs()
        );
        let m = ha.last(topic).unwrap();
        assert!(m.retain, "{topic} is retained");
        let c = json(&m);
        assert!(c["unique_id"].as_str().unwrap().starts_with("secura_hall_"));
        assert_eq!(c["availability"][0]["topic"], "secura/hall/status");
        assert_eq!(c["origin"]["name"], "secura-mqttd");
        assert_eq!(c["device"]["identifiers"][0], "secura_hall");
    }
    let panel = json(&ha.last(CONFIGS[0]).unwrap());
    assert_eq!(panel["state_topic"], "secura/hall/alarm/state");
    assert_eq!(panel["command_topic"], "secura/hall/alarm/set");
    assert_eq!(
        panel["json_attributes_topic"],
        "secura/hall/alarm/attributes"
    );
    assert!(panel.get("code").is_none(), "no code_file, no code");
    let image = json(&ha.last(CONFIGS[3]).unwrap());
    assert_eq!(image["image_topic"], "secura/hall/image");
    assert_eq!(image["content_type"], "image/jpeg");
    let tracker = json(&ha.last(CONFIGS[6]).unwrap());
    assert_eq!(tracker["name"], "Alice");
    assert_eq!(
        tracker["state_topic"],
        "secura/hall/phone/a45e60000001/state"
    );
    // The state is there, retained, for a Home Assistant that subscribes later.
    assert!(ha.wait_text("secura/hall/alarm/state", "disarmed").await);
    assert!(ha.last("secura/hall/alarm/state").unwrap().retain);
    assert!(ha.wait_text("secura/hall/autoarm/state", "ON").await);
    assert!(
        ha.wait_text("secura/hall/phone/a45e60000001/state", "not_home")
            .await
    );
    let attrs = json(&ha.last("secura/hall/alarm/attributes").unwrap());
    assert!(attrs.get("reason").is_some() && attrs.get("changed_by").is_some());
    assert!(attrs["troubles"].is_array());
}

#[tokio::test]
async fn alarm_changes_appear_on_the_state_topic_and_commands_are_relayed_as_home_assistant() {
    let env = Env::start("", false).await;
    let ha = env.ha().await;
    assert!(ha.wait_text("secura/hall/alarm/state", "disarmed").await);
    ha.send("secura/hall/alarm/set", "ARM_AWAY", false).await;
    assert!(
        ha.wait_text("secura/hall/alarm/state", "arming").await
            || ha.text("secura/hall/alarm/state").as_deref() == Some("armed_away"),
        "{}",
        env.logs()
    );
    assert!(ha.wait_text("secura/hall/alarm/state", "armed_away").await);
    assert!(
        eventually(WAIT, || async {
            ha.last("secura/hall/alarm/attributes")
                .is_some_and(|m| json(&m)["changed_by"] == "Home Assistant")
        })
        .await,
        "{:?}",
        ha.text("secura/hall/alarm/attributes")
    );
    // Motion while armed (by hand: no verifying) → the alert → triggered, and its photo.
    env.fakes.sensor.motion().await.unwrap();
    assert!(
        ha.wait_text("secura/hall/alarm/state", "triggered").await,
        "{}",
        env.logs()
    );
    assert!(
        eventually(WAIT, || async { ha.last("secura/hall/image").is_some() }).await,
        "{}",
        env.logs()
    );
    // Retained: a Home Assistant connecting later gets it at once.
    let late = Ha::connect(env.broker.port(), "late").await;
    assert!(eventually(WAIT, || async { late.last("secura/hall/image").is_some() }).await);
    let img = late.last("secura/hall/image").unwrap();
    assert!(img.retain);
    jpeg_decoder::Decoder::new(img.payload.as_slice())
        .decode()
        .expect("the alert's first photo decodes as a JPEG");
    ha.send("secura/hall/alarm/set", "DISARM", false).await;
    env.wait_state("disarmed").await;
    // "Take photo": a fresh photo on the image topic.
    let before = ha.count("secura/hall/image");
    ha.send("secura/hall/photo/press", "PRESS", false).await;
    assert!(
        eventually(WAIT, || async { ha.count("secura/hall/image") > before }).await,
        "{}",
        env.logs()
    );
    let photo = ha.last("secura/hall/image").unwrap();
    jpeg_decoder::Decoder::new(photo.payload.as_slice())
        .decode()
        .expect("the snapshot decodes as a JPEG");
    // The switch: OFF → Disable, and the state shows it.
    ha.send("secura/hall/autoarm/set", "OFF", false).await;
    env.wait_state("disabled").await;
    assert!(ha.wait_text("secura/hall/autoarm/state", "OFF").await);
    // A change made elsewhere (busctl) shows too.
    env.bus
        .busctl_ok(&[
            "call",
            names::ALARM_NAME,
            names::ALARM_PATH,
            names::ALARM_IFACE,
            "Enable",
        ])
        .unwrap();
    assert!(ha.wait_text("secura/hall/autoarm/state", "ON").await);
    let history = env.alarm.history(50).await.unwrap();
    for cmd in ["arm", "disarm", "disable"] {
        assert!(
            history.iter().any(|h| h
                .actor
                .starts_with("Home Assistant (mqtt:home-assistant via uid:")
                && h.text.contains(cmd)),
            "{cmd} not recorded as Home Assistant's: {history:?}"
        );
    }
}

#[tokio::test]
async fn a_wrong_code_does_nothing_and_repeated_wrong_codes_lock_out() {
    let bus_dir = tempfile::tempdir().unwrap();
    let code = write_code(bus_dir.path());
    let env = Env::start(&format!("code_file = \"{}\"\n", code.display()), false).await;
    let ha = env.ha().await;
    assert!(
        eventually(WAIT, || async { ha.last(CONFIGS[0]).is_some() }).await,
        "{}",
        env.logs()
    );
    let panel = json(&ha.last(CONFIGS[0]).unwrap());
    assert_eq!(panel["code"], "REMOTE_CODE");
    let coded = |action: &str, code: &str| format!(r#"{{"action": "{action}", "code": "{code}"}}"#);
    ha.send("secura/hall/alarm/set", &coded("ARM_AWAY", CODE), false)
        .await;
    env.wait_state("armed").await;
    ha.send("secura/hall/alarm/set", &coded("DISARM", "0000"), false)
        .await;
    ha.send("secura/hall/alarm/set", "DISARM", false).await;
    // The right code then shows the wrong ones were not acted on, in order.
    ha.send("secura/hall/alarm/set", &coded("DISARM", CODE), false)
        .await;
    env.wait_state("disarmed").await;
    for _ in 0..5 {
        ha.send("secura/hall/alarm/set", &coded("ARM_AWAY", "1234"), false)
            .await;
    }
    ha.send("secura/hall/alarm/set", &coded("ARM_AWAY", CODE), false)
        .await;
    let log = || env.mqttd.as_ref().unwrap().log();
    assert!(
        eventually(WAIT, || async { log().contains("too many wrong codes") }).await,
        "{}",
        env.logs()
    );
    assert_eq!(env.alarm.state().await.unwrap(), "disarmed");
    // Nothing was armed after the disarm (compared by content: the history row of the
    // disarm may be written a moment after the state property changes).
    let history = env.alarm.history(100).await.unwrap();
    let last_state = history.iter().find(|h| h.kind == "state").unwrap();
    assert!(last_state.text.contains("→ disarmed"), "{history:?}");
    assert!(
        !log().contains(CODE) && !log().contains("1234"),
        "a code was logged"
    );
}

#[tokio::test]
async fn a_retained_command_is_ignored_and_malformed_ones_are_dropped() {
    let env = Env::start("", false).await;
    // Stop mqttd, leave a retained ARM_AWAY at the broker, start it again.
    let cfg = env.dir.join("config.toml");
    let mut env = env;
    env.stop_mqttd();
    let early = Ha::connect(env.broker.port(), "ha-retained").await;
    early.send("secura/hall/alarm/set", "ARM_AWAY", true).await;
    // `send` only queues it: wait until the broker holds it (early hears its own
    // message back), or mqttd could subscribe first and get it as a live command.
    assert!(early.wait_text("secura/hall/alarm/set", "ARM_AWAY").await);
    env.start_mqttd(&cfg).await;
    let ha = env.ha().await;
    ha.send("secura/hall/alarm/set", &"A".repeat(1000), false)
        .await;
    ha.send("secura/hall/alarm/set", "ARM_HOME", false).await;
    ha.send("secura/hall/alarm/set", "{\"action\":", false)
        .await;
    // A live command after them: once it is done, the earlier ones were handled.
    ha.send("secura/hall/autoarm/set", "OFF", false).await;
    env.wait_state("disabled").await;
    let history = env.alarm.history(50).await.unwrap();
    assert!(
        !history.iter().any(|h| h.text.contains("→ arming")),
        "{history:?}"
    );
    let log = env.mqttd.as_ref().unwrap().log();
    assert!(log.contains("a retained command is ignored"), "{log}");
    assert!(log.contains("malformed command dropped"), "{log}");
    assert!(log.contains("oversized command dropped"), "{log}");
    // The retained command was cleared so it never comes back (the clear may arrive
    // before or after the live commands above, so look for it among all of them).
    let cleared = || {
        early
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.topic == "secura/hall/alarm/set" && m.payload.is_empty())
    };
    assert!(
        eventually(WAIT, || async { cleared() }).await,
        "{}",
        env.logs()
    );
    // A client subscribing afresh gets the retained state, but no retained command.
    let fresh = Ha::connect(env.broker.port(), "ha-fresh").await;
    assert!(fresh.wait_text("secura/hall/status", "online").await);
    assert!(
        eventually(WAIT, || async {
            fresh.last("secura/hall/troubles").is_some()
        })
        .await
    );
    assert!(fresh.last("secura/hall/alarm/set").is_none());
}

/// A broker restart that mqttd rides out within alarmd's grace is no trouble: no
/// "Trouble: … unreachable" and "Resolved" pair for the owners (the demo showed one at every
/// start, when mqttd is on the bus a moment before its first connection).
#[tokio::test]
async fn a_broker_back_within_the_grace_is_no_trouble() {
    let mut env = Env::start("", false).await;
    let _ = env.ha().await;
    let nodes = Nodes1Proxy::builder(&env.bus.connect().await.unwrap())
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap();
    assert!(nodes.connected().await.unwrap());
    let alarm = env.alarm.clone();
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let still = watching.clone();
    let watcher = tokio::spawn(async move {
        let mut seen = Vec::new();
        while still.load(std::sync::atomic::Ordering::SeqCst) {
            for t in alarm.troubles().await.unwrap_or_default() {
                if t.contains("MQTT") && !seen.contains(&t) {
                    seen.push(t);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        seen
    });
    env.broker.stop();
    assert!(
        eventually(WAIT, || async { !nodes.connected().await.unwrap_or(true) }).await,
        "{}",
        env.logs()
    );
    env.broker.start_again().unwrap();
    assert!(
        eventually(WAIT, || async { nodes.connected().await.unwrap_or(false) }).await,
        "{}",
        env.logs()
    );
    watching.store(false, std::sync::atomic::Ordering::SeqCst);
    let seen = watcher.await.unwrap();
    assert!(
        seen.is_empty(),
        "a short outage became {seen:?}\n{}",
        env.logs()
    );
}

#[tokio::test]
async fn broker_restart_reconnects_republishes_and_is_a_trouble_meanwhile() {
    let mut env = Env::start("", false).await;
    let _ = env.ha().await;
    let nodes = Nodes1Proxy::builder(&env.bus.connect().await.unwrap())
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap();
    assert!(nodes.connected().await.unwrap());
    env.broker.stop();
    let trouble = || async {
        env.alarm
            .troubles()
            .await
            .unwrap_or_default()
            .iter()
            .any(|t| t.starts_with("the MQTT broker is unreachable (mqtt://127.0.0.1:"))
    };
    assert!(eventually(WAIT, trouble).await, "{}", env.logs());
    assert!(!nodes.connected().await.unwrap());
    env.broker.start_again().unwrap();
    // The broker kept nothing (no persistence): whatever a new subscriber sees, mqttd
    // published again after reconnecting.
    let ha = env.ha().await;
    for topic in &CONFIGS[..6] {
        assert!(
            eventually(WAIT, || async { ha.last(topic).is_some() }).await,
            "{topic} not republished\n{}",
            env.logs()
        );
    }
    assert!(ha.wait_text("secura/hall/alarm/state", "disarmed").await);
    assert!(
        eventually(WAIT, || async { !trouble().await }).await,
        "{}",
        env.logs()
    );
}

#[tokio::test]
async fn home_assistant_online_republishes_the_configs() {
    let env = Env::start("", false).await;
    let ha = env.ha().await;
    let topic = CONFIGS[0];
    assert!(eventually(WAIT, || async { ha.count(topic) == 1 }).await);
    ha.send("homeassistant/status", "online", false).await;
    assert!(
        eventually(WAIT, || async { ha.count(topic) >= 2 }).await,
        "{}",
        env.logs()
    );
    ha.send("homeassistant/status", "offline", false).await;
}

#[tokio::test]
async fn a_phone_dropped_from_the_configuration_loses_its_entity() {
    let mut env = Env::start("", true).await;
    let ha = env.ha().await;
    let tracker = CONFIGS[6];
    assert!(
        eventually(WAIT, || async {
            ha.last(tracker).is_some_and(|m| !m.payload.is_empty())
        })
        .await
    );
    env.stop_mqttd();
    let mqtt = format!("broker = \"{}\"\n", env.broker.url(false));
    let cfg = config(&env.dir, "no-phone.toml", &mqtt, false);
    env.start_mqttd(&cfg).await;
    assert!(
        eventually(WAIT, || async {
            ha.last(tracker).is_some_and(|m| m.payload.is_empty())
        })
        .await,
        "{}",
        env.logs()
    );
}

#[tokio::test]
async fn nodes1_matches_the_checked_in_xml() {
    let env = Env::start("", false).await;
    let conn = env.bus.connect().await.unwrap();
    secura_testbed::introspect::check_interface_xml(
        &conn,
        names::NODES_NAME,
        names::NODES_PATH,
        names::NODES_IFACE,
    )
    .await
    .unwrap();
}

#[test]
fn without_an_mqtt_section_mqttd_exits_0_saying_so() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("c.toml");
    std::fs::write(&p, "[alarm]\n").unwrap();
    let (code, out) = secura_testbed::daemon::run_to_end(
        "secura-mqttd",
        &["--config", p.to_str().unwrap(), "--allow-root"],
    )
    .unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("no [mqtt] section"), "{out}");
}

/// A CA and a server certificate for `localhost`, written as PEM files into `dir`.
fn make_ca(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let ca_path = dir.join(format!("{name}-ca.pem"));
    let cert_path = dir.join(format!("{name}-cert.pem"));
    let key_path = dir.join(format!("{name}-key.pem"));
    std::fs::write(&ca_path, ca.pem()).unwrap();
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (ca_path, cert_path, key_path)
}

#[tokio::test]
async fn tls_with_the_right_ca_connects_and_an_unknown_ca_is_refused() {
    let bus = TestBus::start().unwrap();
    let dir = bus.dir().to_path_buf();
    let (ca, cert, key) = make_ca(&dir, "home");
    let (other_ca, _, _) = make_ca(&dir, "other");
    // mosquitto drops privileges to its own user when started as root.
    for p in [&cert, &key] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let broker = Mosquitto::start_with(
        &dir.join("broker"),
        &BrokerOptions {
            tls: Some((cert, key)),
            ..BrokerOptions::default()
        },
    )
    .unwrap();
    let conn = bus.connect().await.unwrap();
    for (ca_file, connects) in [(&other_ca, false), (&ca, true)] {
        let cfg = config(
            &dir,
            "tls.toml",
            &format!(
                "broker = \"{}\"\nca_file = \"{}\"\n",
                broker.url(true),
                ca_file.display()
            ),
            false,
        );
        let mqttd = Daemon::spawn(
            &bus,
            "secura-mqttd",
            &["--config", cfg.to_str().unwrap(), "-d"],
            &dir.join("mqttd"),
        )
        .unwrap();
        bus.wait_for_name(names::NODES_NAME, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", mqttd.log()));
        let nodes = Nodes1Proxy::builder(&conn)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .unwrap();
        if connects {
            assert!(
                eventually(WAIT, || async { nodes.connected().await.unwrap_or(false) }).await,
                "{}\n{}",
                mqttd.log(),
                broker.log()
            );
            assert_eq!(nodes.broker().await.unwrap(), broker.url(true));
        } else {
            // Refused: the handshake fails on the certificate, again and again.
            assert!(
                eventually(WAIT, || async {
                    let log = mqttd.log();
                    log.contains("cannot reach the broker") && log.contains("ertificate")
                })
                .await,
                "{}",
                mqttd.log()
            );
            assert!(!nodes.connected().await.unwrap());
        }
        drop(mqttd);
        assert!(
            eventually(WAIT, || async {
                !bus.busctl_ok(&["list"])
                    .unwrap_or_default()
                    .contains(names::NODES_NAME)
            })
            .await
        );
    }
}

#[tokio::test]
async fn the_example_acl_gives_each_pi_only_its_own_topics() {
    let bus = TestBus::start().unwrap();
    let dir = bus.dir().to_path_buf();
    let acl = dir.join("secura.acl");
    std::fs::copy(
        secura_testbed::bus::repo_root().join("config/mosquitto/secura.acl"),
        &acl,
    )
    .unwrap();
    let passwd = dir.join("secura.passwd");
    for (i, user) in ["hall", "garage", "homeassistant"].iter().enumerate() {
        let mut cmd = std::process::Command::new("mosquitto_passwd");
        if i == 0 {
            cmd.arg("-c");
        }
        let st = cmd
            .args(["-b", passwd.to_str().unwrap(), user, &format!("pw-{user}")])
            .status()
            .unwrap();
        assert!(st.success());
    }
    for p in [&acl, &passwd] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let broker = Mosquitto::start_with(
        &dir.join("broker"),
        &BrokerOptions {
            password_file: Some(passwd),
            acl_file: Some(acl),
            ..BrokerOptions::default()
        },
    )
    .unwrap();
    let pw = dir.join("mqtt-password");
    std::fs::write(&pw, "pw-hall\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = config(
        &dir,
        "acl.toml",
        &format!(
            "broker = \"{}\"\nusername = \"hall\"\npassword_file = \"{}\"\n",
            broker.url(false),
            pw.display()
        ),
        false,
    );
    let mqttd = Daemon::spawn(
        &bus,
        "secura-mqttd",
        &["--config", cfg.to_str().unwrap(), "-d"],
        &dir.join("mqttd"),
    )
    .unwrap();
    let login = |user: &str| {
        let mut o = MqttOptions::new(format!("test-{user}"), "127.0.0.1", broker.port());
        o.set_credentials(user, format!("pw-{user}"));
        o
    };
    let ha = Ha::connect_with(login("homeassistant")).await;
    assert!(
        ha.wait_text("secura/hall/status", "online").await,
        "{}\n{}",
        mqttd.log(),
        broker.log()
    );
    assert!(
        eventually(WAIT, || async { ha.last(CONFIGS[0]).is_some() }).await,
        "the hall Pi may publish its discovery\n{}",
        broker.log()
    );
    // Another Pi may write its own topics but not the hall's.
    let garage = Ha::connect_with(login("garage")).await;
    garage.send("secura/hall/status", "offline", true).await;
    garage.send("secura/garage/status", "online", true).await;
    // One client's messages arrive in order: once the second is seen, the first would be too.
    assert!(ha.wait_text("secura/garage/status", "online").await);
    assert_eq!(ha.text("secura/hall/status").as_deref(), Some("online"));
    assert!(
        garage.last("secura/hall/alarm/state").is_none(),
        "the garage Pi must not read the hall's state"
    );
}

/// alarmd sends several PropertiesChanged per change; a run of quick changes, each awaited
/// on the state topic the way Home Assistant would see it, must be followed to the end
/// without mqttd's reads of alarmd timing out (which it reports as "alarmd is not running").
#[tokio::test]
async fn a_quick_run_of_state_changes_is_followed_without_read_timeouts() {
    const STATE: &str = "secura/hall/alarm/state";
    const TROUBLES: &str = "secura/hall/troubles";
    let env = Env::start("", false).await;
    let ha = env.ha().await;
    assert!(ha.wait_text(STATE, "disarmed").await, "{}", env.logs());
    let timed_out = |ha: &Ha| {
        ha.seen.lock().unwrap().iter().any(|m| {
            m.topic == TROUBLES && String::from_utf8_lossy(&m.payload).contains("not running")
        })
    };
    for i in 0..150 {
        // Arming (exit delay 1 s), then disarming before it ends.
        let want = if i % 2 == 0 { "arming" } else { "disarmed" };
        let before = ha.count(STATE);
        if i % 2 == 0 {
            env.alarm.arm().await.unwrap();
        } else {
            env.alarm.disarm().await.unwrap();
        }
        // Polled tightly, like a subscriber that acts on each message at once.
        let deadline = tokio::time::Instant::now() + WAIT;
        while !(ha.count(STATE) > before && ha.text(STATE).as_deref() == Some(want)) {
            assert!(
                !timed_out(&ha),
                "change {}: mqttd's read of alarmd timed out\n{}",
                i + 1,
                env.logs()
            );
            assert!(
                tokio::time::Instant::now() < deadline,
                "change {}: no {want} on {STATE}\n{}",
                i + 1,
                env.logs()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    assert!(!timed_out(&ha), "{}", env.logs());
}
