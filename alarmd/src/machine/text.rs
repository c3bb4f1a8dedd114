//! The words of notices and history rows, in one place.

use secura_bus::types::Micros;
use std::time::Duration;

/// `600_000_000` → `10m`.
pub fn dur(us: Micros) -> String {
    let secs = us / 1_000_000;
    if secs == 0 && us > 0 {
        return format!("{}ms", us / 1000);
    }
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// A person's name list: "Alice", "Alice and Bob", "Alice, Bob and Carol".
pub fn names(list: &[String]) -> String {
    match list {
        [] => "nobody".into(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
