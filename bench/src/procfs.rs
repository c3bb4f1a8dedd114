//! What /proc says about a running process: resident memory (`VmRSS`), CPU time
//! (`utime + stime` of the whole thread group, exited threads and waited-for children included) and context switches
//! (voluntary + involuntary, summed over its threads, which /proc/PID/status alone does not
//! do: there they are the main thread's only).

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

/// One reading of a process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// User + system CPU time, clock ticks.
    pub cpu_ticks: u64,
    /// Context switches (voluntary + involuntary) of each live thread, by thread id.
    pub switches: BTreeMap<u32, u64>,
}

impl Reading {
    /// Context switches between `self` (earlier) and `later`: for threads alive at both
    /// readings the difference, for threads born since all of theirs. Threads that exited in
    /// between are lost (an undercount, never an overcount).
    pub fn switches_until(&self, later: &Reading) -> u64 {
        later
            .switches
            .iter()
            .map(|(tid, n)| n.saturating_sub(self.switches.get(tid).copied().unwrap_or(0)))
            .sum()
    }
}

/// Read process `pid` now.
pub fn read(pid: u32) -> io::Result<Reading> {
    let base = Path::new("/proc").join(pid.to_string());
    let status = std::fs::read_to_string(base.join("status"))?;
    let stat = std::fs::read_to_string(base.join("stat"))?;
    let mut switches = BTreeMap::new();
    for task in std::fs::read_dir(base.join("task"))? {
        let task = task?;
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // A thread may exit between listing and reading: skip it.
        if let Ok(s) = std::fs::read_to_string(task.path().join("status")) {
            switches.insert(tid, context_switches(&s));
        }
    }
    Ok(Reading {
        rss_kib: status_kib(&status, "VmRSS").unwrap_or(0),
        cpu_ticks: cpu_ticks(&stat).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("/proc/{pid}/stat: {stat:?}"),
            )
        })?,
        switches,
    })
}

/// A `Key:   123 kB` line of a status file, in KiB.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status_number(status, key)
}

fn status_number(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k != key {
            return None;
        }
        v.split_whitespace().next()?.parse().ok()
    })
}

/// Voluntary + involuntary context switches from a status file.
fn context_switches(status: &str) -> u64 {
    ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"]
        .iter()
        .filter_map(|k| status_number(status, k))
        .sum()
}

/// `utime + stime + cutime + cstime` from a stat line: the whole thread group and its
/// waited-for children. The command name (field 2) may hold spaces and parentheses, so fields
/// are counted from its last `)`: they are fields 14 to 17.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields = rest.split_whitespace().skip(11).take(4);
    let mut sum = 0u64;
    let mut n = 0;
    for f in fields {
        sum += f.parse::<u64>().ok()?;
        n += 1;
    }
    (n == 4).then_some(sum)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux architecture this runs on).
pub fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_counted_after_a_command_name_with_spaces_and_parens() {
        let stat = "1234 (tokio (rt) w) S 1 1234 1234 0 -1 4194560 900 0 0 0 \
                    17 5 2 1 20 0 3 0 100 1000000 250 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(25));
        assert_eq!(cpu_ticks("1234 (x) S 1"), None);
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn status_fields_give_rss_and_both_kinds_of_switches() {
        let status = "Name:\tsecura-alarmd\nVmRSS:\t    6144 kB\n\
                      voluntary_ctxt_switches:\t40\nnonvoluntary_ctxt_switches:\t2\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(6144));
        assert_eq!(context_switches(status), 42);
        assert_eq!(status_kib("Name: x\n", "VmRSS"), None);
    }

    #[test]
    fn switches_count_surviving_and_new_threads_but_not_exited_ones() {
        let before = Reading {
            switches: BTreeMap::from([(1, 100), (2, 50), (3, 7)]),
            ..Reading::default()
        };
        let after = Reading {
            switches: BTreeMap::from([(1, 130), (2, 50), (4, 5)]),
            ..Reading::default()
        };
        assert_eq!(before.switches_until(&after), 30 + 5);
    }

    #[test]
    fn this_process_can_be_read() {
        let r = read(std::process::id()).unwrap();
        assert!(r.rss_kib > 0);
        assert!(!r.switches.is_empty());
    }
}
