//! What `--check-config` looks at beyond the file's own syntax: the files, interfaces and
//! devices the configuration names, and the placeholders of the example configuration.
//!
//! A *problem* keeps a daemon from working at all, whatever appears later (a token file that
//! others can read — botd refuses it); `--check-config` exits 78 for one. A *warning* is
//! something the owner should look at but that may be fine later: hardware that is plugged in
//! or created at boot (`mon0` by `secura-monitor@`), a token not yet put in place, nobody
//! allowed yet (pairing can add people), the example's phone still listed.

use super::{CameraBackend, SensorBackend, Whole};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// The phone listed in the example configuration: a placeholder, never an owner's phone.
pub const EXAMPLE_MAC: &str = "a4:5e:60:12:34:56";

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The owner should look; the daemons still start.
    Warning,
    /// A daemon refuses to run with this.
    Problem,
}

/// One thing `--check-config` found, in words for the person who runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// What, and what to do about it.
    pub text: String,
}

impl Finding {
    fn warning(text: String) -> Self {
        Finding {
            severity: Severity::Warning,
            text,
        }
    }

    fn problem(text: String) -> Self {
        Finding {
            severity: Severity::Problem,
            text,
        }
    }
}

/// Where to look for what the configuration names (a test points these at a temporary tree).
#[derive(Debug, Clone)]
pub struct Host {
    /// The network interfaces (`/sys/class/net`).
    pub net: PathBuf,
    /// The GPIO character devices and `/dev/gpiomem*` (`/dev`).
    pub dev: PathBuf,
    /// Directories searched for `rpicam-vid` (`$PATH`).
    pub path: Option<std::ffi::OsString>,
}

impl Host {
    /// This machine.
    pub fn this() -> Self {
        Host {
            net: PathBuf::from("/sys/class/net"),
            dev: PathBuf::from("/dev"),
            path: std::env::var_os("PATH"),
        }
    }
}

/// Everything found in `config`, problems first.
pub fn cross_check(config: &Whole, host: &Host) -> Vec<Finding> {
    let mut found = Vec::new();
    telegram(config, &mut found);
    presence(config, host, &mut found);
    sensor(config, host, &mut found);
    camera(config, host, &mut found);
    found.sort_by_key(|f| f.severity != Severity::Problem);
    found
}

fn telegram(config: &Whole, found: &mut Vec<Finding>) {
    let t = &config.telegram;
    let file = t.token_file.display();
    match std::fs::metadata(&t.token_file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            found.push(Finding::warning(format!(
                "[telegram] token_file {file} does not exist: secura-botd cannot start until the \
             bot's token is there (chmod 600)"
            )))
        }
        Err(e) => found.push(Finding::warning(format!(
            "[telegram] token_file {file} cannot be checked: {e}"
        ))),
        Ok(m) if !m.is_file() => found.push(Finding::problem(format!(
            "[telegram] token_file {file} is not a file"
        ))),
        Ok(m) if m.permissions().mode() & 0o077 != 0 => found.push(Finding::problem(format!(
            "[telegram] token_file {file} can be read by other users (mode {:o}): \
             chmod 600 it — secura-botd refuses it",
            m.permissions().mode() & 0o777
        ))),
        Ok(m) if m.len() == 0 => found.push(Finding::problem(format!(
            "[telegram] token_file {file} is empty: put the token @BotFather gave you in it"
        ))),
        Ok(_) => {}
    }
    if t.allowed_users.is_empty() {
        found.push(Finding::warning(
            "[telegram] allowed_users is empty: the bot answers only people paired with \
             CreatePairingCode (busctl call org.securapicam.Bot /org/securapicam/Bot \
             org.securapicam.Bot1 CreatePairingCode)"
                .to_string(),
        ));
    }
}

fn presence(config: &Whole, host: &Host, found: &mut Vec<Finding>) {
    let p = &config.presence;
    if p.devices.is_empty() {
        found.push(Finding::warning(
            "[presence] lists no phones: nobody is ever seen at home, so the alarm arms \
             itself and stays armed (add [[presence.devices]])"
                .to_string(),
        ));
    }
    for d in &p.devices {
        if d.mac.to_string() == EXAMPLE_MAC {
            found.push(Finding::warning(format!(
                "[[presence.devices]] \"{}\" still has the example's MAC {EXAMPLE_MAC}: put \
                 the phone's own (private Wi-Fi) address there, or the alarm never sees it \
                 at home",
                d.name
            )));
        }
    }
    let lan = &p.lan_interface;
    if !lan.is_empty() && !host.net.join(lan).exists() {
        found.push(Finding::warning(format!(
            "[presence] lan_interface \"{lan}\" does not exist on this machine (yet): the \
             sniffer waits for it"
        )));
    }
    let mon = &p.monitor_interface;
    if !mon.is_empty() && !host.net.join(mon).exists() {
        found.push(Finding::warning(format!(
            "[presence] monitor_interface \"{mon}\" does not exist (yet): it is made at boot \
             by secura-monitor@<adapter>.service; the sniffer waits for it"
        )));
    }
}

fn sensor(config: &Whole, host: &Host, found: &mut Vec<Finding>) {
    if config.sensor.backend != SensorBackend::Gpio {
        return;
    }
    let any = ["gpiochip0", "gpiomem0", "gpiomem"]
        .iter()
        .any(|n| host.dev.join(n).exists());
    if !any {
        found.push(Finding::warning(format!(
            "[sensor] backend = \"gpio\", but this machine has no GPIO ({} has no gpiochip0 \
             or gpiomem): secura-sensord runs only on a Raspberry Pi",
            host.dev.display()
        )));
    }
}

fn camera(config: &Whole, host: &Host, found: &mut Vec<Finding>) {
    let c = &config.camera;
    match c.backend {
        CameraBackend::V4l2 if !c.device.exists() => found.push(Finding::warning(format!(
            "[camera] device {} does not exist (is the camera plugged in?): alerts go out \
             without photos until it appears",
            c.device.display()
        ))),
        CameraBackend::Rpicam => {
            let on_path = host.path.as_deref().is_some_and(|p| {
                std::env::split_paths(p).any(|d| {
                    ["rpicam-vid", "libcamera-vid"]
                        .iter()
                        .any(|n| d.join(n).exists())
                })
            });
            if !on_path {
                found.push(Finding::warning(
                    "[camera] backend = \"rpicam\", but neither rpicam-vid nor libcamera-vid \
                     is installed (apt install rpicam-apps-lite)"
                        .to_string(),
                ));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use std::path::Path;

    fn whole(text: &str) -> Whole {
        parse(Path::new("t.toml"), text).unwrap()
    }

    struct Tree {
        dir: tempfile::TempDir,
    }

    impl Tree {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            for d in ["net", "dev", "bin"] {
                std::fs::create_dir(dir.path().join(d)).unwrap();
            }
            Tree { dir }
        }
        fn add(&self, rel: &str) -> std::path::PathBuf {
            let p = self.dir.path().join(rel);
            std::fs::write(&p, "").unwrap();
            p
        }
        fn host(&self) -> Host {
            Host {
                net: self.dir.path().join("net"),
                dev: self.dir.path().join("dev"),
                path: Some(self.dir.path().join("bin").into_os_string()),
            }
        }
        fn token(&self, mode: u32, text: &str) -> String {
            let p = self.dir.path().join("token");
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            format!(
                "[telegram]\ntoken_file = \"{}\"\nallowed_users = [5]\n",
                p.display()
            )
        }
    }

    fn texts(found: &[Finding], severity: Severity) -> Vec<&str> {
        found
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| f.text.as_str())
            .collect()
    }

    const PHONE: &str = "[[presence.devices]]\nname = \"Alice\"\nmac = \"02:11:22:33:44:55\"\n";

    #[test]
    fn a_complete_configuration_on_matching_hardware_has_no_findings() {
        let t = Tree::new();
        t.add("net/wlan0");
        t.add("dev/gpiochip0");
        t.add("bin/rpicam-vid");
        let cfg = format!(
            "{}[presence]\nlan_interface = \"wlan0\"\n{PHONE}[sensor]\nbackend = \"gpio\"\n\
             [camera]\nbackend = \"rpicam\"\n",
            t.token(0o600, "123:abc")
        );
        assert_eq!(cross_check(&whole(&cfg), &t.host()), vec![]);
    }

    #[test]
    fn a_token_readable_by_others_or_empty_is_a_problem() {
        let t = Tree::new();
        let found = cross_check(&whole(&(t.token(0o644, "123:abc") + PHONE)), &t.host());
        let problems = texts(&found, Severity::Problem);
        assert_eq!(problems.len(), 1, "{found:?}");
        assert!(problems[0].contains("mode 644") && problems[0].contains("chmod 600"));
        let found = cross_check(&whole(&(t.token(0o600, "") + PHONE)), &t.host());
        assert!(
            texts(&found, Severity::Problem)[0].contains("is empty"),
            "{found:?}"
        );
        // Problems come first, whatever else is found.
        assert_eq!(found[0].severity, Severity::Problem);
    }

    #[test]
    fn a_missing_token_nobody_allowed_and_the_example_phone_are_warned_about() {
        let t = Tree::new();
        let cfg = format!(
            "[telegram]\ntoken_file = \"{}\"\n[[presence.devices]]\nname = \"Alice\"\n\
             mac = \"{EXAMPLE_MAC}\"\n",
            t.dir.path().join("absent").display()
        );
        let found = cross_check(&whole(&cfg), &t.host());
        assert!(texts(&found, Severity::Problem).is_empty(), "{found:?}");
        let warnings = texts(&found, Severity::Warning).join("\n");
        assert!(
            warnings.contains("does not exist: secura-botd cannot start"),
            "{warnings}"
        );
        assert!(warnings.contains("allowed_users is empty"), "{warnings}");
        assert!(
            warnings.contains("\"Alice\" still has the example's MAC"),
            "{warnings}"
        );
    }

    #[test]
    fn absent_interfaces_gpio_and_camera_are_warnings() {
        let t = Tree::new();
        let cfg = format!(
            "{}[presence]\nlan_interface = \"wlan7\"\nmonitor_interface = \"mon0\"\n{PHONE}\
             [sensor]\nbackend = \"gpio\"\n[camera]\nbackend = \"v4l2\"\ndevice = \"{}\"\n",
            t.token(0o600, "123:abc"),
            t.dir.path().join("dev/video9").display()
        );
        let found = cross_check(&whole(&cfg), &t.host());
        assert!(texts(&found, Severity::Problem).is_empty(), "{found:?}");
        let warnings = texts(&found, Severity::Warning).join("\n");
        for want in [
            "\"wlan7\" does not exist",
            "\"mon0\" does not exist",
            "no GPIO",
            "video9",
        ] {
            assert!(warnings.contains(want), "{want} in {warnings}");
        }
        assert_eq!(found.len(), 4, "{found:?}");
    }

    #[test]
    fn rpicam_without_its_program_is_a_warning() {
        let t = Tree::new();
        let cfg = format!(
            "{}{PHONE}[camera]\nbackend = \"rpicam\"\n",
            t.token(0o600, "1:a")
        );
        let found = cross_check(&whole(&cfg), &t.host());
        assert!(
            found.iter().any(|f| f.text.contains("rpicam-apps-lite")),
            "{found:?}"
        );
    }
}
