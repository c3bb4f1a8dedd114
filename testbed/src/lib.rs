//! Dev-only support for tests and the demo: a private `dbus-daemon` with the project's policy
//! ([`TestBus`]), the project's daemons as child processes that are always killed
//! ([`Daemon`]), a `busctl` wrapper, fake services that stand in for daemons not under test
//! ([`fakes`]), and the whole system of five real daemons for end-to-end tests and the demo
//! ([`system`]).

#![allow(clippy::expect_used)] // Test support: a broken test environment may stop the test.

pub mod bus;
pub mod daemon;
pub mod fakes;
pub mod harness;
pub mod introspect;
pub mod mosquitto;
pub mod netns;
pub mod system;
pub mod telegram;

pub use bus::{Overlay, TestBus};
pub use daemon::{Daemon, bin_path};
pub use harness::{Launch, Started};

/// Wait for `cond` to become true, polling every 20 ms, for at most `timeout`.
pub async fn eventually<F, Fut>(timeout: std::time::Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
