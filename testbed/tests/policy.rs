//! The D-Bus policy matrix of DESIGN §4, checked cell by cell with real calls (root only, as
//! CI runs): the users come from the project's sysusers.d file, each daemon runs as its own
//! user on a bus with the system bus's semantics and only the project's policy, and every
//! caller of the matrix makes every call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use futures_util::StreamExt;
use secura_bus::names::*;
use secura_testbed::bus::repo_root;
use secura_testbed::telegram::{SIM_TOKEN, StandIn};
use secura_testbed::{Daemon, Overlay, TestBus, bin_path, eventually};
use std::process::{Command, Output};
use std::time::Duration;

const ALICE: &str = "a4:5e:60:00:00:01";
const OPERATOR: &str = "secura-op";
const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Alarmd,
    Botd,
    Mqttd,
    Root,
    Operator,
    Other,
}

impl Caller {
    fn user(self) -> Option<&'static str> {
        match self {
            Caller::Alarmd => Some("secura-alarmd"),
            Caller::Botd => Some("secura-botd"),
            Caller::Mqttd => Some("secura-mqttd"),
            Caller::Root => None,
            Caller::Operator => Some(OPERATOR),
            Caller::Other => Some("nobody"),
        }
    }
}

const ALL: [Caller; 6] = [
    Caller::Alarmd,
    Caller::Botd,
    Caller::Mqttd,
    Caller::Root,
    Caller::Operator,
    Caller::Other,
];

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// Create the project's users the way the package does, plus an operator in group `secura`.
fn ensure_users() {
    let conf = repo_root().join("systemd/sysusers.d/secura-pi-cam.conf");
    let out = run(Command::new("systemd-sysusers").arg(&conf));
    assert!(out.status.success(), "systemd-sysusers: {out:?}");
    if nix::unistd::User::from_name(OPERATOR).unwrap().is_none() {
        let out = run(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--groups",
            "secura",
            OPERATOR,
        ]));
        assert!(out.status.success(), "useradd: {out:?}");
    }
}

/// `busctl --address=… ARGS` as `caller`.
fn busctl_as(bus: &TestBus, caller: Caller, args: &[&str]) -> Output {
    let address = format!("--address={}", bus.address());
    match caller.user() {
        None => run(Command::new("busctl").arg(&address).args(args)),
        Some(user) => {
            let u = nix::unistd::User::from_name(user).unwrap().unwrap();
            run(Command::new("setpriv")
                .arg(format!("--reuid={}", u.uid))
                .arg(format!("--regid={}", u.gid))
                .arg("--init-groups")
                .arg("busctl")
                .arg(&address)
                .args(args))
        }
    }
}

fn denied(out: &Output) -> bool {
    let err = String::from_utf8_lossy(&out.stderr);
    !out.status.success() && (err.contains("Access denied") || err.contains("AccessDenied"))
}

struct System {
    bus: TestBus,
    _daemons: Vec<Daemon>,
    _stand_in: StandIn,
    /// The port mqttd is configured with; no broker listens there until a test starts one.
    mqtt_port: u16,
}

async fn start_system() -> System {
    let bus = TestBus::start_with(Overlay::PolicyOnly).unwrap();
    let stand_in = StandIn::start(SIM_TOKEN).await.unwrap();
    let cfg = bus.dir().join("config.toml");
    let mqtt_port = secura_testbed::mosquitto::free_port().unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[alarm]\nexit_delay = \"0s\"\nstartup_grace = \"60s\"\n\
             [presence]\nlan_interface = \"lo\"\nprobe_timeout = \"200ms\"\n\
             [[presence.devices]]\nname = \"Alice\"\nmac = \"{ALICE}\"\n\
             [sensor]\nbackend = \"sim\"\nwarmup = \"0s\"\n\
             [camera]\nbackend = \"sim\"\nwidth = 320\nheight = 240\npre_trigger = \"1s\"\n\
             burst_count = 1\n\
             [telegram]\nallowed_users = [1001]\napi_url = \"{}\"\n\
             [mqtt]\nnode_name = \"policy\"\nbroker = \"mqtt://127.0.0.1:{}\"\n",
            stand_in.url(),
            // No broker there: mqttd serves Nodes1 all the same, retrying in the background.
            mqtt_port
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap().to_string();
    let mut daemons = Vec::new();
    for (daemon, name) in [
        ("sniffer", PRESENCE_NAME),
        ("sensord", SENSOR_NAME),
        ("camd", CAMERA_NAME),
        ("botd", BOT_NAME),
        ("alarmd", ALARM_NAME),
        ("mqttd", NODES_NAME),
    ] {
        // alarmd and mqttd have no simulated hardware, so no --sim.
        let args: &[&str] = if daemon == "alarmd" || daemon == "mqttd" {
            &["--config", &cfg, "-d"]
        } else {
            &["--config", &cfg, "--sim", "-d"]
        };
        let d = Daemon::spawn_as(
            &bus,
            &format!("secura-{daemon}"),
            &format!("secura-{daemon}"),
            args,
            &bus.dir().join(daemon),
        )
        .unwrap();
        bus.wait_for_name(name, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
        daemons.push(d);
    }
    System {
        bus,
        _daemons: daemons,
        _stand_in: stand_in,
        mqtt_port,
    }
}

fn skip_unless_root() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: the policy matrix needs root (users, setpriv), as CI runs it");
        return true;
    }
    if bin_path("secura-busprobe").is_err() {
        eprintln!("skipped: build the binaries first (cargo build --workspace --bins)");
        return true;
    }
    false
}

/// One method call of the matrix and who may make it.
struct Cell {
    what: &'static str,
    args: Vec<&'static str>,
    allowed: &'static [Caller],
}

fn call(
    name: &'static str,
    path: &'static str,
    iface: &'static str,
    rest: &[&'static str],
) -> Vec<&'static str> {
    let mut v = vec!["call", name, path, iface];
    v.extend_from_slice(rest);
    v
}

fn cells() -> Vec<Cell> {
    use Caller::*;
    let alarm = |rest: &[&'static str]| call(ALARM_NAME, ALARM_PATH, ALARM_IFACE, rest);
    let props = |name, path, iface| {
        vec![
            "call",
            name,
            path,
            "org.freedesktop.DBus.Properties",
            "GetAll",
            "s",
            iface,
        ]
    };
    let cam = |rest: &[&'static str]| call(CAMERA_NAME, CAMERA_PATH, CAMERA_IFACE, rest);
    let bot = |rest: &[&'static str]| call(BOT_NAME, BOT_PATH, BOT_IFACE, rest);
    let controllers: &[Caller] = &[Botd, Root, Operator];
    // mqttd relays Home Assistant (CommandAs), takes its photo and reads what it mirrors.
    let mirror: &[Caller] = &[Botd, Mqttd, Root, Operator];
    vec![
        Cell {
            what: "Alarm1.Arm",
            args: alarm(&["Arm"]),
            allowed: controllers,
        },
        Cell {
            what: "Alarm1.Disarm",
            args: alarm(&["Disarm"]),
            allowed: controllers,
        },
        Cell {
            what: "Alarm1.Disable",
            args: alarm(&["Disable"]),
            allowed: controllers,
        },
        Cell {
            what: "Alarm1.Enable",
            args: alarm(&["Enable"]),
            allowed: controllers,
        },
        Cell {
            what: "Alarm1.Snapshot",
            args: alarm(&["Snapshot"]),
            allowed: mirror,
        },
        Cell {
            what: "Alarm1.CommandAs",
            args: alarm(&["CommandAs", "ss", "enable", "telegram:1001"]),
            allowed: &[Botd, Mqttd, Root],
        },
        Cell {
            what: "Alarm1.SnapshotAs",
            args: alarm(&["SnapshotAs", "s", "telegram:1001:Alice"]),
            allowed: &[Botd, Root],
        },
        Cell {
            what: "Alarm1.History",
            args: alarm(&["History", "u", "1"]),
            allowed: mirror,
        },
        Cell {
            what: "Alarm1.LastAlert",
            args: alarm(&["LastAlert"]),
            allowed: mirror,
        },
        Cell {
            what: "Alarm1 GetAll",
            args: props(ALARM_NAME, ALARM_PATH, ALARM_IFACE),
            allowed: mirror,
        },
        Cell {
            what: "Nodes1 GetAll",
            args: props(NODES_NAME, NODES_PATH, NODES_IFACE),
            allowed: &[Alarmd, Root, Operator],
        },
        Cell {
            what: "Sensor1 GetAll",
            args: props(SENSOR_NAME, SENSOR_PATH, SENSOR_IFACE),
            allowed: &[Alarmd, Mqttd, Root, Operator],
        },
        Cell {
            what: "Presence1.Probe",
            args: call(
                PRESENCE_NAME,
                PRESENCE_PATH,
                PRESENCE_IFACE,
                &["Probe", "asu", "1", ALICE, "100"],
            ),
            allowed: &[Alarmd, Root, Operator],
        },
        // On a node Pi mqttd takes the photos its hub asks for.
        Cell {
            what: "Camera1.Snapshot",
            args: cam(&["Snapshot"]),
            allowed: &[Alarmd, Mqttd, Root, Operator],
        },
        Cell {
            what: "Camera1.CaptureEvent",
            args: cam(&["CaptureEvent", "t", "4242"]),
            allowed: &[Alarmd, Mqttd],
        },
        Cell {
            what: "Camera1 GetAll",
            args: props(CAMERA_NAME, CAMERA_PATH, CAMERA_IFACE),
            allowed: &[Alarmd, Mqttd, Root, Operator],
        },
        // A node's photos, fetched over MQTT: alarmd's, and root's for repairs.
        Cell {
            what: "Nodes1.Snapshot",
            args: call(
                NODES_NAME,
                NODES_PATH,
                NODES_IFACE,
                &["Snapshot", "s", "garage"],
            ),
            allowed: &[Alarmd, Root],
        },
        Cell {
            what: "Nodes1.CaptureEvent",
            args: call(
                NODES_NAME,
                NODES_PATH,
                NODES_IFACE,
                &["CaptureEvent", "st", "garage", "4242"],
            ),
            allowed: &[Alarmd, Root],
        },
        // Switching the camera on or off is alarmd's job; root may, for repairs.
        Cell {
            what: "Camera1.SetActive on",
            args: cam(&["SetActive", "b", "true"]),
            allowed: &[Alarmd, Root],
        },
        Cell {
            what: "Camera1.SetActive off",
            args: cam(&["SetActive", "b", "false"]),
            allowed: &[Alarmd, Root],
        },
        Cell {
            what: "Bot1.Notify",
            args: bot(&["Notify", "s", "policy test"]),
            allowed: &[Alarmd, Root, Operator],
        },
        Cell {
            what: "Bot1.Alert",
            args: bot(&["Alert", "sah", "policy test", "0"]),
            allowed: &[Alarmd, Root, Operator],
        },
        Cell {
            what: "Bot1.Post",
            args: bot(&["Post", "ssaht", "notice", "policy test", "0", "0"]),
            allowed: &[Alarmd, Root, Operator],
        },
        Cell {
            what: "Bot1.CreatePairingCode",
            args: bot(&["CreatePairingCode"]),
            allowed: &[Root, Operator],
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cell_of_the_policy_matrix_holds_with_real_users() {
    if skip_unless_root() {
        return;
    }
    ensure_users();
    let sys = start_system().await;
    let mut wrong = Vec::new();
    println!("{:<24} {}", "call", ALL.map(|c| format!("{c:?}")).join(" "));
    for cell in cells() {
        let mut row = format!("{:<24}", cell.what);
        for caller in ALL {
            // The owner calling itself is not a cell of the matrix ("–").
            let own = matches!(
                (caller, cell.what.split('.').next().unwrap_or("")),
                (Caller::Alarmd, "Alarm1") | (Caller::Botd, "Bot1") | (Caller::Mqttd, "Nodes1")
            ) || (caller == Caller::Alarmd && cell.what.starts_with("Alarm1"))
                || (caller == Caller::Mqttd && cell.what.starts_with("Nodes1"));
            if own {
                row.push_str("  –   ");
                continue;
            }
            let out = busctl_as(&sys.bus, caller, &cell.args);
            let is_denied = denied(&out);
            let expected_allowed = cell.allowed.contains(&caller);
            row.push_str(if is_denied { "  no  " } else { "  yes " });
            if is_denied == expected_allowed {
                wrong.push(format!(
                    "{} by {caller:?}: expected {}, got {}: {}",
                    cell.what,
                    if expected_allowed {
                        "allowed"
                    } else {
                        "denied"
                    },
                    if is_denied { "denied" } else { "allowed" },
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        println!("{row}");
    }
    // Introspection is open to everyone.
    for (name, path) in [
        (ALARM_NAME, ALARM_PATH),
        (CAMERA_NAME, CAMERA_PATH),
        (BOT_NAME, BOT_PATH),
        (NODES_NAME, NODES_PATH),
    ] {
        let out = busctl_as(
            &sys.bus,
            Caller::Other,
            &["introspect", "--xml-interface", name, path],
        );
        if !out.status.success() {
            wrong.push(format!("introspecting {name} as nobody failed: {out:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "policy matrix violations:\n{}",
        wrong.join("\n")
    );
}

fn busprobe_as(bus: &TestBus, user: &str, args: &[&str]) -> Option<i32> {
    let u = nix::unistd::User::from_name(user).unwrap().unwrap();
    let out = run(Command::new("setpriv")
        .arg(format!("--reuid={}", u.uid))
        .arg(format!("--regid={}", u.gid))
        .arg("--init-groups")
        .arg(bin_path("secura-busprobe").unwrap())
        .args(args)
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address()));
    if out.status.code() == Some(1) {
        eprintln!(
            "busprobe {args:?} as {user}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_users_cannot_own_names_or_send_the_daemons_signals() {
    if skip_unless_root() {
        return;
    }
    ensure_users();
    let sys = start_system().await;
    for name in [
        ALARM_NAME,
        PRESENCE_NAME,
        SENSOR_NAME,
        CAMERA_NAME,
        BOT_NAME,
        NODES_NAME,
    ] {
        assert_eq!(
            busprobe_as(&sys.bus, "nobody", &["own", name]),
            Some(3),
            "nobody owning {name}"
        );
    }
    assert_eq!(
        busprobe_as(&sys.bus, "secura-camd", &["own", ALARM_NAME]),
        Some(3)
    );
    assert_eq!(
        busprobe_as(&sys.bus, OPERATOR, &["own", SENSOR_NAME]),
        Some(3)
    );

    // Arm by hand, then listen for Motion signals as root.
    let conn = sys.bus.connect().await.unwrap();
    let alarm = secura_bus::proxies::Alarm1Proxy::builder(&conn)
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
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface(SENSOR_IFACE)
        .build()
        .unwrap();
    let mut heard = zbus::MessageStream::for_match_rule(rule, &conn, None)
        .await
        .unwrap();
    let sightings = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface(PRESENCE_IFACE)
        .build()
        .unwrap();
    let mut heard_sightings = zbus::MessageStream::for_match_rule(sightings, &conn, None)
        .await
        .unwrap();

    // Impostors: a stranger and an operator send Motion and Sighting signals.
    for user in ["nobody", OPERATOR] {
        assert_eq!(busprobe_as(&sys.bus, user, &["motion"]), Some(0));
        assert_eq!(busprobe_as(&sys.bus, user, &["sighting", ALICE]), Some(0));
    }
    let got = tokio::time::timeout(Duration::from_secs(1), heard.next()).await;
    assert!(
        got.is_err(),
        "an impostor's Motion signal was delivered: {got:?}"
    );
    let got = tokio::time::timeout(Duration::from_millis(200), heard_sightings.next()).await;
    assert!(
        got.is_err(),
        "an impostor's Sighting signal was delivered: {got:?}"
    );
    let history = alarm.history(50).await.unwrap();
    assert!(history.iter().all(|h| h.kind != "motion"), "{history:?}");
    assert_eq!(alarm.state().await.unwrap(), "armed");

    // The real sensor's Motion does get through, and alarmd acts on it.
    let out = sys
        .bus
        .busctl(&[
            "call",
            SENSOR_NAME,
            SENSOR_PATH,
            "org.securapicam.Simulator1",
            "Motion",
        ])
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let got = tokio::time::timeout(WAIT, heard.next()).await;
    assert!(
        matches!(got, Ok(Some(Ok(_)))),
        "the sensor's own Motion was not delivered"
    );
    assert!(
        eventually(WAIT, || async {
            alarm
                .history(50)
                .await
                .unwrap_or_default()
                .iter()
                .any(|h| h.kind == "motion")
        })
        .await
    );
}

fn sim_call(bus: &TestBus, name: &str, path: &str, rest: &[&str]) {
    let mut args = vec!["call", name, path, "org.securapicam.Simulator1"];
    args.extend_from_slice(rest);
    let out = bus.busctl(&args).unwrap();
    assert!(out.status.success(), "busctl {args:?}: {out:?}");
}

async fn alarm_proxy(conn: &zbus::Connection) -> secura_bus::proxies::Alarm1Proxy<'static> {
    secura_bus::proxies::Alarm1Proxy::builder(conn)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap()
}

async fn troubles_match(
    alarm: &secura_bus::proxies::Alarm1Proxy<'static>,
    want: impl Fn(&[String]) -> bool,
) -> bool {
    let ok = eventually(WAIT, || async {
        alarm.troubles().await.is_ok_and(|t| want(&t))
    })
    .await;
    if !ok {
        eprintln!("Troubles now: {:?}", alarm.troubles().await);
    }
    ok
}

/// alarmd consumes `Sensor1.Motion`, `Presence1.Sighting` and camd's and sensord's
/// `PropertiesChanged` (their health): each must reach it under the shipped policy with the
/// daemons running as their own users.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signal_alarmd_consumes_reaches_it_under_the_real_policy() {
    if skip_unless_root() {
        return;
    }
    ensure_users();
    let sys = start_system().await;
    let conn = sys.bus.connect().await.unwrap();
    let alarm = alarm_proxy(&conn).await;
    let health_trouble = |t: &[String]| {
        t.iter()
            .any(|t| t.starts_with("camera:") || t.starts_with("sensor:"))
    };

    // The start-up "camera: starting" clears once camd says it is healthy.
    assert!(
        troubles_match(&alarm, |t| !health_trouble(t)).await,
        "camd's and sensord's health never reached alarmd"
    );

    // A camera fault becomes a Trouble, and its repair clears it. Disarmed, the camera is off
    // (a fault shows when it next opens): root turns it on, as it may.
    let out = sys
        .bus
        .busctl(&[
            "call",
            CAMERA_NAME,
            CAMERA_PATH,
            CAMERA_IFACE,
            "SetActive",
            "b",
            "true",
        ])
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    sim_call(
        &sys.bus,
        CAMERA_NAME,
        CAMERA_PATH,
        &["SetFault", "s", "lens cap on"],
    );
    assert!(
        troubles_match(&alarm, |t| t
            .iter()
            .any(|t| t.starts_with("camera:") && t.contains("lens cap on")))
        .await,
        "camd's fault (PropertiesChanged) never became a Trouble"
    );
    sim_call(&sys.bus, CAMERA_NAME, CAMERA_PATH, &["SetFault", "s", ""]);
    assert!(
        troubles_match(&alarm, |t| !t.iter().any(|t| t.starts_with("camera:"))).await,
        "camd's repair never cleared the Trouble"
    );

    // The same for the sensor.
    sim_call(
        &sys.bus,
        SENSOR_NAME,
        SENSOR_PATH,
        &["SetFault", "s", "wire cut"],
    );
    assert!(
        troubles_match(&alarm, |t| t
            .iter()
            .any(|t| t.starts_with("sensor:") && t.contains("wire cut")))
        .await,
        "sensord's fault (PropertiesChanged) never became a Trouble"
    );
    sim_call(&sys.bus, SENSOR_NAME, SENSOR_PATH, &["SetFault", "s", ""]);
    assert!(
        troubles_match(&alarm, |t| !t.iter().any(|t| t.starts_with("sensor:"))).await,
        "sensord's repair never cleared the Trouble"
    );

    // Presence1.Sighting: while disarmed, a sighting marks the phone present.
    sim_call(
        &sys.bus,
        PRESENCE_NAME,
        PRESENCE_PATH,
        &["PhoneArrives", "s", ALICE],
    );
    assert!(
        eventually(WAIT, || async {
            alarm
                .devices()
                .await
                .unwrap_or_default()
                .iter()
                .any(|d| d.mac == ALICE && d.present && d.last_seen > 0)
        })
        .await,
        "the sniffer's Sighting never reached alarmd: {:?}",
        alarm.devices().await
    );

    // Sensor1.Motion is acted on while armed.
    alarm.arm().await.unwrap();
    assert!(
        eventually(WAIT, || async {
            alarm.state().await.unwrap_or_default() == "armed"
        })
        .await
    );
    sim_call(&sys.bus, SENSOR_NAME, SENSOR_PATH, &["Motion"]);
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
        "sensord's Motion never reached alarmd: {:?}",
        alarm.history(50).await
    );

    // mqttd's PropertiesChanged (Connected): no broker is a trouble after its grace, and a
    // broker that appears clears it — which alarmd learns only from the signal.
    let broker_trouble = |t: &[String]| t.iter().any(|t| t.contains("MQTT broker is unreachable"));
    assert!(
        troubles_match(&alarm, broker_trouble).await,
        "no broker never became a Trouble"
    );
    let dir = tempfile::tempdir().unwrap();
    let _broker = secura_testbed::mosquitto::Mosquitto::start_with(
        dir.path(),
        &secura_testbed::mosquitto::BrokerOptions {
            port: Some(sys.mqtt_port),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        troubles_match(&alarm, |t| !broker_trouble(t)).await,
        "mqttd's PropertiesChanged (Connected) never reached alarmd"
    );
}

/// `secura-busprobe listen` as `user`: the signals on alarmd's and the sniffer's objects it
/// receives, one line each, collected as they come.
struct Listener {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Listener {
    async fn start(bus: &TestBus, user: &str) -> Listener {
        use std::io::BufRead;
        let u = nix::unistd::User::from_name(user).unwrap().unwrap();
        let mut child = Command::new("setpriv")
            .arg(format!("--reuid={}", u.uid))
            .arg(format!("--regid={}", u.gid))
            .arg("--init-groups")
            .arg(bin_path("secura-busprobe").unwrap())
            .arg("listen")
            .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let l = Listener { child, lines };
        assert!(
            eventually(WAIT, || async { l.has("ready") }).await,
            "the listener as {user} never got ready"
        );
        l
    }

    fn has(&self, what: &str) -> bool {
        self.lines.lock().unwrap().iter().any(|l| l.contains(what))
    }

    /// Close its standard input, wait for it, and return the signals it heard.
    fn finish(mut self) -> Vec<String> {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "busprobe listen: {status}");
        let lines = self.lines.lock().unwrap().clone();
        lines.into_iter().filter(|l| l != "ready").collect()
    }
}

/// Whether the house is empty is for the daemons that need it, root and group `secura`: an
/// outsider's match rules catch nothing of `Alarm1`/`Presence1` or their `PropertiesChanged`,
/// while the operator hears them all and alarmd keeps following the sniffer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_who_adds_a_match_receives_no_alarm_or_presence_signals() {
    if skip_unless_root() {
        return;
    }
    ensure_users();
    let sys = start_system().await;
    let conn = sys.bus.connect().await.unwrap();
    let alarm = alarm_proxy(&conn).await;
    let outsider = Listener::start(&sys.bus, "nobody").await;
    let operator = Listener::start(&sys.bus, OPERATOR).await;

    // A sighting (Sighting, the sniffer's and alarmd's Devices): alarmd still hears it.
    sim_call(
        &sys.bus,
        PRESENCE_NAME,
        PRESENCE_PATH,
        &["PhoneArrives", "s", ALICE],
    );
    assert!(
        eventually(WAIT, || async {
            alarm
                .devices()
                .await
                .unwrap_or_default()
                .iter()
                .any(|d| d.mac == ALICE && d.present)
        })
        .await,
        "alarmd no longer hears the sniffer: {:?}",
        alarm.devices().await
    );
    // A state change.
    alarm.arm().await.unwrap();
    let expected = [
        "/org/securapicam/Presence org.securapicam.Presence1.Sighting",
        "/org/securapicam/Presence org.freedesktop.DBus.Properties.PropertiesChanged",
        "/org/securapicam/Alarm org.securapicam.Alarm1.StateChanged",
        "/org/securapicam/Alarm org.freedesktop.DBus.Properties.PropertiesChanged",
    ];
    for what in expected {
        assert!(
            eventually(WAIT, || async { operator.has(what) }).await,
            "the operator (group secura) never heard {what}: {:?}",
            operator.lines.lock().unwrap()
        );
    }
    // Anything routed to the outsider would have been routed with the operator's copies.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let heard = outsider.finish();
    assert!(
        heard.is_empty(),
        "an outsider received signals that tell whether the house is empty: {heard:?}"
    );
    assert!(!operator.finish().is_empty());
}
