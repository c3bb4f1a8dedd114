//! Alert latency: from the simulated PIR's rising edge (`Simulator1.Motion` on sensord) to the
//! moment the Bot API stand-in has read the whole album — through sensord's debouncer,
//! alarmd's state machine, camd's ring buffer and event storage, botd's durable outbox and
//! its upload — with the system armed by hand, one event after another.

use crate::report::{Goal, Row, Section};
use crate::stats::Summary;
use crate::system::{OWNER, System};
use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};

/// Goal: 99th percentile, ms.
const GOAL_P99_MS: f64 = 25.0;
/// Goal: CPU time of all five daemons per alert, above the armed idle baseline, ms.
const GOAL_CPU_MS: f64 = 3.0;
/// Longest wait for one album before the run is given up.
const ALBUM_TIMEOUT: Duration = Duration::from_secs(20);
/// Quiet time between events, so one event's tail (storage, outbox clean-up) is not the
/// next one's head.
const GAP: Duration = Duration::from_millis(100);

fn is_alert(c: &secura_testbed::telegram::Call) -> bool {
    c.chat == Some(OWNER)
        && (c.method == "sendMediaGroup" || c.method == "sendPhoto")
        && c.text
            .as_deref()
            .is_some_and(|t| t.starts_with("Motion detected"))
}

/// Arm by hand (unless armed already) and time `events` alerts. `baseline`, when known, is
/// what the five cost armed and idle (camd's capture for its ring): the CPU per alert is
/// given above it too.
pub async fn run(
    sys: &System,
    events: usize,
    baseline: Option<crate::footprint::Baseline>,
) -> Result<Section> {
    let alarm = sys.alarm().await?;
    let pir = sys.pir().await?;
    if alarm.state().await.context("Alarm1.State")? != "armed" {
        alarm.arm().await.context("Alarm1.Arm")?;
    }
    let armed = secura_testbed::eventually(Duration::from_secs(10), || async {
        alarm.state().await.is_ok_and(|s| s == "armed")
    })
    .await;
    if !armed {
        bail!("the alarm did not arm:\n{}", sys.log("secura-alarmd"));
    }
    let mut after = sys.tg.calls().last().map_or(0, |c| c.seq);
    let pids = sys.pids();
    let cpu_before = cpu_ticks(&pids)?;
    let each_before = each_cpu_ticks(&pids)?;
    let run_started = Instant::now();
    let mut latencies = Vec::with_capacity(events);
    let mut photos = Vec::with_capacity(events);
    for i in 0..events {
        let edge = Instant::now();
        pir.motion().await.context("Simulator1.Motion on sensord")?;
        let Some(album) = sys.tg.next_call(after, ALBUM_TIMEOUT, is_alert).await else {
            bail!(
                "event {}: no alert within {ALBUM_TIMEOUT:?}\n--- alarmd ---\n{}\n--- botd ---\n{}",
                i + 1,
                sys.log("secura-alarmd"),
                sys.log("secura-botd")
            );
        };
        latencies.push(album.received.saturating_duration_since(edge).as_secs_f64() * 1e3);
        photos.push(album.photos.len() as f64);
        after = album.seq;
        pir.motion_ended()
            .await
            .context("Simulator1.MotionEnded on sensord")?;
        tokio::time::sleep(GAP).await;
        if (i + 1) % 50 == 0 {
            eprintln!("  {} alerts", i + 1);
        }
    }
    let run_secs = run_started.elapsed().as_secs_f64();
    let hz = crate::procfs::ticks_per_second() as f64;
    let ticks = cpu_ticks(&pids)?.saturating_sub(cpu_before) as f64;
    let each_after = each_cpu_ticks(&pids)?;
    let cpu_ms = ticks * 1e3 / hz / events.max(1) as f64;
    let above_ms = baseline
        .map(|b| (ticks - b.ticks_per_s * run_secs).max(0.0) * 1e3 / hz / events.max(1) as f64);
    // Anything that went wrong on the way shows in the daemons' logs (info level, stderr).
    let retries = sys
        .log("secura-botd")
        .matches("delivery failed; will retry")
        .count();
    let capture_failures = sys.log("secura-alarmd").matches("capture failed").count();
    let s = Summary::of(&latencies).context("no alerts measured")?;
    let per_album = Summary::of(&photos).context("no alerts measured")?;
    let mut sec = Section::new("Alert latency");
    sec.rows.push(
        Row::measured("PIR edge → album received by the Bot API stand-in", "ms", s).with_goal(
            Goal::new(format!("p99 ≤ {GOAL_P99_MS} ms"), s.p99 <= GOAL_P99_MS),
        ),
    );
    sec.rows
        .push(Row::measured("photos per album", "photos", per_album));
    if let Some(cpu) = Summary::of(&[cpu_ms]) {
        let row = Row::measured("CPU time per alert, the five daemons together", "ms", cpu);
        sec.rows.push(match above_ms {
            Some(_) => row,
            None => row.with_goal(Goal::new(
                format!("≤ {GOAL_CPU_MS} ms"),
                cpu_ms <= GOAL_CPU_MS,
            )),
        });
    }
    if let Some(cpu) = above_ms.and_then(|a| Summary::of(&[a])) {
        sec.rows.push(
            Row::measured(
                "CPU time per alert above the armed idle baseline",
                "ms",
                cpu,
            )
            .with_goal(Goal::new(
                format!("≤ {GOAL_CPU_MS} ms"),
                cpu.median <= GOAL_CPU_MS,
            )),
        );
    }
    for (((name, _), b), a) in pids.iter().zip(&each_before).zip(&each_after) {
        let ms = a.saturating_sub(*b) as f64 * 1e3 / hz / events.max(1) as f64;
        if let Some(s) = Summary::of(&[ms]) {
            sec.rows.push(Row::measured(
                format!("CPU time per alert, {name}"),
                "ms",
                s,
            ));
        }
    }
    sec.notes.push(format!(
        "{} events, one every ~{} ms after the previous album arrived, across the release \
         daemons on a private bus (sensord, camd and botd with simulated hardware; the \
         sniffer {}). Bench configuration: manual Arm, exit_delay = verify = alert_cooldown = \
         \"0s\", sensor debounce = \"0s\", camera burst_count = 0 (the album is the \
         pre-trigger ring: fps 2 × pre_trigger 2 s at 1280×720); everything else default. \
         With the shipped defaults an alert also waits for the 50 ms debounce and the 4 × \
         500 ms burst, by design. During the run botd retried a delivery {} times and \
         alarmd saw {} failed captures. The CPU time per alert is utime + stime of the five \
         processes (their threads and waited-for children included) over the run, divided \
         by the events; it includes camd's continuous capture for its ring during the run, \
         which the row above the baseline takes out (the armed idle footprint's rate × the \
         run's {run_secs:.1} s).",
        events,
        GAP.as_millis(),
        sys.sniffer_mode,
        retries,
        capture_failures
    ));
    Ok(sec)
}

/// CPU time (clock ticks) the daemons have used so far, together.
fn cpu_ticks(pids: &[(&'static str, u32)]) -> Result<u64> {
    Ok(each_cpu_ticks(pids)?.iter().sum())
}

/// CPU time (clock ticks) each daemon has used so far.
fn each_cpu_ticks(pids: &[(&'static str, u32)]) -> Result<Vec<u64>> {
    pids.iter()
        .map(|(name, pid)| {
            crate::procfs::read(*pid)
                .map(|r| r.cpu_ticks)
                .with_context(|| format!("reading /proc/{pid} ({name})"))
        })
        .collect()
}
