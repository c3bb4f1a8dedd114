//! `Camera1.Snapshot` while the camera is off (disarmed): each call opens the (simulated)
//! camera for one frame and closes it again, timed from the call to the memfd in hand.

use crate::report::{Row, Section};
use crate::stats::Summary;
use crate::system::System;
use anyhow::{Context, Result, bail};
use secura_bus::proxies::Camera1Proxy;
use std::time::{Duration, Instant};
use zbus::proxy::CacheProperties;

/// Quiet time between calls, so each finds the camera closed again.
const GAP: Duration = Duration::from_millis(200);

/// Time `count` snapshots with the camera off.
pub async fn run(sys: &System, count: usize) -> Result<Section> {
    let camera = Camera1Proxy::builder(&sys.conn)
        .cache_properties(CacheProperties::No)
        .build()
        .await?;
    if camera.active().await.context("Camera1.Active")? {
        bail!("the camera is active while disarmed: the snapshot would not open it");
    }
    let mut ms = Vec::with_capacity(count);
    let mut bytes = Vec::with_capacity(count);
    for i in 0..count {
        let t0 = Instant::now();
        let (fd, _at) = camera
            .snapshot()
            .await
            .with_context(|| format!("Camera1.Snapshot {}", i + 1))?;
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
        let file = std::fs::File::from(std::os::fd::OwnedFd::from(fd));
        bytes.push(file.metadata().map_or(0.0, |m| m.len() as f64));
        tokio::time::sleep(GAP).await;
    }
    if camera.active().await.context("Camera1.Active")? {
        bail!("the camera stayed active after the snapshots");
    }
    let mut sec = Section::new("Snapshot with the camera off");
    sec.rows.push(Row::measured(
        "Camera1.Snapshot while disarmed (camera opened for one frame)",
        "ms",
        Summary::of(&ms).context("no snapshots")?,
    ));
    sec.rows.push(Row::measured(
        "JPEG size",
        "bytes",
        Summary::of(&bytes).context("no snapshots")?,
    ));
    sec.notes.push(format!(
        "{count} calls, {} ms apart, to the simulated camera at 1280×720 (camd --sim), from the \
         call to the memfd received; the camera is off before and after.",
        GAP.as_millis()
    ));
    Ok(sec)
}
