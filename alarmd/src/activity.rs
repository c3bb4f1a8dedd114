//! The camera runs only while it can matter: alarmd makes camd active (`Camera1.SetActive`)
//! while the alarm is arming, armed or verifying, and inactive while it is disarmed or
//! disabled, so the camera is off while the owners are home. camd starts inactive, so the
//! wanted state is sent at start (from the restored state) and again whenever camd (re)appears
//! on the bus. camd not answering is logged, never fatal: photos still work, only slower.

use futures_util::StreamExt;
use secura_bus::State;
use secura_bus::names::Service;
use secura_bus::proxies::Camera1Proxy;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{debug, info, warn};
use zbus::fdo::DBusProxy;

/// How long `SetActive` may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether the camera should be active in the bus state `state`.
pub fn camera_wanted(state: &str) -> bool {
    matches!(
        State::parse(state),
        Some(State::Arming | State::Armed | State::Verifying)
    )
}

/// Tell camd what `wanted` says, now, on every change, and whenever camd gets a new owner.
pub async fn drive_camera(
    conn: zbus::Connection,
    camera: Camera1Proxy<'static>,
    mut wanted: watch::Receiver<bool>,
) {
    let name = Service::Camera.bus_name();
    let owners = match DBusProxy::new(&conn).await {
        Ok(dbus) => {
            dbus.receive_name_owner_changed_with_args(&[(0, name)])
                .await
        }
        Err(e) => Err(e),
    };
    let mut owners = match owners {
        Ok(s) => Some(s),
        Err(e) => {
            warn!(error = %e, "cannot follow camd on the bus; it is told only on state changes");
            None
        }
    };
    let mut want = *wanted.borrow_and_update();
    tell(&camera, want).await;
    loop {
        tokio::select! {
            changed = wanted.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = *wanted.borrow_and_update();
                if now != want {
                    want = now;
                    tell(&camera, want).await;
                }
            }
            change = next_owner(&mut owners) => match change {
                Some(true) => {
                    info!(active = want, "camd appeared on the bus; telling it whether to watch");
                    tell(&camera, want).await;
                }
                Some(false) => {}
                None => owners = None,
            },
        }
    }
}

/// The next owner change of camd's name: `Some(true)` when it has a new owner.
async fn next_owner(owners: &mut Option<zbus::fdo::NameOwnerChangedStream>) -> Option<bool> {
    match owners {
        Some(s) => s
            .next()
            .await
            .map(|c| c.args().is_ok_and(|a| a.new_owner.is_some())),
        None => std::future::pending().await,
    }
}

async fn tell(camera: &Camera1Proxy<'static>, active: bool) {
    match tokio::time::timeout(CALL_TIMEOUT, camera.set_active(active)).await {
        Ok(Ok(())) => info!(active, "camera {}", if active { "on" } else { "off" }),
        Ok(Err(zbus::Error::MethodError(name, _, _)))
            if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown" =>
        {
            debug!(active, "camd is not on the bus; it is told when it appears");
        }
        Ok(Err(e)) => warn!(active, error = %e, "cannot switch the camera"),
        Err(_) => warn!(
            active,
            "camd did not answer SetActive within {CALL_TIMEOUT:?}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_camera_is_wanted_only_while_arming_armed_or_verifying() {
        for (state, wanted) in [
            ("disabled", false),
            ("disarmed", false),
            ("arming", true),
            ("armed", true),
            ("verifying", true),
            ("", false),
        ] {
            assert_eq!(camera_wanted(state), wanted, "{state}");
        }
    }
}
