//! A private `dbus-daemon` with system-bus semantics and the project's policy files.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// Who may do what beyond the project's policy files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    /// The test's own user may own every `org.securapicam.*` name and call every method, as
    /// when all daemons run as that user (tier 2 tests, the demo).
    SameUser,
    /// Only the project's policy: daemons must run as their own users (tier 3, root).
    PolicyOnly,
}

/// A running private bus; the daemon is killed when this is dropped.
#[derive(Debug)]
pub struct TestBus {
    child: Child,
    address: String,
    dir: tempfile::TempDir,
}

/// The repository's top directory (the workspace root).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

impl TestBus {
    /// Start a bus with [`Overlay::SameUser`].
    pub fn start() -> Result<TestBus> {
        TestBus::start_with(Overlay::SameUser)
    }

    /// Start a bus with the given overlay.
    pub fn start_with(overlay: Overlay) -> Result<TestBus> {
        let dir = tempfile::Builder::new().prefix("secura-bus-").tempdir()?;
        // Daemons running as other users must reach the socket.
        set_mode(dir.path(), 0o755)?;
        let socket = dir.path().join("system_bus_socket");
        let root = repo_root();
        let template = std::fs::read_to_string(root.join("testbed/bus/system-test.conf.in"))
            .context("reading testbed/bus/system-test.conf.in")?;
        let overlay_xml = match overlay {
            Overlay::SameUser => {
                let user = nix::unistd::User::from_uid(nix::unistd::geteuid())?
                    .map(|u| u.name)
                    .context("the test's user has no name")?;
                format!(
                    "<policy user=\"{user}\">\n    <allow own_prefix=\"org.securapicam\"/>\n    \
                     <allow send_destination_prefix=\"org.securapicam\"/>\n    \
                     <allow send_type=\"signal\"/>\n    \
                     <allow receive_type=\"signal\"/>\n  </policy>"
                )
            }
            Overlay::PolicyOnly => String::new(),
        };
        let conf = template
            .replace("@LISTEN@", &format!("unix:path={}", socket.display()))
            .replace(
                "@POLICY_DIR@",
                &root.join("dbus-policy").display().to_string(),
            )
            .replace("@OVERLAY@", &overlay_xml);
        let conf_path = dir.path().join("bus.conf");
        std::fs::write(&conf_path, conf)?;
        let log = std::fs::File::create(dir.path().join("dbus-daemon.log"))?;
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf_path.display()))
            .args(["--nofork", "--print-address=1", "--nopidfile"])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("starting dbus-daemon (apt-get install dbus-daemon)")?;
        let stdout = child.stdout.take().context("dbus-daemon stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let address = line.trim().to_string();
        if address.is_empty() {
            let _ = child.kill();
            let log =
                std::fs::read_to_string(dir.path().join("dbus-daemon.log")).unwrap_or_default();
            bail!("dbus-daemon printed no address; is the config valid?\n{log}");
        }
        Ok(TestBus {
            child,
            address,
            dir,
        })
    }

    /// The bus address, for `DBUS_SYSTEM_BUS_ADDRESS`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// A scratch directory that lives as long as the bus.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A new client connection to this bus.
    pub async fn connect(&self) -> Result<zbus::Connection> {
        let conn = zbus::connection::Builder::address(self.address.as_str())
            .build()
            .await
            .context("connecting to the test bus")?;
        Ok(conn)
    }

    /// Run `busctl --address=… ARGS`.
    pub fn busctl(&self, args: &[&str]) -> Result<Output> {
        Command::new("busctl")
            .arg(format!("--address={}", self.address))
            .args(args)
            .output()
            .context("running busctl")
    }

    /// Run `busctl` and return its stdout, failing with its stderr when it fails.
    pub fn busctl_ok(&self, args: &[&str]) -> Result<String> {
        let out = self.busctl(args)?;
        if !out.status.success() {
            bail!(
                "busctl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Wait until `name` has an owner on the bus.
    pub async fn wait_for_name(&self, name: &str, timeout: std::time::Duration) -> Result<()> {
        let conn = self.connect().await?;
        let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
        let bus_name = zbus::names::BusName::try_from(name.to_string())?;
        let ok = crate::eventually(timeout, || {
            let dbus = &dbus;
            let bus_name = bus_name.clone();
            async move { dbus.name_has_owner(bus_name).await.unwrap_or(false) }
        })
        .await;
        if !ok {
            bail!("{name} did not appear on the bus within {timeout:?}");
        }
        Ok(())
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

impl Drop for TestBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
