//! A CSI camera module through `rpicam-vid` (or `libcamera-vid` on older Raspberry Pi OS): the
//! child writes MJPEG to its stdout and [`Splitter`] cuts it into frames. When the child dies
//! the source fails with its exit status and last message, and the capture thread starts it
//! again with backoff. A child that stays alive but writes nothing for [`SILENCE_LIMIT`] (a
//! wedged camera pipeline) is killed by a [`Silence`] watchdog, which ends the same way.

use super::silence::{SILENCE_LIMIT, Silence};
use super::{FrameSource, RateGate, Settings, SourceError};
use crate::mjpeg::Splitter;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Programs tried, in order.
pub const PROGRAMS: [&str; 2] = ["rpicam-vid", "libcamera-vid"];

/// A frame larger than this is not a frame.
const MAX_FRAME: usize = 32 << 20;

/// The `rpicam-vid` child.
#[derive(Debug)]
pub struct RpicamSource {
    settings: Settings,
    child: Option<Child>,
    stdout: Option<ChildStdout>,
    splitter: Splitter,
    gate: RateGate,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    program: String,
    silence: Option<Silence>,
}

/// Find the first of [`PROGRAMS`] on `$PATH`.
pub fn find_program() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    PROGRAMS.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| is_executable(p))
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The child's command line for `settings`.
pub fn arguments(settings: &Settings) -> Vec<String> {
    let mut args: Vec<String> = [
        "--codec",
        "mjpeg",
        "--timeout",
        "0",
        "--nopreview",
        "--flush",
        "--output",
        "-",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (k, v) in [
        ("--width", settings.width.to_string()),
        ("--height", settings.height.to_string()),
        ("--framerate", settings.fps.to_string()),
        ("--quality", settings.quality.to_string()),
    ] {
        args.push(k.into());
        args.push(v);
    }
    if settings.vflip {
        args.push("--vflip".into());
    }
    if settings.hflip {
        args.push("--hflip".into());
    }
    args
}

impl RpicamSource {
    /// A source that starts `rpicam-vid` with `settings` when opened.
    pub fn new(settings: Settings) -> Self {
        RpicamSource {
            settings,
            child: None,
            stdout: None,
            splitter: Splitter::new(MAX_FRAME),
            gate: RateGate::new(settings.period()),
            stderr_tail: Arc::default(),
            program: PROGRAMS[0].to_string(),
            silence: None,
        }
    }

    fn last_message(&self) -> String {
        let tail = self
            .stderr_tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        tail.back().map(|l| format!(": {l}")).unwrap_or_default()
    }
}

impl FrameSource for RpicamSource {
    fn backend(&self) -> &'static str {
        "rpicam"
    }

    fn device(&self) -> String {
        self.program.clone()
    }

    fn open(&mut self) -> Result<(u32, u32), SourceError> {
        self.close();
        let program = find_program().ok_or_else(|| SourceError::Device {
            device: PROGRAMS.join(" or "),
            message: "not installed (apt install rpicam-apps), or not on PATH".into(),
        })?;
        self.program = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut child = Command::new(&program)
            .args(arguments(&self.settings))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| SourceError::Device {
                device: program.display().to_string(),
                message: format!("cannot start it: {e}"),
            })?;
        if let Some(stderr) = child.stderr.take() {
            let tail = Arc::clone(&self.stderr_tail);
            let name = self.program.clone();
            let _ = std::thread::Builder::new()
                .name("rpicam-stderr".into())
                .spawn(move || relay_stderr(stderr, &tail, &name));
        }
        self.stdout = child.stdout.take();
        self.silence = Some(Silence::start(child.id()));
        self.child = Some(child);
        self.splitter = Splitter::new(MAX_FRAME);
        self.gate.reset();
        tracing::info!(program = %program.display(), args = ?arguments(&self.settings), "camera child started");
        Ok((self.settings.width, self.settings.height))
    }

    fn next_frame(&mut self) -> Result<Vec<u8>, SourceError> {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some(frame) = self.splitter.next_frame() {
                if self.gate.pass(Instant::now()) {
                    return Ok(frame);
                }
                continue;
            }
            let read = match self.stdout.as_mut() {
                Some(out) => out.read(&mut chunk),
                None => Ok(0),
            };
            match read {
                Ok(0) | Err(_) => {
                    if let Err(e) = &read {
                        tracing::warn!(error = %e, "reading the camera child's output failed");
                        if let Some(child) = self.child.as_mut() {
                            let _ = child.kill();
                        }
                    }
                    self.splitter.finish();
                    let killed = self.silence.take().is_some_and(|s| s.stop());
                    let status = match self.child.as_mut().map(Child::wait) {
                        Some(Ok(s)) => s.to_string(),
                        Some(Err(e)) => format!("unknown status: {e}"),
                        None => "not running".into(),
                    };
                    self.child = None;
                    self.stdout = None;
                    let detail = if killed {
                        format!(
                            ": killed after {}s without output{}",
                            SILENCE_LIMIT.as_secs(),
                            self.last_message()
                        )
                    } else {
                        self.last_message()
                    };
                    return Err(SourceError::ChildExited {
                        program: self.program.clone(),
                        status,
                        detail,
                    });
                }
                Ok(n) => {
                    if let Some(s) = &self.silence {
                        s.output();
                    }
                    self.splitter.push(chunk.get(..n).unwrap_or(&[]));
                }
            }
        }
    }

    fn close(&mut self) {
        self.stdout = None;
        if let Some(s) = self.silence.take() {
            s.stop();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RpicamSource {
    fn drop(&mut self) {
        self.close();
    }
}

fn relay_stderr(stderr: impl Read, tail: &Mutex<VecDeque<String>>, program: &str) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { return };
        let line = line.trim().to_string();
        if line.is_empty() {
            continue;
        }
        tracing::debug!(program, "{line}");
        let mut t = tail.lock().unwrap_or_else(PoisonError::into_inner);
        if t.len() >= 8 {
            t.pop_front();
        }
        t.push_back(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_asks_for_mjpeg_on_stdout_with_the_settings() {
        let s = Settings {
            width: 1280,
            height: 720,
            fps: 2,
            quality: 85,
            vflip: true,
            hflip: false,
        };
        let args = arguments(&s).join(" ");
        assert!(args.contains("--codec mjpeg"), "{args}");
        assert!(args.contains("--timeout 0"), "{args}");
        assert!(args.contains("--output -"), "{args}");
        assert!(
            args.contains("--width 1280 --height 720 --framerate 2 --quality 85"),
            "{args}"
        );
        assert!(
            args.contains("--vflip") && !args.contains("--hflip"),
            "{args}"
        );
    }
}
