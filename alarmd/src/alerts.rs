//! Telling the bus that an alert went out: the `Alarm1.Alerted` signal and what
//! `Alarm1.LastAlert()` returns (the last alert's first photo), so mqttd can show Home
//! Assistant a `triggered` alarm and the "Last alert" image without asking botd.
//!
//! Kept apart from the courier: the core calls [`announce`] where it hands an alert to botd.

use crate::service::AlarmService;
use secura_bus::names;
use std::sync::{Arc, Mutex};
use tracing::warn;
use zbus::OwnedFd;

/// Photos larger than this are not kept for `LastAlert` (camd's JPEGs are far smaller).
const PHOTO_LIMIT: u64 = 16 << 20;

/// The last alert since alarmd started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alerted {
    /// The event (camd's event id).
    pub event: u64,
    /// When its motion was (the time its caption shows), µs since the epoch.
    pub at: u64,
    /// Its caption, as the owners got it.
    pub caption: String,
    /// Its first photo's JPEG bytes, if it had photos.
    pub photo: Option<Vec<u8>>,
}

/// Shared between the core (which writes it) and the served object (which reads it).
#[derive(Debug, Clone, Default)]
pub struct LastAlert(Arc<Mutex<Option<Alerted>>>);

impl LastAlert {
    /// The last alert, if any.
    pub fn get(&self) -> Option<Alerted> {
        match self.0.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set(&self, a: Alerted) {
        match self.0.lock() {
            Ok(mut g) => *g = Some(a),
            Err(p) => *p.into_inner() = Some(a),
        }
    }
}

/// The bytes of a photo fd, read at explicit offsets: the fd's file description is shared
/// with the copy on its way to botd, so its position must not move under either reader.
fn copy(fd: &OwnedFd) -> std::io::Result<Vec<u8>> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::from(fd.as_fd().try_clone_to_owned()?);
    let len = file.metadata()?.len();
    if len > PHOTO_LIMIT {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a photo of {len} bytes is over the {PHOTO_LIMIT}-byte limit"),
        ));
    }
    let mut buf = vec![0; usize::try_from(len).unwrap_or(0)];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

/// Remember the alert of `event`, whose motion was at `at` (µs since the epoch), with a copy of its
/// first photo, and emit `Alerted`.
pub async fn announce(
    conn: &zbus::Connection,
    event: u64,
    at: u64,
    caption: &str,
    first: Option<&OwnedFd>,
) {
    let photo = first.and_then(|fd| match copy(fd) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            warn!(event, error = %e, "cannot keep the alert's first photo for LastAlert");
            None
        }
    });
    let Ok(iface) = conn
        .object_server()
        .interface::<_, AlarmService>(names::ALARM_PATH)
        .await
    else {
        return;
    };
    iface.get().await.last_alert.set(Alerted {
        event,
        at,
        caption: caption.to_string(),
        photo,
    });
    if let Err(e) = AlarmService::alerted(iface.signal_emitter(), event, at, caption).await {
        warn!(error = %e, "cannot emit Alerted");
    }
}
