//! `make demo` as a newcomer runs it, but with its terminal replaced by pipes: the scenario
//! completes, a line typed `/as stranger …` goes to the bot as an unknown user (who gets
//! silence), Ctrl-C stops it cleanly, and the run leaves its own photo and log folders in plain
//! text behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use secura_testbed::daemon::bin_path;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Long enough for the whole scenario on a slow machine.
const SCENARIO: Duration = Duration::from_secs(240);

/// The only entry in `dir`.
fn only_entry(dir: &std::path::Path) -> std::path::PathBuf {
    let entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].path()
}

#[test]
fn the_demo_runs_its_scenario_takes_typed_lines_and_keeps_its_photos_and_logs() {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin_path("secura-demo").unwrap())
        .current_dir(cwd.path())
        .env_remove("SECURA_DEMO_TOKEN")
        .env_remove("SECURA_DEMO_USER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = Vec::new();
    let mut wait_for = |want: &str| {
        let deadline = std::time::Instant::now() + SCENARIO;
        while std::time::Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                let found = line.contains(want);
                out.push(line);
                if found {
                    return;
                }
            }
        }
        panic!("{want:?} did not appear:\n{}", out.join("\n"));
    };
    wait_for("The system stays up");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "/as stranger /status").unwrap();
    wait_for("[as 987654321] /status");
    writeln!(stdin, "/who").unwrap();
    // The owner's /who is answered, after the stranger's /status was read (updates are
    // handled in order): so the stranger was heard and answered with silence.
    wait_for("last seen");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    wait_for("logs kept in");
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let text = out.join("\n");
    assert!(status.success(), "{status}\n{text}\n{err}");
    assert!(
        !text.contains("to 987654321"),
        "the stranger got an answer:\n{text}"
    );
    assert!(!text.contains('\x1b'), "colour codes in a pipe:\n{text}");
    for line in out.iter().filter(|l| l.contains("exited with")) {
        assert!(line.ends_with("exited with 0"), "{line}");
    }

    // This run's photos: one folder, the album's files named after it.
    let photos = only_entry(&cwd.path().join("demo-photos"));
    let first = photos.join("alert-01-photo-01.jpg");
    let jpeg = std::fs::read(&first).unwrap();
    assert_eq!(&jpeg[..2], &[0xff, 0xd8], "{}", first.display());
    // Its logs outlived the private bus, without colour codes, botd's with the stranger.
    let logs = only_entry(&cwd.path().join("demo-logs"));
    assert_eq!(
        photos.file_name(),
        logs.file_name(),
        "one run, one name for both"
    );
    let botd = std::fs::read_to_string(logs.join("secura-botd.log")).unwrap();
    assert!(botd.contains("987654321"), "{botd}");
    for f in std::fs::read_dir(&logs).unwrap().flatten() {
        let log = std::fs::read_to_string(f.path()).unwrap();
        assert!(
            !log.contains('\x1b'),
            "colour codes in {}",
            f.path().display()
        );
    }
}
