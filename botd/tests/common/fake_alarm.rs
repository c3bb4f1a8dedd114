//! A small in-test `org.securapicam.Alarm1` for botd's tests while the real alarmd is not
//! there: the four commands as plain transitions, a history, a snapshot and the properties.

use secura_bus::{AlarmDevice, HistoryEntry};
use std::sync::{Arc, Mutex};
use zbus::interface;

/// What the fake has been told, for assertions.
#[derive(Debug, Default)]
pub struct Record {
    pub state: String,
    pub commands: Vec<(String, String)>,
    pub history: Vec<HistoryEntry>,
    pub snapshots: u32,
}

pub struct FakeAlarm {
    pub record: Arc<Mutex<Record>>,
    pub devices: Vec<AlarmDevice>,
    pub photo: Vec<u8>,
}

#[interface(name = "org.securapicam.Alarm1")]
impl FakeAlarm {
    async fn command_as(&self, command: String, actor: String) -> Result<(), secura_bus::Error> {
        let mut r = self.record.lock().unwrap();
        let next = match (command.as_str(), r.state.as_str()) {
            ("disable", _) => "disabled",
            ("enable", "disabled") => "disarmed",
            ("enable", s) => {
                return Err(secura_bus::Error::InvalidArgument(format!(
                    "already enabled ({s})"
                )));
            }
            (_, "disabled") => {
                return Err(secura_bus::Error::NotAvailable(
                    "the system is disabled; /enable it first".into(),
                ));
            }
            ("arm", _) => "armed",
            ("disarm", _) => "disarmed",
            _ => {
                return Err(secura_bus::Error::InvalidArgument(format!(
                    "unknown command {command}"
                )));
            }
        };
        r.commands.push((command.clone(), actor.clone()));
        r.state = next.to_string();
        r.history.insert(
            0,
            HistoryEntry {
                at: secura_bus::types::now_micros(),
                kind: "command".into(),
                text: format!("{command} → {next}"),
                actor,
            },
        );
        Ok(())
    }

    async fn snapshot_as(&self, actor: String) -> Result<zbus::OwnedFd, secura_bus::Error> {
        self.record
            .lock()
            .unwrap()
            .commands
            .push(("snapshot".into(), actor));
        self.snapshot().await
    }

    async fn snapshot(&self) -> Result<zbus::OwnedFd, secura_bus::Error> {
        self.record.lock().unwrap().snapshots += 1;
        let fd = secura_bus::fd::sealed_memfd("snapshot", &self.photo)
            .map_err(|e| secura_bus::Error::Hardware(e.to_string()))?;
        Ok(fd.into())
    }

    async fn history(&self, limit: u32) -> Vec<HistoryEntry> {
        let r = self.record.lock().unwrap();
        r.history.iter().take(limit as usize).cloned().collect()
    }

    #[zbus(property)]
    async fn state(&self) -> String {
        self.record.lock().unwrap().state.clone()
    }
    #[zbus(property)]
    async fn home(&self) -> bool {
        self.devices.iter().any(|d| d.present)
    }
    #[zbus(property)]
    async fn devices(&self) -> Vec<AlarmDevice> {
        self.devices.clone()
    }
    #[zbus(property)]
    async fn last_change(&self) -> u64 {
        1_764_000_000_000_000
    }
    #[zbus(property)]
    async fn last_reason(&self) -> String {
        "nobody seen for 10m, 3/3 ARP probes unanswered".into()
    }
    #[zbus(property)]
    async fn troubles(&self) -> Vec<String> {
        vec!["camd is not running".into()]
    }
}

/// Serve a fake alarm in state `state` on `bus`; keep the connection alive as long as needed.
pub async fn serve(
    bus: &secura_testbed::TestBus,
    state: &str,
) -> (zbus::Connection, Arc<Mutex<Record>>) {
    let record = Arc::new(Mutex::new(Record {
        state: state.into(),
        ..Record::default()
    }));
    let fake = FakeAlarm {
        record: Arc::clone(&record),
        devices: vec![AlarmDevice {
            name: "Alice".into(),
            mac: "aa:bb:cc:dd:ee:01".into(),
            present: false,
            last_seen: secura_bus::types::now_micros() - 600_000_000,
        }],
        photo: super::jpeg(64, 48, 7),
    };
    let conn = zbus::connection::Builder::address(bus.address())
        .serve_at(secura_bus::names::ALARM_PATH, fake)
        .name(secura_bus::names::ALARM_NAME)
        .build()
        .await
        .unwrap();
    (conn, record)
}
