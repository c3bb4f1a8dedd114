//! The results table: one row per figure with min / median / p99 / max over its repeated
//! runs, the goal it is held against and whether it was met, plus notes; rendered as Markdown
//! (readable as plain text on a terminal, and pasted as is into the README).

use crate::machine::Machine;
use crate::stats::Summary;
use std::fmt::Write as _;

/// A goal from the benchmark issue and whether this run met it.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    /// How the goal reads, e.g. `p99 ≤ 25 ms`.
    pub text: String,
    /// Whether the measurement met it.
    pub met: bool,
}

impl Goal {
    /// Goal `text`, met when `met`.
    pub fn new(text: impl Into<String>, met: bool) -> Goal {
        Goal {
            text: text.into(),
            met,
        }
    }
}

/// What a row holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    /// Repeated measurements.
    Measured(Summary),
    /// Not measured, with the reason.
    Skipped(String),
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What was measured.
    pub metric: String,
    /// Its unit.
    pub unit: String,
    /// The figures.
    pub figure: Figure,
    /// The goal, if the issue sets one for this figure.
    pub goal: Option<Goal>,
}

impl Row {
    /// A measured row without a goal.
    pub fn measured(metric: impl Into<String>, unit: &str, summary: Summary) -> Row {
        Row {
            metric: metric.into(),
            unit: unit.to_string(),
            figure: Figure::Measured(summary),
            goal: None,
        }
    }

    /// A row that could not be measured here.
    pub fn skipped(metric: impl Into<String>, reason: impl Into<String>) -> Row {
        Row {
            metric: metric.into(),
            unit: String::new(),
            figure: Figure::Skipped(reason.into()),
            goal: None,
        }
    }

    /// The same row held against `goal`.
    pub fn with_goal(mut self, goal: Goal) -> Row {
        self.goal = Some(goal);
        self
    }
}

/// A titled group of rows with its notes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Section {
    /// Heading.
    pub title: String,
    /// The rows.
    pub rows: Vec<Row>,
    /// How it was measured, and why a goal was missed.
    pub notes: Vec<String>,
}

impl Section {
    /// An empty section titled `title`.
    pub fn new(title: &str) -> Section {
        Section {
            title: title.to_string(),
            ..Section::default()
        }
    }
}

/// A number for a table cell: whole numbers grouped in thousands, small ones to 3 significant
/// digits.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v.abs() >= 1000.0 {
        let digits = format!("{:.0}", v.abs());
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        return if v < 0.0 {
            format!("-{grouped}")
        } else {
            grouped
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let decimals = match v.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        a if a >= 0.1 => 3,
        a if a >= 0.01 => 4,
        _ => 5,
    };
    format!("{v:.decimals$}")
}

/// The whole report as Markdown.
pub fn render(machine: &Machine, load: (&str, &str), sections: &[Section]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Benchmarks ({})\n", machine.date);
    let _ = writeln!(out, "Machine: {}.  ", machine.line());
    let _ = writeln!(
        out,
        "Load average at start: {}; at the end: {} (the machine may be shared).\n",
        load.0, load.1
    );
    for s in sections {
        let _ = writeln!(out, "### {}\n", s.title);
        if !s.rows.is_empty() {
            out.push_str("| measurement | unit | min | median | p99 | max | n | goal |\n");
            out.push_str("|---|---|--:|--:|--:|--:|--:|---|\n");
            for r in &s.rows {
                out.push_str(&row_line(r));
            }
            out.push('\n');
        }
        for n in &s.notes {
            let _ = writeln!(out, "- {n}");
        }
        if !s.notes.is_empty() {
            out.push('\n');
        }
    }
    let missed: Vec<&str> = sections
        .iter()
        .flat_map(|s| &s.rows)
        .filter(|r| r.goal.as_ref().is_some_and(|g| !g.met))
        .map(|r| r.metric.as_str())
        .collect();
    if missed.is_empty() {
        out.push_str("Every goal measured here was met.\n");
    } else {
        let _ = writeln!(out, "Goals missed: {}.", missed.join("; "));
    }
    out
}

fn row_line(r: &Row) -> String {
    let goal = match &r.goal {
        Some(g) if g.met => format!("{}: met", g.text),
        Some(g) => format!("{}: **missed**", g.text),
        None => String::new(),
    };
    match &r.figure {
        Figure::Measured(s) => format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.metric,
            r.unit,
            number(s.min),
            number(s.median),
            number(s.p99),
            number(s.max),
            s.n,
            goal
        ),
        Figure::Skipped(why) => {
            format!("| {} | | skipped: {} | | | | | {} |\n", r.metric, why, goal)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_or_rounded_to_three_digits() {
        assert_eq!(number(3_512_410.4), "3,512,410");
        assert_eq!(number(1000.0), "1,000");
        assert_eq!(number(-12_345.0), "-12,345");
        assert_eq!(number(123.4), "123");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(1.2345), "1.23");
        assert_eq!(number(0.012_34), "0.0123");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(f64::NAN), "-");
    }

    #[test]
    fn the_table_marks_missed_goals_and_lists_them_at_the_end() {
        let m = Machine {
            cpus: 2,
            cpu_model: "AMD EPYC".into(),
            kernel: "Linux 6.1 x86_64".into(),
            os: "Debian".into(),
            memory_mib: 1024,
            date: "2026-11-24T05:00:00Z".into(),
        };
        let s = Summary::of(&[20.0, 30.0]).unwrap();
        let mut sec = Section::new("Alert latency");
        sec.rows.push(
            Row::measured("alert latency", "ms", s).with_goal(Goal::new("p99 ≤ 25 ms", false)),
        );
        sec.rows
            .push(Row::skipped("presence latency", "needs root"));
        sec.notes.push("bench config: verify = 0s".into());
        let text = render(&m, ("0.5 0.4 0.3", "1.0 0.8 0.5"), &[sec]);
        assert!(
            text.contains(
                "| alert latency | ms | 20.0 | 20.0 | 30.0 | 30.0 | 2 | p99 ≤ 25 ms: **missed** |"
            ),
            "{text}"
        );
        assert!(text.contains("skipped: needs root"), "{text}");
        assert!(text.contains("- bench config: verify = 0s"), "{text}");
        assert!(text.contains("Goals missed: alert latency."), "{text}");
        assert!(text.contains("2 CPUs (AMD EPYC)"), "{text}");
    }
}
