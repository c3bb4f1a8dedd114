//! The configuration file as a person (or a broken editor, or a full disk) may leave it, read
//! the way each daemon reads it — every section typed, as alarmd, the sniffer, sensord, camd
//! and botd do between them, and with the other sections skipped — then validated: no input
//! may panic, and every refusal names where it is.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secura_bus::config::{
    AlarmConfig, CameraConfig, ConfigError, Document, PresenceConfig, SensorConfig, Skip,
    TelegramConfig, parse,
};
use std::path::Path;

type Whole = Document<AlarmConfig, PresenceConfig, SensorConfig, CameraConfig, TelegramConfig>;

fn check<D: for<'de> serde::Deserialize<'de> + secura_bus::config::Validate>(text: &str) {
    let path = Path::new("/etc/secura-pi-cam/config.toml");
    if let Err(e) = parse::<D>(path, text) {
        let message = e.to_string();
        assert!(message.contains("config.toml"), "{message}");
        if let ConfigError::Invalid { line, .. } = e {
            assert!(line >= 1 && line <= text.matches('\n').count() + 1, "{line}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check::<Whole>(text);
    check::<Document<Skip, PresenceConfig>>(text);
    check::<Document<AlarmConfig>>(text);
    check::<Document<Skip, Skip, Skip, CameraConfig>>(text);
    check::<Document<Skip, Skip, Skip, Skip, TelegramConfig>>(text);
});
