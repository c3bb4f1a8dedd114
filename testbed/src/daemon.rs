//! The project's daemons as child processes of a test: started against a [`TestBus`], logged
//! to a file, and always killed (SIGKILL) when dropped, even when the test panics.

use crate::TestBus;
use anyhow::{Context, Result, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where the workspace's binaries are: `$SECURA_BIN_DIR`, else the cargo target directory the
/// running test was built into. Build them first with `cargo build --workspace --bins`.
pub fn bin_path(name: &str) -> Result<PathBuf> {
    let dir = match std::env::var_os("SECURA_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe()?;
            let mut dir = exe
                .parent()
                .context("test binary has no directory")?
                .to_path_buf();
            if dir.ends_with("deps") {
                dir.pop();
            }
            dir
        }
    };
    let path = dir.join(name);
    if !path.exists() {
        bail!(
            "{} not found: build the daemons first (`cargo build --workspace --bins`) or set \
             SECURA_BIN_DIR",
            path.display()
        );
    }
    Ok(path)
}

/// A running daemon process.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    program: PathBuf,
    args: Vec<String>,
    envs: Vec<(String, String)>,
}

impl Daemon {
    /// Start binary `name` with `args` on `bus`; `DBUS_SYSTEM_BUS_ADDRESS` and
    /// `STATE_DIRECTORY=state_dir` are set, and `--allow-root` is added when running as root.
    pub fn spawn(bus: &TestBus, name: &str, args: &[&str], state_dir: &Path) -> Result<Daemon> {
        Daemon::spawn_with_env(bus, name, args, state_dir, &[])
    }

    /// As [`Daemon::spawn`], with extra environment variables.
    pub fn spawn_with_env(
        bus: &TestBus,
        name: &str,
        args: &[&str],
        state_dir: &Path,
        env: &[(&str, &str)],
    ) -> Result<Daemon> {
        std::fs::create_dir_all(state_dir)?;
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if nix::unistd::geteuid().is_root() && !args.iter().any(|a| a == "--allow-root") {
            args.push("--allow-root".into());
        }
        let mut envs = vec![
            (
                "DBUS_SYSTEM_BUS_ADDRESS".to_string(),
                bus.address().to_string(),
            ),
            (
                "STATE_DIRECTORY".to_string(),
                state_dir.display().to_string(),
            ),
        ];
        envs.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let mut d = Daemon {
            name: name.to_string(),
            child: None,
            log: bus.dir().join(format!("{name}.log")),
            program: bin_path(name)?,
            args,
            envs,
        };
        d.start()?;
        Ok(d)
    }

    /// As [`Daemon::spawn`], but run as `user` (its group and supplementary groups) through
    /// `setpriv`, as its systemd unit would; root only. `--allow-root` is not added.
    pub fn spawn_as(
        bus: &TestBus,
        name: &str,
        user: &str,
        args: &[&str],
        state_dir: &Path,
    ) -> Result<Daemon> {
        std::fs::create_dir_all(state_dir)?;
        let owner =
            nix::unistd::User::from_name(user)?.with_context(|| format!("no user {user}"))?;
        nix::unistd::chown(state_dir, Some(owner.uid), Some(owner.gid))?;
        let mut wrapped: Vec<String> = ["--reuid", user, "--regid", user, "--init-groups", "--"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        wrapped.push(bin_path(name)?.display().to_string());
        wrapped.extend(args.iter().map(|s| s.to_string()));
        let mut d = Daemon {
            name: name.to_string(),
            child: None,
            log: bus.dir().join(format!("{name}.log")),
            program: PathBuf::from("setpriv"),
            args: wrapped,
            envs: vec![
                (
                    "DBUS_SYSTEM_BUS_ADDRESS".to_string(),
                    bus.address().to_string(),
                ),
                (
                    "STATE_DIRECTORY".to_string(),
                    state_dir.display().to_string(),
                ),
            ],
        };
        d.start()?;
        Ok(d)
    }

    fn start(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// The process id, if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the daemon has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Send `signal` to the daemon.
    pub fn signal(&self, signal: Signal) -> Result<()> {
        let pid = self.pid().context("daemon is not running")?;
        kill(Pid::from_raw(i32::try_from(pid)?), signal)?;
        Ok(())
    }

    /// SIGKILL and reap, as a power cut or crash would.
    pub fn kill_hard(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait up to `grace` for a clean exit; returns its exit code.
    pub fn stop(&mut self, grace: Duration) -> Result<Option<i32>> {
        let Some(mut c) = self.child.take() else {
            return Ok(None);
        };
        kill(Pid::from_raw(i32::try_from(c.id())?), Signal::SIGTERM)?;
        let deadline = std::time::Instant::now() + grace;
        loop {
            if let Some(status) = c.try_wait()? {
                return Ok(status.code());
            }
            if std::time::Instant::now() >= deadline {
                let _ = c.kill();
                let _ = c.wait();
                bail!("{} did not stop within {grace:?} of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start the same command again (as systemd's `Restart=` would).
    pub fn restart(&mut self) -> Result<()> {
        self.kill_hard();
        self.start()
    }

    /// Wait for the process to exit by itself; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<i32>> {
        let c = self.child.as_mut().context("daemon is not running")?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = c.try_wait()? {
                self.child = None;
                return Ok(status.code());
            }
            if std::time::Instant::now() >= deadline {
                bail!("{} still running after {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// Run binary `name` to completion with `args` (no bus); its exit code and combined output.
pub fn run_to_end(name: &str, args: &[&str]) -> Result<(Option<i32>, String)> {
    let out = Command::new(bin_path(name)?)
        .args(args)
        .env_remove("NOTIFY_SOCKET")
        .output()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.code(), text))
}
