//! Supervision of a daemon's long-running tasks: each runs for the daemon's whole life, so one
//! that ends (returns or panics) is a bug or a lost resource. The daemon then stops with a
//! line naming the task, and systemd's `Restart=on-failure` brings it back whole, instead of
//! it living on without, say, its capture loop.

use std::future::Future;
use tokio::task::JoinSet;

/// A task ended while the daemon was meant to go on.
#[derive(Debug, thiserror::Error)]
#[error("the {task} task ended unexpectedly{how}")]
pub struct TaskEnded {
    /// The task's name.
    pub task: &'static str,
    how: String,
}

/// The set of tasks that must run until shutdown.
#[derive(Debug, Default)]
pub struct Tasks {
    set: JoinSet<&'static str>,
    names: Vec<(tokio::task::Id, &'static str)>,
}

impl Tasks {
    /// An empty set.
    pub fn new() -> Tasks {
        Tasks::default()
    }

    /// Run `task` on the current runtime under `name` ("capture pump", "outbox delivery").
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.set.spawn(async move {
            task.await;
            name
        });
        self.names.push((handle.id(), name));
    }

    /// Wait for `shutdown`, then stop every task: `Ok`. If a task ends first: `Err` naming it
    /// (the others are stopped as well).
    pub async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> Result<(), TaskEnded> {
        tokio::pin!(shutdown);
        let result = tokio::select! {
            () = &mut shutdown => Ok(()),
            ended = self.set.join_next_with_id(), if !self.set.is_empty() => Err(match ended {
                Some(Ok((_, task))) => TaskEnded { task, how: String::new() },
                Some(Err(e)) => {
                    let task = self
                        .names
                        .iter()
                        .find(|(id, _)| *id == e.id())
                        .map_or("unnamed", |(_, n)| *n);
                    let how = if e.is_panic() { " (it panicked)" } else { " (it was cancelled)" };
                    TaskEnded { task, how: how.to_string() }
                }
                None => TaskEnded { task: "unnamed", how: String::new() },
            }),
        };
        if let Err(e) = &result {
            tracing::error!(
                task = e.task,
                "{e}: stopping so that systemd restarts the daemon"
            );
        }
        self.set.shutdown().await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn shutdown_stops_every_task() {
        let mut t = Tasks::new();
        t.spawn("forever", std::future::pending());
        let r = t
            .run_until(tokio::time::sleep(Duration::from_millis(10)))
            .await;
        assert!(r.is_ok());
    }

    #[tokio::test]
    async fn a_task_that_ends_ends_the_daemon_naming_it() {
        let mut t = Tasks::new();
        t.spawn("forever", std::future::pending());
        t.spawn("capture pump", async {});
        let e = t.run_until(std::future::pending()).await.unwrap_err();
        assert_eq!(e.task, "capture pump");
        assert_eq!(e.to_string(), "the capture pump task ended unexpectedly");
    }

    #[tokio::test]
    async fn a_task_that_panics_is_named_too() {
        let mut t = Tasks::new();
        t.spawn("poller", async { panic!("boom") });
        let e = t.run_until(std::future::pending()).await.unwrap_err();
        assert_eq!(e.task, "poller");
        assert!(e.to_string().contains("panicked"));
    }
}
