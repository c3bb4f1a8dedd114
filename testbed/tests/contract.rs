//! What every daemon promises alike, written once and run for each (DESIGN §3, §6): the served
//! interface is the checked-in XML; `Simulator1` exists only with `--sim`; SIGTERM stops it
//! with 0; `--check-config` prints its sections, and exits 78 naming file, line and key for a
//! mistake anywhere in the file; as root without `--allow-root` it exits 77; under the
//! project's policy alone nobody but its own user may own its name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use secura_bus::names::{SIMULATOR_IFACE, Service};
use secura_testbed::daemon::run_to_end;
use secura_testbed::harness::{START_TIMEOUT, write_config};
use secura_testbed::{Launch, Overlay};

/// A configuration each daemon runs with on a test bus, without hardware.
fn runnable(service: Service) -> &'static str {
    match service {
        Service::Alarm => "[alarm]\nstartup_grace = \"0s\"\n",
        Service::Presence => {
            "[presence]\nlan_interface = \"lo\"\n[[presence.devices]]\nname = \"Alice\"\n\
             mac = \"a4:5e:60:12:34:56\"\n"
        }
        Service::Sensor => "[sensor]\nbackend = \"sim\"\nwarmup = \"0s\"\n",
        Service::Camera => "[camera]\nbackend = \"sim\"\nwidth = 320\nheight = 240\n",
        // Nothing listens on port 9 of loopback: the bot retries quietly.
        Service::Bot => "[telegram]\nallowed_users = [1]\napi_url = \"http://127.0.0.1:9\"\n",
        // No broker on port 9 either: mqttd serves Nodes1 and keeps reconnecting.
        Service::Nodes => "[mqtt]\nnode_name = \"hall\"\nbroker = \"mqtt://127.0.0.1:9\"\n",
    }
}

/// The section headers `--check-config` prints for it.
fn sections(service: Service) -> &'static [&'static str] {
    match service {
        Service::Alarm => &["[alarm]", "[presence]"],
        Service::Presence => &["[presence]"],
        Service::Sensor => &["[sensor]"],
        Service::Camera => &["[camera]"],
        Service::Bot => &["[telegram]"],
        Service::Nodes => &["[mqtt]"],
    }
}

/// Its own section's name, for an unknown key there.
fn own_section(service: Service) -> &'static str {
    match service {
        Service::Alarm => "alarm",
        Service::Presence => "presence",
        Service::Sensor => "sensor",
        Service::Camera => "camera",
        Service::Bot => "telegram",
        Service::Nodes => "mqtt",
    }
}

fn launch(service: Service, sim: bool) -> Launch {
    let l = Launch::new(service, runnable(service));
    if sim && service.serves_simulator() || service == Service::Bot {
        l.arg("--sim")
    } else {
        l
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_daemon_serves_exactly_its_checked_in_interface_xml() {
    for service in Service::ALL {
        let s = launch(service, true).start().await;
        secura_testbed::introspect::check_interface_xml(
            &s.conn,
            service.bus_name(),
            service.path(),
            service.interface(),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e:#}", service.binary()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn simulator1_is_served_only_with_sim_and_only_by_daemons_with_simulated_hardware() {
    for service in Service::ALL {
        for sim in [true, false] {
            // The sniffer without --sim captures for real: it needs CAP_NET_RAW.
            if service == Service::Presence && !sim && !is_root() {
                eprintln!("skipped: the sniffer without --sim needs root here");
                continue;
            }
            let s = launch(service, sim).start().await;
            let xml = s
                .bus
                .busctl_ok(&[
                    "introspect",
                    "--xml-interface",
                    service.bus_name(),
                    service.path(),
                ])
                .unwrap();
            assert!(xml.contains(service.interface()), "{xml}");
            let expected = sim && service.serves_simulator();
            assert_eq!(
                xml.contains(SIMULATOR_IFACE),
                expected,
                "{} with sim={sim}: Simulator1 served: {}",
                service.binary(),
                !expected
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_every_daemon_with_exit_code_0() {
    for service in Service::ALL {
        let mut s = launch(service, true).start().await;
        let code = s.daemon.stop(START_TIMEOUT).unwrap();
        assert_eq!(code, Some(0), "{}:\n{}", service.binary(), s.daemon.log());
    }
}

#[test]
fn check_config_prints_each_daemons_effective_sections() {
    let dir = tempfile::tempdir().unwrap();
    for service in Service::ALL {
        let cfg = write_config(dir.path(), runnable(service));
        let (code, out) = run_to_end(
            service.binary(),
            &["--check-config", "--config", cfg.to_str().unwrap()],
        )
        .unwrap();
        assert_eq!(code, Some(0), "{}: {out}", service.binary());
        for header in sections(service) {
            assert!(
                out.contains(header),
                "{}: {header} missing in {out}",
                service.binary()
            );
        }
    }
}

#[test]
fn an_unknown_key_exits_78_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    for service in Service::ALL {
        let text = format!("[{}]\nbogus_key = 1\n", own_section(service));
        let cfg = write_config(dir.path(), &text);
        for args in [vec!["--check-config"], vec![]] {
            let mut all = vec!["--config", cfg.to_str().unwrap(), "--allow-root"];
            all.extend(args);
            let (code, out) = run_to_end(service.binary(), &all).unwrap();
            assert_eq!(code, Some(78), "{}: {out}", service.binary());
            assert!(out.contains(&format!("{}:2:", cfg.display())), "{out}");
            assert!(out.contains("bogus_key"), "{out}");
            assert!(out.starts_with(&format!("{}: ", service.binary())), "{out}");
        }
    }
}

#[test]
fn check_config_of_any_daemon_catches_a_typo_in_another_daemons_section() {
    let dir = tempfile::tempdir().unwrap();
    for service in Service::ALL {
        let other = if service == Service::Camera {
            "sensor"
        } else {
            "camera"
        };
        let text = format!("{}[{other}]\nwidht = 640\n", runnable(service));
        let cfg = write_config(dir.path(), &text);
        let (code, out) = run_to_end(
            service.binary(),
            &["--check-config", "--config", cfg.to_str().unwrap()],
        )
        .unwrap();
        assert_eq!(code, Some(78), "{}: {out}", service.binary());
        assert!(out.contains("widht"), "{}: {out}", service.binary());
    }
}

#[test]
fn check_config_of_any_daemon_looks_at_what_the_file_names() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("telegram-token");
    std::fs::write(&token, "123:abc").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let telegram = format!(
        "[telegram]\nallowed_users = []\ntoken_file = \"{}\"\n",
        token.display()
    );
    let example_phone = "[[presence.devices]]\nname = \"Alice\"\nmac = \"a4:5e:60:12:34:56\"\n";
    for service in Service::ALL {
        // Only what another daemon reads is wrong: each still says so.
        let mine = match service {
            Service::Bot | Service::Presence | Service::Alarm => "",
            s => runnable(s),
        };
        let text = format!("{mine}{telegram}{example_phone}");
        let cfg = write_config(dir.path(), &text);
        let check = || {
            run_to_end(
                service.binary(),
                &["--check-config", "--config", cfg.to_str().unwrap()],
            )
            .unwrap()
        };
        let (code, out) = check();
        assert_eq!(code, Some(78), "{}: {out}", service.binary());
        assert!(out.contains("can be read by other users"), "{out}");
        // Warnings alone leave it valid, and are still printed.
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (code, out) = check();
        assert_eq!(code, Some(0), "{}: {out}", service.binary());
        assert!(
            out.contains("warning: [telegram] allowed_users is empty"),
            "{out}"
        );
        assert!(out.contains("still has the example's MAC"), "{out}");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

#[test]
fn as_root_without_allow_root_every_daemon_exits_77() {
    if !is_root() {
        eprintln!("skipped: not root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for service in Service::ALL {
        let cfg = write_config(dir.path(), runnable(service));
        let mut args = vec!["--config", cfg.to_str().unwrap()];
        if service.serves_simulator() {
            args.push("--sim");
        }
        let (code, out) = run_to_end(service.binary(), &args).unwrap();
        assert_eq!(code, Some(77), "{}: {out}", service.binary());
        assert!(out.contains("refuses to run as root"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn under_the_project_policy_alone_no_other_user_may_own_a_daemons_name() {
    for service in Service::ALL {
        if nix::unistd::User::from_name(service.binary())
            .ok()
            .flatten()
            .is_some()
            && !is_root()
        {
            eprintln!(
                "skipped: {} exists and we are it or not root",
                service.binary()
            );
            continue;
        }
        let (_bus, mut daemon, _) = launch(service, true).overlay(Overlay::PolicyOnly).spawn();
        let code = daemon.wait_exit(START_TIMEOUT).unwrap();
        let log = daemon.log();
        assert_eq!(code, Some(1), "{}: {log}", service.binary());
        assert!(
            log.contains("AccessDenied") || log.contains("not allowed"),
            "{}: {log}",
            service.binary()
        );
    }
}
