use super::*;

type All = Document<AlarmConfig, PresenceConfig, SensorConfig, CameraConfig, TelegramConfig>;
type AlarmOnly = Document<AlarmConfig, PresenceConfig>;

const EXAMPLE: &str = include_str!("../../../config/config.toml");

fn parse_all(text: &str) -> Result<All, ConfigError> {
    parse(Path::new("test.toml"), text)
}

#[test]
fn example_config_parses_and_holds_the_documented_defaults() {
    let doc = parse_all(EXAMPLE).unwrap();
    assert_eq!(doc.alarm, AlarmConfig::default());
    assert_eq!(doc.sensor, SensorConfig::default());
    assert_eq!(doc.camera, CameraConfig::default());
    assert_eq!(doc.telegram, TelegramConfig::default());
    let presence = PresenceConfig {
        devices: Vec::new(),
        ..doc.presence.clone()
    };
    assert_eq!(presence, PresenceConfig::default());
    assert_eq!(doc.presence.devices.len(), 1);
    assert!(doc.presence.warnings().is_empty());
}

#[test]
fn example_config_mentions_every_key() {
    // Every key of every section appears in the example, so the example stays the reference.
    let defaults = toml::to_string(&All::default_for_docs()).unwrap();
    for line in defaults.lines() {
        if let Some((key, _)) = line.split_once(" = ") {
            if key == "devices" {
                assert!(EXAMPLE.contains("[[presence.devices]]"));
                continue;
            }
            assert!(
                EXAMPLE.contains(&format!("\n{key} = ")),
                "config/config.toml does not document `{key}`"
            );
        }
    }
}

impl All {
    fn default_for_docs() -> DocsView {
        DocsView {
            alarm: AlarmConfig::default(),
            presence: PresenceConfig::default(),
            sensor: SensorConfig::default(),
            camera: CameraConfig::default(),
            telegram: TelegramConfig::default(),
        }
    }
}

#[derive(serde::Serialize)]
struct DocsView {
    alarm: AlarmConfig,
    presence: PresenceConfig,
    sensor: SensorConfig,
    camera: CameraConfig,
    telegram: TelegramConfig,
}

#[test]
fn empty_file_gives_defaults() {
    let doc = parse_all("").unwrap();
    assert_eq!(doc.alarm.away_after.get(), Duration::from_secs(600));
    assert_eq!(doc.alarm.probe_attempts.get(), 3);
    assert_eq!(doc.camera.max_storage.0, 1 << 30);
    assert_eq!(doc.telegram.outbox_max_bytes.0, 256 << 20);
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let text = "[alarm]\naway_after = \"5m\"\nawayafter = \"5m\"\n";
    let err = parse_all(text).unwrap_err();
    let ConfigError::Invalid {
        path,
        line,
        key,
        message,
        ..
    } = &err
    else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(path, Path::new("test.toml"));
    assert_eq!(*line, 3);
    assert_eq!(key, "awayafter");
    assert!(message.contains("unknown field"), "{message}");
    assert!(err.to_string().starts_with("test.toml:3:"), "{err}");
}

#[test]
fn unknown_section_is_refused_even_by_a_daemon_that_skips_others() {
    let err = parse::<AlarmOnly>(Path::new("c.toml"), "[alarms]\nverify = \"1s\"\n").unwrap_err();
    assert!(
        matches!(&err, ConfigError::Invalid { line: 1, key, .. } if key == "[alarms]"),
        "{err:?}"
    );
}

#[test]
fn another_daemons_section_is_not_this_daemons_problem() {
    let doc = parse::<AlarmOnly>(Path::new("c.toml"), "[camera]\nwhatever = 1\n").unwrap();
    assert_eq!(doc.alarm, AlarmConfig::default());
    assert!(parse_all("[camera]\nwhatever = 1\n").is_err());
}

#[test]
fn bad_duration_names_its_key_and_the_expected_form() {
    let err = parse_all("[alarm]\n\nexit_delay = \"thirty\"\n").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("test.toml:3:"), "{msg}");
    assert!(msg.contains("exit_delay"), "{msg}");
    assert!(msg.contains("\"30s\""), "{msg}");
}

#[test]
fn out_of_range_numbers_are_refused() {
    for text in [
        "[sensor]\npin = 40\n",
        "[camera]\nquality = 0\n",
        "[camera]\nfps = -1\n",
        "[alarm]\nprobe_attempts = 0\n",
    ] {
        let err = parse_all(text).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { line: 2, .. }),
            "{text}: {err}"
        );
    }
}

#[test]
fn bad_mac_and_multicast_mac_are_refused() {
    for mac in ["aa:bb:cc", "zz:bb:cc:dd:ee:ff", "01:00:5e:00:00:01"] {
        let text = format!("[[presence.devices]]\nname = \"A\"\nmac = \"{mac}\"\n");
        let err = parse_all(&text).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { line: 3, key, .. } if key == "mac"),
            "{err}"
        );
    }
}

#[test]
fn duplicate_mac_is_a_rule_error() {
    let text = "[[presence.devices]]\nname = \"A\"\nmac = \"aa:bb:cc:dd:ee:f0\"\n\
                [[presence.devices]]\nname = \"B\"\nmac = \"AA-BB-CC-DD-EE-F0\"\n";
    let err = parse_all(text).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Rule { key, .. } if key == "presence.devices[1].mac"),
        "{err}"
    );
}

#[test]
fn private_mac_gets_a_warning_that_explains_it() {
    let text = "[[presence.devices]]\nname = \"A\"\nmac = \"da:bb:cc:dd:ee:f0\"\n";
    let doc = parse_all(text).unwrap();
    let w = doc.presence.warnings();
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("private"), "{}", w[0]);
}

#[test]
fn group_user_ids_and_bad_api_urls_are_refused() {
    assert!(parse_all("[telegram]\nallowed_users = [-100123]\n").is_err());
    assert!(parse_all("[telegram]\napi_url = \"ftp://x\"\n").is_err());
    let ok = parse_all("[telegram]\nallowed_users = [42]\napi_url = \"http://127.0.0.1:8081\"\n");
    assert_eq!(ok.unwrap().telegram.allowed_users, vec![42]);
}

#[test]
fn api_url_may_be_plain_http_only_for_this_machine() {
    for ok in [
        "http://127.0.0.1:8081",
        "http://127.1.2.3/",
        "http://localhost:9000/x",
        "http://[::1]:8081",
        "https://api.telegram.org",
        "https://192.0.2.7:8443",
    ] {
        let text = format!("[telegram]\napi_url = \"{ok}\"\n");
        assert!(parse_all(&text).is_ok(), "{ok} refused");
    }
    for bad in [
        "http://api.telegram.org",
        "http://192.168.1.10:8081",
        "http://127.0.0.1.evil.example/",
        "http://localhost.evil.example",
        "http://127.0.0.1@evil.example/",
        "http://[::1].evil/",
        "http://[::2]:80",
    ] {
        let text = format!("[telegram]\napi_url = \"{bad}\"\n");
        let err = parse_all(&text).expect_err(bad).to_string();
        assert!(
            err.contains("api_url") && err.contains("https://"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn missing_file_is_a_read_error_naming_it() {
    let err = load::<All>(Path::new("/nonexistent/secura.toml")).unwrap_err();
    assert!(
        err.to_string().starts_with("/nonexistent/secura.toml"),
        "{err}"
    );
}

#[test]
fn sizes_and_durations_round_trip_through_their_spelling() {
    let doc = parse_all("[camera]\nmax_storage = \"2GiB\"\nretention = \"7d\"\n").unwrap();
    assert_eq!(doc.camera.max_storage.0, 2 << 30);
    assert_eq!(doc.camera.retention.get(), Duration::from_secs(7 * 86400));
    let again: All = parse_all(
        &toml::to_string(&DocsView {
            alarm: doc.alarm.clone(),
            presence: doc.presence.clone(),
            sensor: doc.sensor.clone(),
            camera: doc.camera.clone(),
            telegram: doc.telegram.clone(),
        })
        .unwrap(),
    )
    .unwrap();
    assert_eq!(again.camera, doc.camera);
}

#[test]
fn mac_display_is_lowercase_colon_form() {
    let m = MacAddr::parse("A4-BB-CC-DD-EE-0F").unwrap();
    assert_eq!(m.to_string(), "a4:bb:cc:dd:ee:0f");
    assert!(!m.is_locally_administered());
    assert!(MacAddr::parse("aa:bb:cc:dd:ee:0f:11").is_none());
}

#[test]
fn example_mqtt_section_uncommented_holds_the_defaults() {
    let start = EXAMPLE
        .find("# [mqtt]\n")
        .expect("config/config.toml has a commented [mqtt] section");
    let block: String = EXAMPLE[start..]
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect();
    let doc: Document<Skip, Skip, Skip, Skip, Skip, Option<MqttConfig>> =
        parse(Path::new("test.toml"), &block).unwrap();
    let mqtt = doc.mqtt.expect("the section is there once uncommented");
    assert_eq!(mqtt, MqttConfig::default());
    let documented = toml::to_string(&mqtt).unwrap();
    for line in documented.lines() {
        if let Some((key, _)) = line.split_once(" = ") {
            assert!(
                block.contains(&format!("\n{key} = ")),
                "[mqtt] {key} is not documented"
            );
        }
    }
}

#[test]
fn absent_mqtt_section_means_no_mqtt() {
    let doc: Document<Skip, Skip, Skip, Skip, Skip, Option<MqttConfig>> =
        parse(Path::new("test.toml"), "[alarm]\n").unwrap();
    assert!(doc.mqtt.is_none());
}

#[test]
fn unknown_mqtt_key_is_located() {
    let err = parse::<Document<Skip, Skip, Skip, Skip, Skip, Option<MqttConfig>>>(
        Path::new("c.toml"),
        "[mqtt]\nbroker = \"mqtt://h\"\npasword_file = \"/x\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("c.toml:3:"), "{err}");
    assert!(err.contains("pasword_file"), "{err}");
}

#[test]
fn camera_is_off_while_disarmed_unless_always_on() {
    assert!(!parse_all("").unwrap().camera.always_on);
    assert!(
        parse_all("[camera]\nalways_on = true\n")
            .unwrap()
            .camera
            .always_on
    );
}
