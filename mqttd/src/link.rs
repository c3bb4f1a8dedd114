//! The connection to the broker (DESIGN §10): MQTT 3.1.1, a persistent session (so QoS 1
//! messages wait at the broker while mqttd is away), the last will `offline` on `status`,
//! and TLS with rustls (ring) for `mqtts://`, trusting the system's CAs plus `ca_file`.

use crate::secret::Secret;
use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};
use secura_bus::config::Broker;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Keep-alive: the broker publishes the last will this long (×1.5) after the Pi vanishes.
pub const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// The largest message mqttd accepts or sends (a camera JPEG, with room to spare).
pub const MAX_PACKET: usize = 8 << 20;

/// Why the connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// `ca_file` is unreadable or holds no certificate.
    #[error("{path}: cannot use it as a CA certificate: {message}")]
    Ca {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// No CA to trust at all.
    #[error(
        "no CA certificates: the system has none (install ca-certificates) and ca_file is empty"
    )]
    NoRoots,
    /// rustls refused the configuration.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

/// What the connection needs.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// The broker.
    pub broker: Broker,
    /// MQTT client id (stable, so the broker keeps the session).
    pub client_id: String,
    /// User name and password, if the broker wants them.
    pub credentials: Option<(String, Secret)>,
    /// The extra CA (mqtts only).
    pub ca_file: Option<PathBuf>,
    /// `secura/<node>/status`.
    pub status_topic: String,
}

fn load_ca(path: &Path, roots: &mut rustls::RootCertStore) -> Result<(), LinkError> {
    let err = |message: String| LinkError::Ca {
        path: path.to_path_buf(),
        message,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut added = 0;
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| err(e.to_string()))?;
        roots.add(cert).map_err(|e| err(e.to_string()))?;
        added += 1;
    }
    if added == 0 {
        return Err(err("no PEM certificate in it".into()));
    }
    Ok(())
}

/// The rustls client configuration: ring, TLS 1.2/1.3, the system's CAs plus `ca_file`.
pub fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, LinkError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A broken system certificate is skipped, as every TLS client does.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        load_ca(path, &mut roots)?;
    }
    if roots.is_empty() {
        return Err(LinkError::NoRoots);
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| LinkError::Tls(e.to_string()))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

/// The rumqttc options for `o`.
pub fn mqtt_options(o: &LinkOptions) -> Result<MqttOptions, LinkError> {
    let mut m = MqttOptions::new(o.client_id.clone(), o.broker.host.clone(), o.broker.port);
    m.set_keep_alive(KEEP_ALIVE)
        .set_clean_session(false)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET)
        .set_last_will(LastWill::new(
            o.status_topic.clone(),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
    if let Some((user, password)) = &o.credentials {
        m.set_credentials(user.clone(), password.expose().to_string());
    }
    if o.broker.tls {
        let tls = tls_config(o.ca_file.as_deref())?;
        m.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls),
        )));
    }
    Ok(m)
}

/// The broker URL people are shown (no credentials ever appear in it).
pub fn shown(b: &Broker) -> String {
    let scheme = if b.tls { "mqtts" } else { "mqtt" };
    if b.host.contains(':') {
        format!("{scheme}://[{}]:{}", b.host, b.port)
    } else {
        format!("{scheme}://{}:{}", b.host, b.port)
    }
}
