//! The one place that starts external programs.
//!
//! A command is an absolute program path and an argument vector: no shell,
//! no `PATH` lookup, an empty environment but for `LC_ALL=C` and a fixed
//! `PATH`, stdin from /dev/null, its own process group, a timeout after which
//! the whole group is killed, and output captured up to a cap.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Output kept per stream; the rest is read and dropped so the child never
/// blocks on a full pipe.
pub const DEFAULT_OUTPUT_CAP: usize = 4 << 20;

#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub timeout: Duration,
    pub output_cap: usize,
}

impl CommandSpec {
    pub fn new(program: impl Into<PathBuf>, timeout: Duration) -> Self {
        CommandSpec {
            program: program.into(),
            args: Vec::new(),
            timeout,
            output_cap: DEFAULT_OUTPUT_CAP,
        }
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The argument vector as text, for logs.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.as_os_str())
            .chain(self.args.iter().map(|a| a.as_os_str()))
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }
}

/// What a finished (or killed) command left behind.
#[derive(Debug, Clone, Serialize)]
pub struct CommandOutput {
    pub argv: Vec<String>,
    /// The exit code, if it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub duration_ms: u64,
    #[serde(skip)]
    pub stdout: Vec<u8>,
    #[serde(skip)]
    pub stderr: Vec<u8>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
}

impl CommandOutput {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// One line saying how it ended, for errors shown to a user.
    pub fn describe_end(&self) -> String {
        if self.timed_out {
            format!("killed after its {} ms time limit", self.duration_ms)
        } else if let Some(sig) = self.signal {
            format!("killed by signal {sig}")
        } else {
            format!("exit status {}", self.exit_code.unwrap_or(-1))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("refusing to run {0}: the program path must be absolute")]
    NotAbsolute(String),
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
}

fn read_capped(mut r: impl Read, cap: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buf = [0u8; 16 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                if n > room {
                    truncated = true;
                }
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (kept, truncated)
}

/// Runs a command to completion or to its timeout.
pub fn run(spec: &CommandSpec) -> Result<CommandOutput, RunError> {
    if !spec.program.is_absolute() {
        return Err(RunError::NotAbsolute(spec.program.display().to_string()));
    }
    let started = Instant::now();
    let mut child = Command::new(&spec.program)
        .args(&spec.args)
        .env_clear()
        .env("LC_ALL", "C")
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| RunError::Spawn {
            program: spec.program.display().to_string(),
            source,
        })?;
    let cap = spec.output_cap;
    let out = child.stdout.take().expect("stdout is piped");
    let err = child.stderr.take().expect("stderr is piped");
    let out_reader = std::thread::spawn(move || read_capped(out, cap));
    let err_reader = std::thread::spawn(move || read_capped(err, cap));

    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(_) => break None,
        }
        if started.elapsed() >= spec.timeout {
            timed_out = true;
            // The whole group: a tool that forked helpers takes them along.
            let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
            break child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let (stdout, stdout_truncated) = out_reader.join().unwrap_or_default();
    let (stderr, stderr_truncated) = err_reader.join().unwrap_or_default();
    Ok(CommandOutput {
        argv: spec.argv(),
        exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        timed_out,
        duration_ms: started.elapsed().as_millis() as u64,
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
    })
}

/// The first executable file called `name` in `dirs`.
pub fn find_program(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    if name.contains('/') || name.is_empty() {
        return None;
    }
    dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout_ms: u64) -> CommandSpec {
        CommandSpec::new("/bin/sh", Duration::from_millis(timeout_ms)).args(["-c", script])
    }

    #[test]
    fn captures_output_and_exit_code() {
        let out = run(&sh("echo out; echo err >&2; exit 3", 5000)).unwrap();
        assert_eq!(out.stdout_text(), "out\n");
        assert_eq!(out.stderr_text(), "err\n");
        assert_eq!(out.exit_code, Some(3));
        assert!(!out.success());
        assert_eq!(out.describe_end(), "exit status 3");
        assert_eq!(
            out.argv,
            vec!["/bin/sh", "-c", "echo out; echo err >&2; exit 3"]
        );
    }

    #[test]
    fn environment_is_clean_and_arguments_are_not_interpreted() {
        // HOME is set for this test process; the child must not see it.
        let out = run(&sh("echo \"[$LC_ALL][$HOME]\"", 5000)).unwrap();
        assert_eq!(out.stdout_text(), "[C][]\n");
        let out =
            run(&CommandSpec::new("/bin/echo", Duration::from_secs(5)).arg("$(id); rm -rf /"))
                .unwrap();
        assert_eq!(out.stdout_text(), "$(id); rm -rf /\n");
    }

    #[test]
    fn timeout_kills_the_process_group() {
        let out = run(&sh("sleep 30 & sleep 30; echo never", 200)).unwrap();
        assert!(out.timed_out);
        assert!(!out.success());
        assert!(out.duration_ms < 5000, "{}", out.duration_ms);
        assert!(out.describe_end().contains("time limit"));
    }

    #[test]
    fn output_is_capped_but_drained() {
        let mut spec = sh("head -c 100000 /dev/zero", 5000);
        spec.output_cap = 1000;
        let out = run(&spec).unwrap();
        assert_eq!(out.stdout.len(), 1000);
        assert!(out.stdout_truncated);
        assert!(out.success());
    }

    #[test]
    fn relative_programs_and_missing_ones_are_refused() {
        assert!(matches!(
            run(&CommandSpec::new("sh", Duration::from_secs(1))),
            Err(RunError::NotAbsolute(_))
        ));
        assert!(matches!(
            run(&CommandSpec::new(
                "/nonexistent/tool",
                Duration::from_secs(1)
            )),
            Err(RunError::Spawn { .. })
        ));
    }

    #[test]
    fn programs_are_found_only_by_plain_name() {
        let dirs = vec![PathBuf::from("/nonexistent"), PathBuf::from("/bin")];
        assert_eq!(find_program("sh", &dirs), Some(PathBuf::from("/bin/sh")));
        assert_eq!(find_program("../bin/sh", &dirs), None);
        assert_eq!(find_program("no-such-tool-here", &dirs), None);
    }
}
