//! The machine the figures were measured on: CPUs, CPU model, kernel, memory, OS, load and
//! date, read from /proc and /etc so the report can say where its numbers come from.

use std::path::Path;

/// What the report says about the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// CPUs this process may run on (`nproc`).
    pub cpus: usize,
    /// `model name` from /proc/cpuinfo (or `Model`/`Hardware` on ARM boards).
    pub cpu_model: String,
    /// Kernel release and architecture.
    pub kernel: String,
    /// `PRETTY_NAME` from /etc/os-release.
    pub os: String,
    /// Total memory in MiB.
    pub memory_mib: u64,
    /// When the run started, RFC 3339 UTC.
    pub date: String,
}

impl Machine {
    /// Describe this machine now.
    pub fn describe() -> Machine {
        let read = |p: &str| std::fs::read_to_string(Path::new(p)).unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model: cpu_model(&read("/proc/cpuinfo")),
            kernel: format!(
                "Linux {} {}",
                read("/proc/sys/kernel/osrelease").trim(),
                std::env::consts::ARCH
            ),
            os: os_name(&read("/etc/os-release")),
            memory_mib: mem_total_kib(&read("/proc/meminfo")) / 1024,
            date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        }
    }

    /// One line for the report.
    pub fn line(&self) -> String {
        format!(
            "{} CPUs ({}), {} MiB RAM, {}, {}",
            self.cpus, self.cpu_model, self.memory_mib, self.kernel, self.os
        )
    }
}

/// The 1-, 5- and 15-minute load averages, as /proc/loadavg writes them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn field<'a>(text: &'a str, key: &str, sep: char) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(sep)?;
        (k.trim() == key).then(|| v.trim())
    })
}

fn cpu_model(cpuinfo: &str) -> String {
    ["model name", "Model", "Hardware", "cpu model"]
        .iter()
        .find_map(|k| field(cpuinfo, k, ':'))
        .unwrap_or("unknown CPU")
        .to_string()
}

fn os_name(os_release: &str) -> String {
    field(os_release, "PRETTY_NAME", '=')
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "unknown OS".into())
}

fn mem_total_kib(meminfo: &str) -> u64 {
    field(meminfo, "MemTotal", ':')
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_comes_from_model_name_or_the_arm_board_fields() {
        assert_eq!(
            cpu_model("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t: fpu\n"),
            "AMD EPYC"
        );
        assert_eq!(
            cpu_model(
                "processor\t: 0\nBogoMIPS\t: 108\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
            ),
            "Raspberry Pi 4 Model B Rev 1.4"
        );
        assert_eq!(cpu_model(""), "unknown CPU");
    }

    #[test]
    fn os_and_memory_are_read_from_their_files() {
        assert_eq!(
            os_name("ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            "Debian GNU/Linux 12 (bookworm)"
        );
        assert_eq!(
            mem_total_kib("MemTotal:       24684544 kB\nMemFree: 1 kB\n"),
            24_684_544
        );
        assert_eq!(mem_total_kib("garbage"), 0);
    }
}
