//! A minimal QMP client (QEMU Machine Protocol over a unix socket): capabilities negotiation,
//! `query-status`, `query-cpus-fast` (vCPU thread ids), `query-stats target=vm` (KVM's VM
//! stats as QEMU reads them from its own stats fd), `stop` / `cont`, and the peer's pid from
//! the socket's credentials (`SO_PEERCRED`).

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
}

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
            // An asynchronous event (`{"event": …}`): not our answer.
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
}
