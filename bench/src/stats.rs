//! Summaries of repeated measurements: minimum, median, 99th percentile and maximum, by the
//! nearest-rank method (every value reported is one that was measured, never interpolated).

/// The spread of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Smallest sample.
    pub min: f64,
    /// 50th percentile (nearest rank).
    pub median: f64,
    /// 99th percentile (nearest rank); with fewer than 100 samples this is the maximum.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
    /// How many samples.
    pub n: usize,
}

impl Summary {
    /// Summarise `samples`; `None` when there are none (or any is NaN).
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.iter().any(|s| s.is_nan()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let min = *sorted.first()?;
        let max = *sorted.last()?;
        Some(Summary {
            min,
            median: nearest_rank(&sorted, 50)?,
            p99: nearest_rank(&sorted, 99)?,
            max,
            n: sorted.len(),
        })
    }
}

/// The `pct`th percentile of `sorted` (ascending) by nearest rank: the smallest sample with
/// at least `pct`% of the samples at or below it.
fn nearest_rank(sorted: &[f64], pct: usize) -> Option<f64> {
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_measured_values_by_nearest_rank() {
        let samples: Vec<f64> = (1..=200).rev().map(f64::from).collect();
        let s = Summary::of(&samples).unwrap();
        assert_eq!(
            (s.min, s.median, s.p99, s.max, s.n),
            (1.0, 100.0, 198.0, 200.0, 200)
        );
    }

    #[test]
    fn few_samples_give_the_maximum_as_p99_and_the_middle_as_median() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.p99, s.max), (1.0, 2.0, 3.0, 3.0));
        let one = Summary::of(&[7.5]).unwrap();
        assert_eq!(
            (one.min, one.median, one.p99, one.max, one.n),
            (7.5, 7.5, 7.5, 7.5, 1)
        );
    }

    #[test]
    fn no_samples_or_nan_give_no_summary() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[1.0, f64::NAN]), None);
    }
}
