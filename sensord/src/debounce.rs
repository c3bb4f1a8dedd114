//! Turning the raw edges of a PIR output into clean motion starts and ends.
//!
//! The filter is a pure state machine over monotonic time (a [`Duration`] since the daemon
//! started), so it is tested on synthetic edge sequences without a clock or a pin:
//!
//! - **Chatter.** Cheap HC-SR501 modules bounce on their edges. A level counts only once it has
//!   held for `debounce` with no further edge; a burst of edges closer together than that is one
//!   transition, dated at the burst's first edge (when the motion really began).
//! - **Retrigger.** The module holds its output high for its hold time and extends it while
//!   motion continues; that is one long high level and one `Motion`. A short dip (shorter than
//!   `debounce`) inside it is chatter, not a new motion.
//! - **Warm-up.** For 30–60 s after power-up the module's output is meaningless. Edges before
//!   the warm-up ends are not reported; at its end the level then present becomes the baseline
//!   silently, so a settling module never raises an alarm.

use std::time::Duration;

/// What the filter concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The warm-up is over; the PIR output is `high` now. Not a motion.
    Baseline {
        /// The settled level.
        high: bool,
    },
    /// A debounced rising edge: motion began at `at`.
    Rose {
        /// The first edge of the burst that ended high.
        at: Duration,
    },
    /// A debounced falling edge: the PIR output fell at `at`.
    Fell {
        /// The first edge of the burst that ended low.
        at: Duration,
    },
}

/// The debounce and warm-up filter.
#[derive(Debug, Clone)]
pub struct Debouncer {
    debounce: Duration,
    warmup_end: Duration,
    /// The accepted level; `None` until the warm-up is over.
    stable: Option<bool>,
    /// The level the input last reported.
    raw: bool,
    /// The last raw edge.
    last_edge: Option<Duration>,
    /// The first edge of the current burst (edges each within `debounce` of the previous).
    burst_start: Duration,
}

impl Debouncer {
    /// A filter for an input that reads `initial` at `start`, ignoring edges until
    /// `start + warmup`.
    pub fn new(debounce: Duration, warmup: Duration, initial: bool, start: Duration) -> Self {
        Debouncer {
            debounce,
            warmup_end: start.saturating_add(warmup),
            stable: None,
            raw: initial,
            last_edge: None,
            burst_start: start,
        }
    }

    /// The accepted level (`false` during the warm-up).
    pub fn active(&self) -> bool {
        self.stable.unwrap_or(false)
    }

    /// Whether edges are still being ignored at `now`.
    pub fn warming_up(&self, now: Duration) -> bool {
        self.stable.is_none() && now < self.warmup_end
    }

    /// The input reports its level is now `high` (an edge, or a level read after a reconnect).
    /// A level equal to the last one reported is not an edge.
    pub fn edge(&mut self, high: bool, at: Duration) {
        if high == self.raw {
            return;
        }
        let continues_burst = self
            .last_edge
            .is_some_and(|last| at.saturating_sub(last) < self.debounce);
        if !continues_burst {
            self.burst_start = at;
        }
        self.raw = high;
        self.last_edge = Some(at);
    }

    /// When [`Debouncer::poll`] has something to decide; `None` when nothing is pending.
    pub fn deadline(&self) -> Option<Duration> {
        match self.stable {
            None => Some(self.warmup_end),
            Some(level) if level != self.raw => Some(
                self.last_edge
                    .unwrap_or(self.warmup_end)
                    .saturating_add(self.debounce),
            ),
            Some(_) => None,
        }
    }

    /// Decide what happened by `now`; at most one output per call (call again until `None`).
    pub fn poll(&mut self, now: Duration) -> Option<Output> {
        let Some(stable) = self.stable else {
            if now < self.warmup_end {
                return None;
            }
            self.stable = Some(self.raw);
            // Chatter still settling at the end of the warm-up belongs to the warm-up.
            self.last_edge = None;
            return Some(Output::Baseline { high: self.raw });
        };
        if stable == self.raw {
            return None;
        }
        let settled_at = self.last_edge.map(|e| e.saturating_add(self.debounce));
        if settled_at.is_some_and(|t| now < t) {
            return None;
        }
        self.stable = Some(self.raw);
        let at = self.burst_start;
        Some(if self.raw {
            Output::Rose { at }
        } else {
            Output::Fell { at }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Feed `(time_ms, level)` edges, polling at each edge and at every deadline, and collect
    /// what comes out up to `end_ms`.
    fn run(deb: &mut Debouncer, edges: &[(u64, bool)], end_ms: u64) -> Vec<Output> {
        let mut out = Vec::new();
        let drain = |deb: &mut Debouncer, now: Duration, out: &mut Vec<Output>| {
            while let Some(d) = deb.deadline() {
                if d > now {
                    break;
                }
                match deb.poll(d) {
                    Some(o) => out.push(o),
                    None => break,
                }
            }
        };
        for &(t, level) in edges {
            drain(deb, ms(t), &mut out);
            deb.edge(level, ms(t));
        }
        drain(deb, ms(end_ms), &mut out);
        out
    }

    fn settled(debounce: u64) -> Debouncer {
        let mut d = Debouncer::new(ms(debounce), Duration::ZERO, false, Duration::ZERO);
        assert_eq!(
            d.poll(Duration::ZERO),
            Some(Output::Baseline { high: false })
        );
        d
    }

    #[test]
    fn clean_pulse_gives_one_motion_and_one_end() {
        let mut d = settled(50);
        let out = run(&mut d, &[(1000, true), (4000, false)], 10_000);
        assert_eq!(
            out,
            vec![Output::Rose { at: ms(1000) }, Output::Fell { at: ms(4000) }]
        );
        assert!(!d.active());
    }

    #[test]
    fn chatter_on_the_rising_edge_is_one_motion_dated_at_its_first_edge() {
        let mut d = settled(50);
        let edges = [
            (1000, true),
            (1003, false),
            (1010, true),
            (1020, false),
            (1031, true),
        ];
        let out = run(&mut d, &edges, 5000);
        assert_eq!(out, vec![Output::Rose { at: ms(1000) }]);
        assert!(d.active());
    }

    #[test]
    fn a_glitch_shorter_than_debounce_is_no_motion() {
        let mut d = settled(50);
        let out = run(&mut d, &[(1000, true), (1020, false)], 5000);
        assert!(out.is_empty(), "{out:?}");
        assert!(!d.active());
    }

    #[test]
    fn a_retriggered_hold_with_a_short_dip_stays_one_motion() {
        let mut d = settled(50);
        // High for its hold time, a 10 ms dip, still high, then the real end.
        let edges = [(1000, true), (3500, false), (3510, true), (9000, false)];
        let out = run(&mut d, &edges, 12_000);
        assert_eq!(
            out,
            vec![Output::Rose { at: ms(1000) }, Output::Fell { at: ms(9000) }]
        );
    }

    #[test]
    fn single_trigger_mode_low_block_time_gives_a_second_motion() {
        let mut d = settled(50);
        // HC-SR501 in "L" mode: low for its ~3 s block time between triggers.
        let edges = [(1000, true), (4000, false), (7000, true), (9000, false)];
        let out = run(&mut d, &edges, 12_000);
        assert_eq!(
            out,
            vec![
                Output::Rose { at: ms(1000) },
                Output::Fell { at: ms(4000) },
                Output::Rose { at: ms(7000) },
                Output::Fell { at: ms(9000) },
            ]
        );
    }

    #[test]
    fn edges_during_warmup_are_ignored_and_the_settled_level_is_a_silent_baseline() {
        let mut d = Debouncer::new(ms(50), ms(30_000), false, Duration::ZERO);
        let edges = [(100, true), (5000, false), (20_000, true), (29_000, false)];
        let out = run(&mut d, &edges, 30_000);
        assert_eq!(out, vec![Output::Baseline { high: false }]);
        assert!(!d.active());
        assert!(!d.warming_up(ms(30_000)));
        // The first edge after the warm-up is a motion.
        let out = run(&mut d, &[(31_000, true)], 32_000);
        assert_eq!(out, vec![Output::Rose { at: ms(31_000) }]);
    }

    #[test]
    fn high_at_the_end_of_warmup_is_active_without_a_motion() {
        let mut d = Debouncer::new(ms(50), ms(1000), false, Duration::ZERO);
        let out = run(&mut d, &[(900, true)], 2000);
        assert_eq!(out, vec![Output::Baseline { high: true }]);
        assert!(d.active());
        let out = run(&mut d, &[(2500, false)], 3000);
        assert_eq!(out, vec![Output::Fell { at: ms(2500) }]);
    }

    #[test]
    fn nothing_is_decided_before_the_level_has_held_for_debounce() {
        let mut d = settled(50);
        d.edge(true, ms(1000));
        assert_eq!(d.deadline(), Some(ms(1050)));
        assert_eq!(d.poll(ms(1049)), None);
        assert_eq!(d.poll(ms(1050)), Some(Output::Rose { at: ms(1000) }));
        assert_eq!(d.deadline(), None);
    }

    #[test]
    fn repeated_reports_of_the_same_level_are_not_edges() {
        let mut d = settled(50);
        let out = run(&mut d, &[(1000, true), (1040, true), (1080, true)], 2000);
        assert_eq!(out, vec![Output::Rose { at: ms(1000) }]);
    }
}
