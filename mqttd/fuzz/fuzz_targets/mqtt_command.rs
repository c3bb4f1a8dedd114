//! Messages on mqttd's command topics (anyone who may publish there can send anything):
//! parsing never panics, a payload over the limit is dropped unread, and what parses is one
//! of the commands that topic takes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secura_mqttd::commands::{Command, Dropped, MAX_COMMAND_PAYLOAD, parse};
use secura_mqttd::topics::Topics;

fuzz_target!(|data: &[u8]| {
    let t = Topics::new("hall", "homeassistant");
    // The first byte picks the topic: one of the three command topics, or another one.
    let Some((&pick, payload)) = data.split_first() else {
        return;
    };
    let topic = match pick % 4 {
        0 => t.alarm_set(),
        1 => t.autoarm_set(),
        2 => t.photo_press(),
        _ => t.alarm_state(),
    };
    match parse(&t, &topic, payload) {
        Ok(c) => {
            assert!(payload.len() <= MAX_COMMAND_PAYLOAD);
            let fits = match c {
                Command::ArmAway(_) | Command::Disarm(_) => topic == t.alarm_set(),
                Command::Enable | Command::Disable => topic == t.autoarm_set(),
                Command::Photo => topic == t.photo_press(),
            };
            assert!(fits, "{c:?} on {topic}");
            // An empty code is never passed on as a code.
            assert_ne!(c.code(), Some(""));
        }
        Err(Dropped::Oversized) => assert!(payload.len() > MAX_COMMAND_PAYLOAD),
        Err(Dropped::UnknownTopic) => assert_eq!(topic, t.alarm_state()),
        Err(Dropped::Malformed) => {}
    }
});
