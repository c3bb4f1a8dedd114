//! secura-mqttd: the only part of Secura-Pi-Cam that speaks MQTT (DESIGN §10). On the hub it
//! shows the alarm to Home Assistant (discovery, state, the last alert's photo) and relays
//! Home Assistant's commands to alarmd; it serves `org.securapicam.Nodes1` so alarmd knows
//! whether the broker is reachable.

pub mod bridge;
pub mod code;
pub mod commands;
pub mod discovery;
pub mod link;
pub mod mirror;
pub mod node;
pub mod remote;
pub mod secret;
pub mod service;
pub mod topics;
pub mod wire;

use anyhow::Context;
use secura_bus::config::{AlarmConfig, Document, MqttConfig, PresenceConfig, Role, Skip};
use secura_bus::names::{self, Service};
use secura_kit::Exit;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tracing::info;

/// The sections mqttd reads: `[mqtt]`, and from `[alarm]` and `[presence]` what it mirrors.
pub type Config = Document<AlarmConfig, PresenceConfig, Skip, Skip, Skip, Option<MqttConfig>>;

/// mqttd as the kit runs it: off when the configuration has no `[mqtt]` (the package installs
/// it on every Pi; MQTT is opt-in), else with its options and secrets read.
#[derive(Debug)]
pub enum Mqttd {
    /// No `[mqtt]`: say so, report ready and exit 0 (the unit then stays down, not failed).
    Off,
    /// Connect and serve.
    On(Box<Options>),
}

/// Why mqttd stops with an error.
#[derive(Debug, thiserror::Error)]
pub enum MqttdError {
    /// The configuration or a secret cannot work (exit 78, no restart).
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// Serving failed (exit 1, systemd restarts it).
    #[error("{0:#}")]
    Run(anyhow::Error),
}

impl From<MqttdError> for Exit {
    fn from(e: MqttdError) -> Exit {
        match e {
            MqttdError::Setup(_) => Exit::Config,
            MqttdError::Run(_) => Exit::Failure,
        }
    }
}

impl secura_kit::Daemon for Mqttd {
    const SERVICE: Service = Service::Nodes;
    const EXITS: &'static [Exit] = &[Exit::Done, Exit::Failure, Exit::NoPermission, Exit::Config];
    const SIM: bool = false;
    const ABOUT: &'static str =
        "The MQTT bridge of Secura-Pi-Cam: Home Assistant discovery and commands.";
    type Config = Config;
    type Error = MqttdError;

    fn effective(config: &Config) -> Result<String, toml::ser::Error> {
        match &config.mqtt {
            Some(mqtt) => secura_kit::daemon::section("mqtt", mqtt),
            None => Ok("# no [mqtt] section: MQTT is off and secura-mqttd exits at once\n".into()),
        }
    }

    fn prepare(config: Config, _ctx: &secura_kit::Context) -> Result<Mqttd, MqttdError> {
        let Some(mqtt) = config.mqtt.clone() else {
            return Ok(Mqttd::Off);
        };
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        Ok(Mqttd::On(Box::new(options(
            &config,
            mqtt,
            credentials.as_deref(),
        )?)))
    }

    async fn run(
        self,
        _ctx: secura_kit::Context,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), MqttdError> {
        match self {
            Mqttd::Off => {
                info!("no [mqtt] section in the configuration: MQTT is off, exiting");
                // Ready, then done: a Type=notify unit ends inactive rather than failed.
                secura_kit::systemd::notify_ready();
                Ok(())
            }
            Mqttd::On(opts) => run(*opts, shutdown).await.map_err(MqttdError::Run),
        }
    }
}

/// Everything `run` needs, secrets already read.
#[derive(Debug)]
pub struct Options {
    /// `[mqtt]`
    pub mqtt: MqttConfig,
    /// This Pi's name in topics.
    pub node: String,
    /// The phones of `[presence]`.
    pub phones: Vec<discovery::Phone>,
    /// `[alarm] alert_cooldown`.
    pub alert_cooldown: std::time::Duration,
    /// The broker password, if any.
    pub password: Option<secret::Secret>,
    /// The Home Assistant code, if any.
    pub code: Option<secret::Secret>,
}

/// What went wrong before connecting, for the exit code.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The configuration cannot work (exit 78).
    #[error("{0}")]
    Config(String),
}

/// This Pi's name: `node_name`, else the host name.
pub fn node_name(mqtt: &MqttConfig, hostname_file: &Path) -> Result<String, SetupError> {
    if !mqtt.node_name.is_empty() {
        return Ok(mqtt.node_name.clone());
    }
    let host = std::fs::read_to_string(hostname_file).unwrap_or_default();
    let host = host.trim();
    if secura_bus::config::valid_node_name(host) {
        Ok(host.to_string())
    } else {
        Err(SetupError::Config(format!(
            "[mqtt] node_name is empty and the host name {host:?} cannot be a topic level; \
             set node_name (letters, digits, '-', '_')"
        )))
    }
}

/// Build the options from the configuration, reading the secrets.
pub fn options(
    doc: &Config,
    mqtt: MqttConfig,
    credentials: Option<&Path>,
) -> Result<Options, SetupError> {
    let node = node_name(&mqtt, Path::new("/proc/sys/kernel/hostname"))?;
    let password = secret::password(credentials, &mqtt.password_file)
        .map_err(|e| SetupError::Config(e.to_string()))?;
    if password.is_some() && mqtt.username.is_empty() {
        return Err(SetupError::Config(
            "[mqtt] a password is configured but username is empty".into(),
        ));
    }
    let code = secret::code(&mqtt.code_file).map_err(|e| SetupError::Config(e.to_string()))?;
    let phones = doc
        .presence
        .devices
        .iter()
        .map(|d| discovery::Phone {
            name: d.name.clone(),
            mac: d.mac.to_string(),
        })
        .collect();
    Ok(Options {
        node,
        phones,
        alert_cooldown: doc.alarm.alert_cooldown.get(),
        password,
        code,
        mqtt,
    })
}

/// Run mqttd until `shutdown` resolves.
pub async fn run(opts: Options, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let broker = opts.mqtt.broker().map_err(anyhow::Error::msg)?;
    let topics = topics::Topics::new(&opts.node, &opts.mqtt.discovery_prefix);
    let credentials = (!opts.mqtt.username.is_empty()).then(|| {
        (
            opts.mqtt.username.clone(),
            opts.password
                .clone()
                .unwrap_or_else(|| secret::Secret::new("")),
        )
    });
    let link_opts = link::LinkOptions {
        broker: broker.clone(),
        client_id: format!("secura-{}", opts.node),
        credentials,
        ca_file: (!opts.mqtt.ca_file.as_os_str().is_empty()).then(|| opts.mqtt.ca_file.clone()),
        status_topic: topics.status(),
    };
    let mqtt_options = link::mqtt_options(&link_opts)?;
    let view = Arc::new(RwLock::new(service::LinkView {
        connected: false,
        broker: link::shown(&broker),
    }));
    let nodes: &[String] = match opts.mqtt.role {
        Role::Hub => &opts.mqtt.nodes,
        Role::Node => &[],
    };
    let remote = Arc::new(remote::Remote::new(
        &opts.node,
        &opts.mqtt.discovery_prefix,
        nodes,
    ));
    let conn = zbus::connection::Builder::system()
        .build()
        .await
        .context("connecting to the system bus")?;
    conn.object_server()
        .at(
            names::NODES_PATH,
            service::NodesService {
                view: view.clone(),
                remote: remote.clone(),
            },
        )
        .await
        .context("serving the Nodes1 object")?;
    let (client, eventloop) = rumqttc::AsyncClient::new(mqtt_options, 64);
    enum Role2 {
        Hub(Box<bridge::Bridge>),
        Node(node::Node),
    }
    let role = match opts.mqtt.role {
        Role::Hub => {
            let hub = bridge::Hub {
                topics,
                homeassistant: opts.mqtt.homeassistant,
                phones: opts.phones,
                alert_cooldown: opts.alert_cooldown,
                remote,
            };
            Role2::Hub(Box::new(
                bridge::Bridge::new(
                    hub,
                    client,
                    conn.clone(),
                    code::CodeCheck::new(opts.code),
                    view,
                )
                .await
                .context("setting up the proxies")?,
            ))
        }
        Role::Node => Role2::Node(
            node::Node::new(topics, client, conn.clone(), view)
                .await
                .context("setting up the proxies")?,
        ),
    };
    conn.request_name(names::NODES_NAME)
        .await
        .with_context(|| {
            format!(
                "owning {}: is another secura-mqttd running, or does the D-Bus policy not let this \
             user own it?",
                names::NODES_NAME
            )
        })?;
    info!(name = names::NODES_NAME, broker = %link::shown(&broker), node = %opts.node, role = ?opts.mqtt.role, "ready");
    secura_kit::systemd::notify_ready();
    tokio::spawn(secura_kit::systemd::watchdog());
    match role {
        Role2::Hub(bridge) => bridge.run(eventloop, shutdown).await,
        Role2::Node(node) => node.run(eventloop, shutdown).await,
    }
}
