//! Idle footprint: each daemon's resident memory, CPU time and context switches per second
//! while nothing happens, read from /proc in consecutive windows (the figures' spread is over
//! those windows), and the five together against the idle goal: disarmed (camera off) and
//! armed (camd capturing for its pre-trigger ring).

use crate::procfs::{self, Reading};
use crate::report::{Goal, Row, Section};
use crate::stats::Summary;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Goal: RSS of each daemon, MiB (botd has its own).
const GOAL_RSS_MIB: f64 = 8.0;
const GOAL_RSS_BOTD_MIB: f64 = 12.0;
/// Goal: all five together, percent of one core, disarmed (camera off) and armed.
pub const GOAL_CPU_PCT_DISARMED: f64 = 0.1;
pub const GOAL_CPU_PCT_ARMED: f64 = 1.0;

/// What the system is doing while it idles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Disarmed: the camera is off; nothing should wake.
    Disarmed,
    /// Armed: camd captures for its ring (only camd should wake).
    Armed,
}

impl Idle {
    fn goal_pct(self) -> f64 {
        match self {
            Idle::Disarmed => GOAL_CPU_PCT_DISARMED,
            Idle::Armed => GOAL_CPU_PCT_ARMED,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Idle::Disarmed => "disarmed",
            Idle::Armed => "armed",
        }
    }
}

/// What an idle window measured, for the alert run to subtract.
#[derive(Debug, Clone, Copy)]
pub struct Baseline {
    /// CPU of all five together, clock ticks per second.
    pub ticks_per_s: f64,
}

/// Per-daemon series over the windows.
#[derive(Debug, Default)]
struct Series {
    rss_mib: Vec<f64>,
    cpu_pct: Vec<f64>,
    switches_per_s: Vec<f64>,
}

/// Watch `pids` for `windows` windows of `window` each, doing nothing else, the system being
/// `state`.
pub async fn idle(
    pids: &[(&'static str, u32)],
    windows: usize,
    window: Duration,
    state: Idle,
) -> Result<(Section, Baseline)> {
    let goal_cpu_pct = state.goal_pct();
    let hz = procfs::ticks_per_second() as f64;
    let mut series: BTreeMap<&str, Series> = BTreeMap::new();
    let mut total_cpu = Vec::new();
    let mut total_ticks = 0u64;
    // camd captures all the time by design (the pre-trigger ring): the others apart.
    let mut others_cpu = Vec::new();
    let mut others_ticks = 0u64;
    let started = Instant::now();
    let mut before = read_all(pids)?;
    for w in 0..windows.max(1) {
        let t0 = Instant::now();
        tokio::time::sleep(window).await;
        let after = read_all(pids)?;
        let secs = t0.elapsed().as_secs_f64();
        let (mut window_ticks, mut window_others) = (0, 0);
        for ((name, _), (b, a)) in pids.iter().zip(before.iter().zip(&after)) {
            let ticks = a.cpu_ticks.saturating_sub(b.cpu_ticks);
            window_ticks += ticks;
            if *name != "secura-camd" {
                window_others += ticks;
            }
            let s = series.entry(name).or_default();
            s.rss_mib.push(a.rss_kib as f64 / 1024.0);
            s.cpu_pct.push(ticks as f64 / hz / secs * 100.0);
            s.switches_per_s.push(b.switches_until(a) as f64 / secs);
        }
        total_ticks += window_ticks;
        total_cpu.push(window_ticks as f64 / hz / secs * 100.0);
        others_ticks += window_others;
        others_cpu.push(window_others as f64 / hz / secs * 100.0);
        eprintln!(
            "  idle window {}/{} ({}): {:.3}% of a core for all five",
            w + 1,
            windows,
            state.label(),
            window_ticks as f64 / hz / secs * 100.0
        );
        before = after;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut sec = Section::new(match state {
        Idle::Disarmed => "Idle footprint, disarmed (camera off)",
        Idle::Armed => "Idle footprint, armed (camera capturing)",
    });
    for (name, _) in pids {
        if state == Idle::Armed {
            break;
        }
        let Some(s) = series.get(name) else { continue };
        let rss = Summary::of(&s.rss_mib).context("no RSS readings")?;
        let limit = if *name == "secura-botd" {
            GOAL_RSS_BOTD_MIB
        } else {
            GOAL_RSS_MIB
        };
        sec.rows.push(
            Row::measured(format!("{name} RSS"), "MiB", rss)
                .with_goal(Goal::new(format!("≤ {limit} MiB"), rss.max <= limit)),
        );
    }
    for (name, _) in pids {
        let Some(s) = series.get(name) else { continue };
        sec.rows.push(Row::measured(
            format!("{name} CPU"),
            "% of a core",
            Summary::of(&s.cpu_pct).context("no CPU readings")?,
        ));
        let wakes = Summary::of(&s.switches_per_s).context("no switch readings")?;
        let row = Row::measured(format!("{name} wake-ups (context switches)"), "/s", wakes);
        // camd captures while armed; botd's Bot API long poll ends (and is renewed) every
        // 25 s by design: both are reported without the 0/s goal.
        let exempt = (state == Idle::Armed && *name == "secura-camd") || *name == "secura-botd";
        sec.rows.push(if exempt {
            row
        } else {
            row.with_goal(Goal::new("0/s", wakes.max == 0.0))
        });
    }
    let whole = total_ticks as f64 / hz / elapsed * 100.0;
    sec.rows.push(
        Row::measured(
            "all five CPU",
            "% of a core",
            Summary::of(&total_cpu).context("no CPU readings")?,
        )
        .with_goal(Goal::new(
            format!("≤ {goal_cpu_pct}% ({:.0} s mean: {whole:.3}%)", elapsed),
            whole <= goal_cpu_pct,
        )),
    );
    let others = others_ticks as f64 / hz / elapsed * 100.0;
    sec.rows.push(
        Row::measured(
            "the four but camd, CPU",
            "% of a core",
            Summary::of(&others_cpu).context("no CPU readings")?,
        )
        .with_goal(Goal::new(
            format!("(≤ {GOAL_CPU_PCT_DISARMED}%: {elapsed:.0} s mean {others:.3}%)"),
            others <= GOAL_CPU_PCT_DISARMED,
        )),
    );
    sec.notes.push(format!(
        "{} windows of {} s after start-up settled; spread is over the windows, RSS is VmRSS \
         at each window's end and the goal is held against the largest. CPU is utime + \
         stime of the whole process (resolution 1/{hz:.0} s: {:.3}% of a core per window); \
         wake-ups are context switches, voluntary + involuntary, summed over every thread \
         (goal 0/s; botd's are its Bot API long poll, renewed every 25 s, camd's while armed \
         its capture).",
        windows.max(1),
        window.as_secs(),
        100.0 / hz / window.as_secs_f64().max(1.0)
    ));
    let baseline = Baseline {
        ticks_per_s: total_ticks as f64 / elapsed.max(f64::MIN_POSITIVE),
    };
    Ok((sec, baseline))
}

/// RSS of every daemon now, as rows (after the alert run: what work leaves behind).
pub fn rss_rows(pids: &[(&'static str, u32)], after: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for ((name, _), r) in pids.iter().zip(read_all(pids)?) {
        let mib = r.rss_kib as f64 / 1024.0;
        let s = Summary::of(&[mib]).context("no reading")?;
        rows.push(Row::measured(format!("{name} RSS after {after}"), "MiB", s));
    }
    Ok(rows)
}

fn read_all(pids: &[(&'static str, u32)]) -> Result<Vec<Reading>> {
    pids.iter()
        .map(|(name, pid)| {
            procfs::read(*pid)
                .with_context(|| format!("reading /proc/{pid} ({name}): has it exited?"))
        })
        .collect()
}
