//! The watchdog of a camera child process: it kills a child that writes nothing for
//! [`SILENCE_LIMIT`], so a wedged camera pipeline ends like a crash and is restarted.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A child silent this long (including its start-up) is killed.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Watched {
    /// The child's pid while it is not yet reaped.
    pid: Option<i32>,
    last_output: Instant,
    killed: bool,
}

/// Kills a child that writes nothing for [`SILENCE_LIMIT`]. The pid is cleared under the lock
/// before the child is reaped, so the watchdog never signals a reused pid.
#[derive(Debug, Clone)]
pub struct Silence(Arc<(Mutex<Watched>, Condvar)>);

impl Silence {
    /// Watch the child with `pid`.
    pub fn start(pid: u32) -> Silence {
        let s = Silence(Arc::new((
            Mutex::new(Watched {
                pid: i32::try_from(pid).ok(),
                last_output: Instant::now(),
                killed: false,
            }),
            Condvar::new(),
        )));
        let watcher = s.clone();
        let _ = std::thread::Builder::new()
            .name("rpicam-watchdog".into())
            .spawn(move || watcher.run());
        s
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Watched> {
        self.0.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self) {
        let mut w = self.lock();
        while let Some(pid) = w.pid {
            if w.last_output.elapsed() >= SILENCE_LIMIT {
                tracing::warn!(
                    pid,
                    "camera child wrote nothing for {}s: killing it",
                    SILENCE_LIMIT.as_secs()
                );
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                w.killed = true;
                return;
            }
            w = match self.0.1.wait_timeout(w, Duration::from_millis(500)) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The child wrote something.
    pub fn output(&self) {
        self.lock().last_output = Instant::now();
    }

    /// Stop watching (before reaping); whether the watchdog killed the child.
    pub fn stop(&self) -> bool {
        let mut w = self.lock();
        w.pid = None;
        self.0.1.notify_all();
        w.killed
    }
}
