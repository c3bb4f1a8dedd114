//! Home Assistant MQTT discovery (DESIGN §10): one device per Pi, with its entities — the
//! alarm panel, the presence auto-arm switch, the PIR, the "Last alert" image, the "Take
//! photo" button, the "Troubles" sensor and a tracker per configured phone. Every config
//! carries `origin`, `availability` (from `status`) and a `unique_id`.

use crate::topics::{Topics, phone_id};
use serde_json::{Value, json};

/// A phone as configured in `[[presence.devices]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// The owner's name for it.
    pub name: String,
    /// Its MAC address.
    pub mac: String,
}

/// One retained discovery message.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `<prefix>/<component>/<node>/<object>/config`
    pub topic: String,
    /// The JSON config.
    pub payload: Value,
}

fn device(t: &Topics) -> Value {
    json!({
        "identifiers": [format!("secura_{}", t.node)],
        "name": format!("Secura-Pi-Cam {}", t.node),
        "manufacturer": "Secura-Pi-Cam",
        "model": "Raspberry Pi",
        "sw_version": env!("CARGO_PKG_VERSION"),
    })
}

fn common(t: &Topics, object: &str, name: Value) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), name);
    m.insert(
        "unique_id".into(),
        json!(format!("secura_{}_{object}", t.node)),
    );
    m.insert(
        "object_id".into(),
        json!(format!("secura_{}_{object}", t.node)),
    );
    m.insert("device".into(), device(t));
    m.insert(
        "origin".into(),
        json!({
            "name": "secura-mqttd",
            "sw_version": env!("CARGO_PKG_VERSION"),
        }),
    );
    m.insert(
        "availability".into(),
        json!([{
            "topic": t.status(),
            "payload_available": "online",
            "payload_not_available": "offline",
        }]),
    );
    m.insert("qos".into(), json!(1));
    m
}

fn config(t: &Topics, component: &str, object: &str, name: Value, extra: Value) -> Config {
    let mut m = common(t, object, name);
    if let Value::Object(e) = extra {
        m.extend(e);
    }
    Config {
        topic: t.discovery(component, object),
        payload: Value::Object(m),
    }
}

/// Every config the hub publishes: `code_required` when `code_file` is set.
pub fn hub_configs(t: &Topics, code_required: bool, phones: &[Phone]) -> Vec<Config> {
    let mut alarm = json!({
        "state_topic": t.alarm_state(),
        "command_topic": t.alarm_set(),
        "json_attributes_topic": t.alarm_attributes(),
        "supported_features": ["arm_away"],
        "payload_arm_away": "ARM_AWAY",
        "payload_disarm": "DISARM",
        "retain": false,
    });
    if code_required && let Value::Object(a) = &mut alarm {
        // REMOTE_CODE: Home Assistant asks for the code and passes it on; the Pi checks it.
        a.insert("code".into(), json!("REMOTE_CODE"));
        a.insert("code_arm_required".into(), json!(true));
        a.insert("code_disarm_required".into(), json!(true));
        a.insert(
            "command_template".into(),
            json!("{\"action\": \"{{ action }}\", \"code\": \"{{ code }}\"}"),
        );
    }
    let mut out = vec![
        config(t, "alarm_control_panel", "alarm", Value::Null, alarm),
        config(
            t,
            "switch",
            "autoarm",
            json!("Presence auto-arm"),
            json!({
                "state_topic": t.autoarm_state(),
                "command_topic": t.autoarm_set(),
                "payload_on": "ON",
                "payload_off": "OFF",
                "retain": false,
                "icon": "mdi:home-account",
            }),
        ),
        config(
            t,
            "binary_sensor",
            "motion",
            json!("Motion"),
            json!({
                "state_topic": t.motion_state(),
                "payload_on": "ON",
                "payload_off": "OFF",
                "device_class": "motion",
            }),
        ),
        config(
            t,
            "image",
            "last_alert",
            json!("Last alert"),
            json!({
                "image_topic": t.image(),
                "content_type": "image/jpeg",
            }),
        ),
        config(
            t,
            "button",
            "photo",
            json!("Take photo"),
            json!({
                "command_topic": t.photo_press(),
                "payload_press": "PRESS",
                "retain": false,
                "icon": "mdi:camera",
            }),
        ),
        config(
            t,
            "sensor",
            "troubles",
            json!("Troubles"),
            json!({
                "state_topic": t.troubles(),
                "value_template": "{{ value_json.text }}",
                "json_attributes_topic": t.troubles(),
                "json_attributes_template": "{{ {'troubles': value_json.troubles, 'count': value_json.count} | tojson }}",
                "entity_category": "diagnostic",
                "icon": "mdi:alert-circle-outline",
            }),
        ),
    ];
    for p in phones {
        out.push(phone_config(t, p));
    }
    out
}

fn phone_config(t: &Topics, p: &Phone) -> Config {
    config(
        t,
        "device_tracker",
        &format!("phone_{}", phone_id(&p.mac)),
        json!(p.name),
        json!({
            "state_topic": t.phone_state(&p.mac),
            "payload_home": "home",
            "payload_not_home": "not_home",
            "source_type": "router",
        }),
    )
}

/// Whether `topic` is a discovery config of this Pi that `wanted` no longer contains: such
/// retained configs (a phone dropped from the configuration) are cleared with an empty
/// retained message, which makes Home Assistant remove the entity.
pub fn is_stale(t: &Topics, topic: &str, wanted: &[Config]) -> bool {
    let mine = topic.starts_with(&format!("{}/", t.prefix))
        && topic.ends_with("/config")
        && topic
            .split('/')
            .nth(t.prefix.split('/').count() + 1)
            .is_some_and(|n| n == t.node);
    mine && !wanted.iter().any(|c| c.topic == topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phones() -> Vec<Phone> {
        vec![Phone {
            name: "Alice".into(),
            mac: "a4:5e:60:00:00:01".into(),
        }]
    }

    #[test]
    fn every_config_has_origin_availability_device_and_a_unique_id() {
        let t = Topics::new("hall", "homeassistant");
        let all = hub_configs(&t, false, &phones());
        assert_eq!(all.len(), 7);
        let mut ids = std::collections::HashSet::new();
        for c in &all {
            let p = &c.payload;
            assert!(ids.insert(p["unique_id"].as_str().unwrap().to_string()));
            assert_eq!(p["availability"][0]["topic"], "secura/hall/status");
            assert_eq!(p["origin"]["name"], "secura-mqttd");
            assert_eq!(p["device"]["identifiers"][0], "secura_hall");
        }
        assert!(all.iter().any(|c| c.topic
            == "homeassistant/device_tracker/hall/phone_a45e60000001/config"
            && c.payload["name"] == "Alice"));
    }

    #[test]
    fn the_alarm_panel_asks_for_a_remote_code_only_when_one_is_set() {
        let t = Topics::new("hall", "homeassistant");
        let plain = &hub_configs(&t, false, &[])[0].payload;
        assert!(plain.get("code").is_none());
        assert_eq!(plain["supported_features"], json!(["arm_away"]));
        let coded = &hub_configs(&t, true, &[])[0].payload;
        assert_eq!(coded["code"], "REMOTE_CODE");
        assert!(
            coded["command_template"]
                .as_str()
                .unwrap()
                .contains("{{ code }}")
        );
    }

    #[test]
    fn a_dropped_phone_is_stale_but_other_pis_configs_are_not() {
        let t = Topics::new("hall", "homeassistant");
        let wanted = hub_configs(&t, false, &[]);
        assert!(is_stale(
            &t,
            "homeassistant/device_tracker/hall/phone_a45e60000001/config",
            &wanted
        ));
        assert!(!is_stale(
            &t,
            "homeassistant/switch/hall/autoarm/config",
            &wanted
        ));
        assert!(!is_stale(
            &t,
            "homeassistant/device_tracker/garage/phone_a45e60000001/config",
            &wanted
        ));
    }
}
