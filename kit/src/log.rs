//! Logging: to the journal under systemd, to stderr at a terminal, to stdout with `--debug`.
//!
//! Under systemd the lines go to stderr, which the journal reads, each with its syslog
//! priority as a `<N>` prefix (sd-daemon(3)), and with every field written into the line
//! (`state changed old=armed new=disarmed reason="…"`): `journalctl -u secura-alarmd` then
//! shows the facts, not bare words whose details only `-o verbose` would reveal.

use std::fmt;
use std::io::IsTerminal;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Start logging for a daemon. `debug` logs everything from debug level up to stdout;
/// `RUST_LOG` overrides the level.
pub fn init(debug: bool) {
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if debug {
        // Colour only at a terminal: a log file (the demo's, a test's) stays plain text.
        let _ = builder
            .with_ansi(std::io::stdout().is_terminal())
            .with_writer(std::io::stdout)
            .try_init();
        return;
    }
    if under_journal() {
        let _ = builder
            .event_format(journal_format())
            .with_writer(std::io::stderr)
            .try_init();
        return;
    }
    let _ = builder
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// A line for the journal: priority prefix, message, fields; no time, level or colour (the
/// journal records those itself).
fn journal_format()
-> Priority<tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Full, ()>> {
    Priority(
        tracing_subscriber::fmt::format()
            .without_time()
            .with_target(false)
            .with_level(false)
            .with_ansi(false),
    )
}

/// Whether stderr goes to the journal (systemd sets these for its services).
fn under_journal() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some() || std::env::var_os("INVOCATION_ID").is_some()
}

/// The syslog priority journald reads from a `<N>` line prefix.
fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// A format that puts the event's syslog priority before the line.
struct Priority<F>(F);

impl<S, N, F> FormatEvent<S, N> for Priority<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn journal_lines_carry_the_priority_and_every_field() {
        let buf = Buf::default();
        let out = buf.clone();
        let sub = tracing_subscriber::fmt()
            .event_format(journal_format())
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(sub, || {
            tracing::warn!(old = "armed", new = "disarmed", "state changed");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text.trim_end(),
            "<4>state changed old=\"armed\" new=\"disarmed\""
        );
    }
}
