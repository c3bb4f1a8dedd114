//! Two Pis on one machine: a *node* (its own private bus with sensord and camd in `--sim` and
//! mqttd in `role = "node"`) and a *hub* (another bus with mqttd in `role = "hub"`), one real
//! Mosquitto between them. What the node's PIR and camera do reaches the hub's `Nodes1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use futures_util::StreamExt;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use secura_bus::names;
use secura_bus::proxies::{Nodes1Proxy, Simulator1Proxy};
use secura_testbed::mosquitto::Mosquitto;
use secura_testbed::{Daemon, TestBus, eventually};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
/// A killed node's socket closes and the broker publishes its last will at once; a node that
/// loses power is noticed after 1.5 keep-alives (45 s): wait longer than both.
const LAST_WILL: Duration = Duration::from_secs(90);

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

struct Pi {
    bus: TestBus,
    daemons: Vec<Daemon>,
}

impl Pi {
    fn logs(&self) -> String {
        self.daemons
            .iter()
            .map(|d| d.log())
            .collect::<Vec<_>>()
            .join("\n----\n")
    }
}

/// The garage: sensord and camd in --sim, mqttd as its node.
async fn node(broker: &Mosquitto) -> Pi {
    node_with(broker, "").await
}

/// The garage, with `extra` lines in its `[mqtt]` (credentials).
async fn node_with(broker: &Mosquitto, extra: &str) -> Pi {
    let bus = TestBus::start().unwrap();
    let dir = bus.dir().to_path_buf();
    let cfg = write(
        &dir,
        "config.toml",
        &format!(
            "[camera]\nbackend = \"sim\"\nalways_on = true\nwidth = 320\nheight = 240\n\
             [sensor]\nbackend = \"sim\"\nwarmup = \"0s\"\n\
             [mqtt]\nrole = \"node\"\nnode_name = \"garage\"\nbroker = \"{}\"\nhomeassistant = false\n{extra}",
            broker.url(false)
        ),
    );
    let mut daemons = Vec::new();
    for (bin, name) in [
        ("secura-sensord", names::SENSOR_NAME),
        ("secura-camd", names::CAMERA_NAME),
    ] {
        let d = Daemon::spawn(
            &bus,
            bin,
            &["--config", &cfg, "--sim", "-d"],
            &dir.join(bin),
        )
        .unwrap();
        bus.wait_for_name(name, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
        daemons.push(d);
    }
    let d = Daemon::spawn(
        &bus,
        "secura-mqttd",
        &["--config", &cfg, "-d"],
        &dir.join("mqttd"),
    )
    .unwrap();
    bus.wait_for_name(names::NODES_NAME, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    daemons.push(d);
    Pi { bus, daemons }
}

/// The hall: mqttd as the hub accepting `garage` (alarmd is not needed to serve Nodes1).
async fn hub(broker: &Mosquitto) -> (Pi, Nodes1Proxy<'static>) {
    hub_with(broker, false, "").await
}

/// The hall, with alarmd too when `alarm`, and `extra` lines in its `[mqtt]`.
async fn hub_with(broker: &Mosquitto, alarm: bool, extra: &str) -> (Pi, Nodes1Proxy<'static>) {
    let bus = TestBus::start().unwrap();
    let dir = bus.dir().to_path_buf();
    let cfg = write(
        &dir,
        "config.toml",
        &format!(
            "[alarm]\nexit_delay = \"0s\"\nstartup_grace = \"60s\"\n\
             [mqtt]\nnode_name = \"hall\"\nbroker = \"{}\"\nnodes = [\"garage\"]\nhomeassistant = false\n{extra}",
            broker.url(false)
        ),
    );
    let mut daemons = Vec::new();
    if alarm {
        let a = Daemon::spawn(
            &bus,
            "secura-alarmd",
            &["--config", &cfg, "-d"],
            &dir.join("alarmd"),
        )
        .unwrap();
        bus.wait_for_name(names::ALARM_NAME, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", a.log()));
        daemons.push(a);
    }
    let d = Daemon::spawn(
        &bus,
        "secura-mqttd",
        &["--config", &cfg, "-d"],
        &dir.join("mqttd"),
    )
    .unwrap();
    bus.wait_for_name(names::NODES_NAME, WAIT)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    let nodes = Nodes1Proxy::builder(&bus.connect().await.unwrap())
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap();
    daemons.push(d);
    (Pi { bus, daemons }, nodes)
}

async fn garage_is(nodes: &Nodes1Proxy<'static>, online: bool) -> bool {
    nodes
        .nodes()
        .await
        .unwrap_or_default()
        .iter()
        .any(|(n, on, sensor, camera, _)| {
            n == "garage" && *on == online && (!online || (*sensor && *camera))
        })
}

fn decodes(jpeg: &[u8]) -> (u16, u16) {
    let mut d = jpeg_decoder::Decoder::new(jpeg);
    d.decode().expect("a node's photo decodes as JPEG");
    let i = d.info().unwrap();
    (i.width, i.height)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodes_motion_and_photos_reach_the_hub_over_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&dir.path().join("broker")).unwrap();
    let (hall, nodes) = hub(&broker).await;
    let garage = node(&broker).await;
    assert!(
        eventually(WAIT, || garage_is(&nodes, true)).await,
        "the hub never saw the garage online with a sensor and a camera\n{}\n{}",
        hall.logs(),
        garage.logs()
    );
    let mut motion = nodes.receive_motion().await.unwrap();
    let pir = Simulator1Proxy::builder(&garage.bus.connect().await.unwrap())
        .destination(names::SENSOR_NAME)
        .path(names::SENSOR_PATH)
        .build()
        .await
        .unwrap();
    pir.motion().await.unwrap();
    let m = tokio::time::timeout(WAIT, motion.next())
        .await
        .unwrap_or_else(|_| panic!("no Motion at the hub\n{}\n{}", hall.logs(), garage.logs()))
        .unwrap();
    let args = m.args().unwrap();
    assert_eq!(args.node, "garage");
    assert!(args.at > 0);

    let photos = nodes.capture_event("garage", 7).await.unwrap_or_else(|e| {
        panic!(
            "CaptureEvent failed: {e}\n{}\n{}",
            hall.logs(),
            garage.logs()
        )
    });
    assert!(!photos.is_empty());
    let mut last = 0;
    for (fd, at) in &photos {
        assert!(secura_bus::fd::is_write_sealed(&fd.as_fd()));
        let jpeg = secura_bus::fd::read_all(&fd.as_fd(), 8 << 20).unwrap();
        assert_eq!(
            decodes(&jpeg),
            (320, 240),
            "the node's camd photo at its size"
        );
        assert!(*at >= last, "oldest first");
        last = *at;
    }
    let (fd, at) = nodes.snapshot("garage").await.unwrap();
    assert!(at > 0);
    let jpeg = secura_bus::fd::read_all(&fd.as_fd(), 8 << 20).unwrap();
    assert_eq!(decodes(&jpeg), (320, 240));

    // A node the hub does not accept gets no answer, and a typo is a typed error.
    let e = nodes.snapshot("attic").await.unwrap_err().to_string();
    assert!(e.contains("InvalidArgument") && e.contains("attic"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_bad_payloads_are_ignored_and_a_vanished_node_is_offline() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&dir.path().join("broker")).unwrap();
    // Someone else on the broker. First a retained motion, held by the broker for whoever
    // subscribes next: an old event replayed, never a signal.
    let (client, mut ev) =
        AsyncClient::new(MqttOptions::new("intruder", "127.0.0.1", broker.port()), 16);
    client
        .publish(
            "secura/garage/motion",
            QoS::AtLeastOnce,
            true,
            &br#"{"at": 2}"#[..],
        )
        .await
        .unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) = ev.poll().await {
                break;
            }
        }
    })
    .await
    .expect("the broker took the retained motion");
    let pump = tokio::spawn(async move { while ev.poll().await.is_ok() {} });
    let (hall, nodes) = hub(&broker).await;
    let mut garage = node(&broker).await;
    assert!(
        eventually(WAIT, || garage_is(&nodes, true)).await,
        "{}",
        hall.logs()
    );
    let mut motion = nodes.receive_motion().await.unwrap();

    // Then a node not in `nodes`, and a malformed motion, before a good one.
    for (topic, payload, retain) in [
        ("secura/attic/status", &b"online"[..], true),
        ("secura/attic/motion", &br#"{"at": 1}"#[..], false),
        ("secura/garage/motion", &b"{not json"[..], false),
        ("secura/garage/motion", &br#"{"at": 3}"#[..], false),
    ] {
        client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .unwrap();
    }
    let m = tokio::time::timeout(WAIT, motion.next())
        .await
        .unwrap_or_else(|_| panic!("no Motion\n{}", hall.logs()))
        .unwrap();
    assert_eq!(
        (m.args().unwrap().node.to_string(), m.args().unwrap().at),
        ("garage".to_string(), 3),
        "only the accepted node's well-formed, live motion is a signal"
    );
    assert!(
        nodes
            .nodes()
            .await
            .unwrap()
            .iter()
            .all(|(n, ..)| n != "attic")
    );
    let log = hall.daemons[0].log();
    assert!(
        log.contains("malformed motion") && log.contains("retained event"),
        "{log}"
    );
    pump.abort();

    // The node's mqttd dies without a word (SIGKILL): its last will makes it offline at the hub, and a
    // capture from it fails at once in words.
    garage.daemons[2].kill_hard();
    assert!(
        eventually(LAST_WILL, || garage_is(&nodes, false)).await,
        "the garage never went offline\n{}",
        hall.logs()
    );
    let e = nodes
        .capture_event("garage", 8)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("node garage is offline"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hubs_alarm_acts_on_a_nodes_motion_and_knows_when_it_is_offline() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&dir.path().join("broker")).unwrap();
    let (hall, nodes) = hub_with(&broker, true, "").await;
    let mut garage = node(&broker).await;
    assert!(
        eventually(WAIT, || garage_is(&nodes, true)).await,
        "{}",
        hall.logs()
    );
    let alarm = secura_bus::proxies::Alarm1Proxy::builder(&hall.bus.connect().await.unwrap())
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap();
    let troubles = || async { alarm.troubles().await.unwrap_or_default() };
    let node_trouble = |t: &[String]| t.iter().any(|t| t.starts_with("node garage"));
    assert!(!node_trouble(&troubles().await));
    alarm.arm().await.unwrap();
    assert!(
        eventually(WAIT, || async {
            alarm.state().await.unwrap_or_default() == "armed"
        })
        .await
    );
    let pir = Simulator1Proxy::builder(&garage.bus.connect().await.unwrap())
        .destination(names::SENSOR_NAME)
        .path(names::SENSOR_PATH)
        .build()
        .await
        .unwrap();
    pir.motion().await.unwrap();
    assert!(
        eventually(WAIT, || async {
            alarm
                .history(50)
                .await
                .unwrap_or_default()
                .iter()
                .any(|h| h.kind == "motion")
        })
        .await,
        "the garage's motion never reached the hub's alarm\n{}",
        hall.logs()
    );

    // The node's mqttd dies: the hub's alarm shows the trouble; its return clears it.
    garage.daemons[2].kill_hard();
    assert!(
        eventually(LAST_WILL, || async {
            troubles()
                .await
                .iter()
                .any(|t| t == "node garage is offline")
        })
        .await,
        "{:?}\n{}",
        troubles().await,
        hall.logs()
    );
    let cfg = garage.bus.dir().join("config.toml");
    garage.daemons[2] = Daemon::spawn(
        &garage.bus,
        "secura-mqttd",
        &["--config", cfg.to_str().unwrap(), "-d"],
        &garage.bus.dir().join("mqttd"),
    )
    .unwrap();
    assert!(
        eventually(WAIT, || async { !node_trouble(&troubles().await) }).await,
        "{:?}\n{}",
        troubles().await,
        hall.logs()
    );
}

/// With the example ACL of config/mosquitto/ (one broker user per Pi), the hub and its node
/// talk, and another Pi's user cannot speak for the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_acl_lets_the_hub_and_its_node_talk_and_no_one_else_speak_for_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let acl = d.join("secura.acl");
    std::fs::copy(
        secura_testbed::bus::repo_root().join("config/mosquitto/secura.acl"),
        &acl,
    )
    .unwrap();
    let passwd = d.join("secura.passwd");
    for (i, user) in ["hall", "garage", "attic"].iter().enumerate() {
        let mut cmd = std::process::Command::new("mosquitto_passwd");
        if i == 0 {
            cmd.arg("-c");
        }
        let st = cmd
            .args(["-b", passwd.to_str().unwrap(), user, &format!("pw-{user}")])
            .status()
            .unwrap();
        assert!(st.success());
        let pw = d.join(format!("{user}.pw"));
        std::fs::write(&pw, format!("pw-{user}\n")).unwrap();
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    for p in [&acl, &passwd] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let broker = Mosquitto::start_with(
        &d.join("broker"),
        &secura_testbed::mosquitto::BrokerOptions {
            password_file: Some(passwd),
            acl_file: Some(acl),
            ..Default::default()
        },
    )
    .unwrap();
    let login = |user: &str| {
        format!(
            "username = \"{user}\"\npassword_file = \"{}\"\n",
            d.join(format!("{user}.pw")).display()
        )
    };
    let (hall, nodes) = hub_with(&broker, false, &login("hall")).await;
    let garage = node_with(&broker, &login("garage")).await;
    assert!(
        eventually(WAIT, || garage_is(&nodes, true)).await,
        "{}\n{}",
        hall.logs(),
        garage.logs()
    );
    let mut motion = nodes.receive_motion().await.unwrap();
    // The attic's Pi tries to report motion as the garage: the broker drops it.
    let mut o = MqttOptions::new("attic", "127.0.0.1", broker.port());
    o.set_credentials("attic", "pw-attic");
    let (client, mut ev) = AsyncClient::new(o, 16);
    let pump = tokio::spawn(async move { while ev.poll().await.is_ok() {} });
    client
        .publish(
            "secura/garage/motion",
            QoS::AtLeastOnce,
            false,
            &br#"{"at": 1}"#[..],
        )
        .await
        .unwrap();
    let pir = Simulator1Proxy::builder(&garage.bus.connect().await.unwrap())
        .destination(names::SENSOR_NAME)
        .path(names::SENSOR_PATH)
        .build()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    pir.motion().await.unwrap();
    let m = tokio::time::timeout(WAIT, motion.next())
        .await
        .unwrap_or_else(|_| panic!("no Motion\n{}\n{}", hall.logs(), garage.logs()))
        .unwrap();
    assert!(m.args().unwrap().at > 1, "the attic spoke for the garage");
    let photos = nodes
        .capture_event("garage", 3)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", hall.logs(), garage.logs()));
    assert!(!photos.is_empty());
    pump.abort();
}

/// Motion a node reports while the hub's mqttd is restarting waits at the broker (QoS 1,
/// persistent session) and reaches the hub's alarm when mqttd is back — once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn motion_while_the_hubs_mqttd_restarts_reaches_the_alarm_once() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&dir.path().join("broker")).unwrap();
    let (mut hall, nodes) = hub_with(&broker, true, "").await;
    let garage = node(&broker).await;
    assert!(
        eventually(WAIT, || garage_is(&nodes, true)).await,
        "{}",
        hall.logs()
    );
    let alarm = secura_bus::proxies::Alarm1Proxy::builder(&hall.bus.connect().await.unwrap())
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap();
    alarm.arm().await.unwrap();
    assert!(
        eventually(WAIT, || async {
            alarm.state().await.unwrap_or_default() == "armed"
        })
        .await
    );
    let motions = || async {
        alarm
            .history(50)
            .await
            .unwrap_or_default()
            .iter()
            .filter(|h| h.kind == "motion")
            .count()
    };
    assert_eq!(motions().await, 0);

    // The hub's mqttd stops (as systemd restarts it); the garage sees someone meanwhile.
    let stopped = hall.daemons[1].stop(Duration::from_secs(10)).unwrap();
    assert_eq!(stopped, Some(0), "{}", hall.logs());
    let pir = Simulator1Proxy::builder(&garage.bus.connect().await.unwrap())
        .destination(names::SENSOR_NAME)
        .path(names::SENSOR_PATH)
        .build()
        .await
        .unwrap();
    pir.motion().await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(motions().await, 0, "no mqttd, no motion yet");

    let cfg = hall.bus.dir().join("config.toml");
    hall.daemons[1] = Daemon::spawn(
        &hall.bus,
        "secura-mqttd",
        &["--config", cfg.to_str().unwrap(), "-d"],
        &hall.bus.dir().join("mqttd"),
    )
    .unwrap();
    assert!(
        eventually(WAIT, || async { motions().await >= 1 }).await,
        "the motion published while the hub was away never arrived\n{}\n{}",
        hall.logs(),
        garage.logs()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(motions().await, 1, "{:?}", alarm.history(50).await);
}
