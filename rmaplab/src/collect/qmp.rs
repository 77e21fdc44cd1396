//! A minimal QMP client (QEMU Machine Protocol over a unix socket): capabilities negotiation,
//! `query-status`, `query-cpus-fast` (vCPU thread ids), `query-stats target=vm` (KVM's VM
//! stats as QEMU reads them from its own stats fd), `stop` / `cont`, `set-action` and `quit`
//! (recording until the guest powers off), the `SHUTDOWN` event, and the peer's pid from the
//! socket's credentials (`SO_PEERCRED`).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long one QMP answer may take.
const QMP_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest QMP line accepted.
const MAX_LINE: usize = 16 << 20;

/// Errors talking to QEMU.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// The socket could not be opened or used.
    #[error("QMP socket {path}: {error} (start QEMU with -qmp unix:{path},server=on,wait=off)")]
    Io {
        /// The socket path.
        path: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// The peer did not speak QMP.
    #[error("QMP: {0}")]
    Protocol(String),
    /// A command failed.
    #[error("QMP command {command} failed: {message}")]
    Command {
        /// The command.
        command: String,
        /// QEMU's error description.
        message: String,
    },
}

/// A connected, negotiated QMP session.
#[derive(Debug)]
pub struct Qmp {
    path: String,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// The reason of the `SHUTDOWN` event QEMU sent, if it sent one (`guest-shutdown`: the
    /// guest powered off; `guest-reset`: it reset under `-no-reboot`; `host-…`: QEMU was told).
    shutdown: Option<String>,
}

/// QEMU's run state once the guest powered off and QEMU kept the VM (`-no-shutdown`, or the
/// shutdown action `pause`).
pub const STATUS_SHUTDOWN: &str = "shutdown";
/// QEMU's run state of a VM started with `-S` that never ran.
pub const STATUS_PRELAUNCH: &str = "prelaunch";

/// The VM's run state (`query-status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunState {
    /// Whether vCPUs run.
    pub running: bool,
    /// QEMU's status word (`prelaunch` = started with -S and never ran).
    pub status: String,
}

impl Qmp {
    /// Connect and negotiate capabilities.
    pub fn connect(path: &Path) -> Result<Self, QmpError> {
        let p = path.display().to_string();
        let io = |error| QmpError::Io {
            path: p.clone(),
            error,
        };
        let stream = UnixStream::connect(path).map_err(io)?;
        stream.set_read_timeout(Some(QMP_TIMEOUT)).map_err(io)?;
        let writer = stream.try_clone().map_err(io)?;
        let mut q = Qmp {
            path: p,
            reader: BufReader::new(stream),
            writer,
            shutdown: None,
        };
        let greeting = q.read()?;
        if greeting.get("QMP").is_none() {
            return Err(QmpError::Protocol(format!(
                "expected a QMP greeting, got {greeting}"
            )));
        }
        q.execute("qmp_capabilities", None)?;
        Ok(q)
    }

    fn read(&mut self) -> Result<Value, QmpError> {
        let mut line = String::new();
        let n = (&mut self.reader)
            .take(MAX_LINE as u64)
            .read_line(&mut line)
            .map_err(|error| QmpError::Io {
                path: self.path.clone(),
                error,
            })?;
        if n == 0 {
            return Err(QmpError::Protocol("QEMU closed the socket".into()));
        }
        serde_json::from_str(&line).map_err(|e| QmpError::Protocol(format!("{e}: {line:?}")))
    }

    /// Run a command; its `return` value.
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        let mut text = msg.to_string();
        text.push('\n');
        self.writer
            .write_all(text.as_bytes())
            .map_err(|error| QmpError::Io {
                path: self.path.clone(),
                error,
            })?;
        loop {
            let v = self.read()?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = v.get("error") {
                return Err(QmpError::Command {
                    command: command.into(),
                    message: e
                        .get("desc")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown error")
                        .into(),
                });
            }
            // An asynchronous event (`{"event": …}`): not our answer, but a power-off is news.
            if v.get("event").and_then(Value::as_str) == Some("SHUTDOWN") {
                let reason = v.pointer("/data/reason").and_then(Value::as_str);
                self.shutdown = Some(reason.unwrap_or("unknown").to_string());
            }
        }
    }

    /// The QEMU process id, from the socket's peer credentials.
    pub fn peer_pid(&self) -> Result<u32, QmpError> {
        let mut cred = libc::ucred {
            pid: 0,
            uid: 0,
            gid: 0,
        };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: `cred` and `len` are valid, writable and sized for SO_PEERCRED's ucred; the
        // fd is the connected socket this session owns.
        let rc = unsafe {
            libc::getsockopt(
                self.writer.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                (&mut cred as *mut libc::ucred).cast(),
                &mut len,
            )
        };
        if rc != 0 || cred.pid <= 0 {
            return Err(QmpError::Io {
                path: self.path.clone(),
                error: std::io::Error::last_os_error(),
            });
        }
        Ok(cred.pid as u32)
    }

    /// `query-status`.
    pub fn status(&mut self) -> Result<RunState, QmpError> {
        let r = self.execute("query-status", None)?;
        Ok(RunState {
            running: r.get("running").and_then(Value::as_bool).unwrap_or(false),
            status: r
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
        })
    }

    /// vCPU thread ids (`query-cpus-fast`).
    pub fn vcpu_threads(&mut self) -> Result<Vec<u32>, QmpError> {
        let r = self.execute("query-cpus-fast", None)?;
        Ok(r.as_array()
            .map(|cpus| {
                cpus.iter()
                    .filter_map(|c| c.get("thread-id")?.as_u64())
                    .filter_map(|t| u32::try_from(t).ok())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// KVM's VM-wide counters (`query-stats target=vm`, provider kvm), scalar values only.
    pub fn vm_stats(&mut self) -> Result<Vec<(String, u64)>, QmpError> {
        let r = self.execute("query-stats", Some(json!({ "target": "vm" })))?;
        Ok(parse_stats(&r))
    }

    /// Pause the vCPUs.
    pub fn stop(&mut self) -> Result<(), QmpError> {
        self.execute("stop", None).map(|_| ())
    }

    /// Resume the vCPUs.
    pub fn cont(&mut self) -> Result<(), QmpError> {
        self.execute("cont", None).map(|_| ())
    }

    /// Keep the VM when the guest powers off (`set-action shutdown=pause`, what `-no-shutdown`
    /// sets at start): QEMU stops the vCPUs in the `shutdown` state instead of exiting, so
    /// KVM's stats can still be read. QEMU 6.0 or later.
    pub fn keep_vm_on_shutdown(&mut self) -> Result<(), QmpError> {
        self.execute("set-action", Some(json!({ "shutdown": "pause" })))
            .map(|_| ())
    }

    /// Whether the guest has powered off, and QEMU's reason when it said one: a `SHUTDOWN`
    /// event arrived, or QEMU's run state is `shutdown` (asked with `query-status`, which also
    /// reads any pending events).
    pub fn guest_powered_off(&mut self) -> Result<Option<String>, QmpError> {
        if self.shutdown.is_none() {
            let st = self.status()?;
            if self.shutdown.is_none() && st.status == STATUS_SHUTDOWN {
                self.shutdown = Some("unknown".into());
            }
        }
        Ok(self.shutdown.clone())
    }

    /// Ask QEMU to exit (`quit`).
    pub fn quit(&mut self) -> Result<(), QmpError> {
        match self.execute("quit", None) {
            Ok(_) => Ok(()),
            // QEMU may close the socket before its answer arrives: it is quitting either way.
            Err(QmpError::Protocol(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The scalar stats of a `query-stats` answer (histograms are skipped).
pub fn parse_stats(r: &Value) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for provider in r.as_array().into_iter().flatten() {
        if provider.get("provider").and_then(Value::as_str) != Some("kvm") {
            continue;
        }
        for st in provider
            .get("stats")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(n), Some(v)) = (
                st.get("name").and_then(Value::as_str),
                st.get("value").and_then(Value::as_u64),
            ) {
                out.push((n.to_string(), v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_answers_keep_kvm_scalars() {
        let r = json!([
            {"provider": "kvm", "target": "vm", "stats": [
                {"name": "max_mmu_rmap_size", "value": 1001},
                {"name": "pages_4k", "value": 4604},
                {"name": "halt_poll_hist", "value": [1, 2, 3]}
            ]},
            {"provider": "other", "stats": [{"name": "x", "value": 1}]}
        ]);
        assert_eq!(
            parse_stats(&r),
            vec![
                ("max_mmu_rmap_size".to_string(), 1001),
                ("pages_4k".to_string(), 4604)
            ]
        );
        assert!(parse_stats(&json!({})).is_empty());
    }

    /// A fake QEMU on a unix socket: the greeting, then one scripted reply (lines) per command.
    fn fake_qemu(replies: Vec<Vec<Value>>) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            writeln!(w, "{}", json!({"QMP": {"version": {}, "capabilities": []}})).unwrap();
            for lines in replies {
                let mut command = String::new();
                if r.read_line(&mut command).unwrap() == 0 {
                    return;
                }
                for l in lines {
                    writeln!(w, "{l}").unwrap();
                }
            }
        });
        (dir, path)
    }

    fn status(s: &str) -> Value {
        json!({"return": {"status": s, "running": s == "running"}})
    }

    #[test]
    fn the_power_off_is_seen_as_an_event_between_answers_or_as_the_run_state() {
        let shutdown =
            json!({"event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}});
        let (_d, path) = fake_qemu(vec![
            vec![json!({"return": {}})],
            vec![status("running")],
            vec![shutdown, status("shutdown")],
        ]);
        let mut q = Qmp::connect(&path).unwrap();
        assert_eq!(q.guest_powered_off().unwrap(), None);
        assert_eq!(
            q.guest_powered_off().unwrap().as_deref(),
            Some("guest-shutdown")
        );
        // Once seen, it is not asked again (the fake has no more answers).
        assert_eq!(
            q.guest_powered_off().unwrap().as_deref(),
            Some("guest-shutdown")
        );

        // The event missed (sent before rmaplab connected): the run state says it.
        let (_d, path) = fake_qemu(vec![vec![json!({"return": {}})], vec![status("shutdown")]]);
        let mut q = Qmp::connect(&path).unwrap();
        assert_eq!(q.guest_powered_off().unwrap().as_deref(), Some("unknown"));
    }

    #[test]
    fn a_refused_command_is_an_error_naming_it() {
        let (_d, path) = fake_qemu(vec![
            vec![json!({"return": {}})],
            vec![
                json!({"error": {"class": "CommandNotFound", "desc": "The command set-action has not been found"}}),
            ],
        ]);
        let mut q = Qmp::connect(&path).unwrap();
        let e = q.keep_vm_on_shutdown().unwrap_err().to_string();
        assert!(
            e.contains("set-action") && e.contains("not been found"),
            "{e}"
        );
    }
}
