//! A private tracefs instance: created on start, removed on every exit path (its `Drop` runs on
//! normal return, errors, panics and — through the Ctrl-C flag the loops poll — SIGINT/SIGTERM).
//! Nothing outside the instance is changed; if tracefs had to be mounted, it is unmounted.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where tracefs is usually mounted.
pub const TRACEFS_MOUNTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
/// Instance names start with this (the kill test looks for leftovers by it).
pub const INSTANCE_PREFIX: &str = "rmaplab-";

/// Errors setting up tracing.
#[derive(Debug, thiserror::Error)]
pub enum TraceFsError {
    /// tracefs is not mounted and could not be mounted.
    #[error("tracefs is not available (tried {TRACEFS_MOUNTS:?} and mounting it): {0}; run as root on a kernel with CONFIG_FTRACE")]
    NoTracefs(String),
    /// The kvmmmu events are missing.
    #[error("this kernel has no kvmmmu:{0} event (is the kvm module loaded? it defines them)")]
    NoEvent(String),
    /// A tracefs file operation failed.
    #[error("tracefs: {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        error: std::io::Error,
    },
}

fn io(path: &Path, error: std::io::Error) -> TraceFsError {
    TraceFsError::Io {
        path: path.display().to_string(),
        error,
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), TraceFsError> {
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| io(path, e))?;
    f.write_all(text.as_bytes()).map_err(|e| io(path, e))
}

/// Find (or mount) tracefs. Returns the root and whether we mounted it.
fn tracefs_root() -> Result<(PathBuf, bool), TraceFsError> {
    for m in TRACEFS_MOUNTS {
        let p = Path::new(m);
        if p.join("instances").is_dir() {
            return Ok((p.to_path_buf(), false));
        }
    }
    let target = Path::new(TRACEFS_MOUNTS[0]);
    let c_target = std::ffi::CString::new(TRACEFS_MOUNTS[0])
        .map_err(|e| TraceFsError::NoTracefs(e.to_string()))?;
    // SAFETY: all pointers are valid NUL-terminated strings for the duration of the call;
    // data is NULL, which mount(2) accepts for tracefs.
    let rc = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            c_target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(TraceFsError::NoTracefs(
            std::io::Error::last_os_error().to_string(),
        ));
    }
    if target.join("instances").is_dir() {
        Ok((target.to_path_buf(), true))
    } else {
        Err(TraceFsError::NoTracefs(
            "mounted, but it has no instances directory".into(),
        ))
    }
}

/// The events rmaplab records. `kvm_mmu_zap_all_fast` needs no handling of its own: it only
/// marks every shadow page obsolete, and the pages are then zapped one by one through
/// `kvm_mmu_prepare_zap_page`, whose events carry the removals. It is recorded only so that a
/// raw capture shows when a fast zap happened; the importer counts it as an unused kvmmmu event.
pub const EVENTS: [&str; 5] = [
    "kvm_mmu_set_spte",
    "kvm_mmu_get_page",
    "kvm_mmu_prepare_zap_page",
    "kvm_mmu_zap_all_fast",
    "kvm_mmu_pagetable_walk",
];

/// A private tracing instance.
#[derive(Debug)]
pub struct Instance {
    root: PathBuf,
    dir: PathBuf,
    mounted: bool,
}

impl Instance {
    /// Create `instances/rmaplab-<pid>` with `buffer_kb` KiB of ring buffer per CPU and the
    /// global trace clock, tracing off, after checking that every kvmmmu event rmaplab records
    /// exists; [`Instance::start`] picks the threads and enables the events.
    pub fn create(buffer_kb: u64) -> Result<Self, TraceFsError> {
        let (root, mounted) = tracefs_root()?;
        let dir = root
            .join("instances")
            .join(format!("{INSTANCE_PREFIX}{}", std::process::id()));
        let mut inst = Instance { root, dir, mounted };
        if let Err(e) = fs::create_dir(&inst.dir) {
            let err = io(&inst.dir, e);
            inst.dir = PathBuf::new();
            return Err(err);
        }
        write_file(&inst.dir.join("tracing_on"), "0")?;
        write_file(&inst.dir.join("buffer_size_kb"), &buffer_kb.to_string())?;
        // The default "local" clock is per CPU and not comparable across CPUs; merging the
        // vCPUs' streams (and our markers) needs a global order.
        write_file(&inst.dir.join("trace_clock"), "global")?;
        for ev in EVENTS {
            let p = inst.dir.join("events/kvmmmu").join(ev).join("enable");
            if !p.exists() {
                return Err(TraceFsError::NoEvent(ev.to_string()));
            }
        }
        Ok(inst)
    }

    /// Trace only these thread ids (and enable the events).
    pub fn start(&self, tids: &[i32]) -> Result<(), TraceFsError> {
        self.set_pids(tids)?;
        for ev in EVENTS {
            write_file(&self.dir.join("events/kvmmmu").join(ev).join("enable"), "1")?;
        }
        write_file(&self.dir.join("tracing_on"), "1")
    }

    /// The CPUs with a ring buffer in this instance.
    pub fn cpus(&self) -> Result<Vec<usize>, TraceFsError> {
        let d = self.dir.join("per_cpu");
        let mut cpus: Vec<usize> = fs::read_dir(&d)
            .map_err(|e| io(&d, e))?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.strip_prefix("cpu")?.parse().ok())
            .collect();
        cpus.sort_unstable();
        Ok(cpus)
    }

    /// Open `per_cpu/cpuN/trace_pipe_raw` without blocking.
    pub fn raw_pipe(&self, cpu: usize) -> Result<File, TraceFsError> {
        let p = self.dir.join(format!("per_cpu/cpu{cpu}/trace_pipe_raw"));
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&p)
            .map_err(|e| io(&p, e))
    }

    /// The `format` file of `system/event` (from the instance, else the top level).
    pub fn format(&self, event: &str) -> Result<String, TraceFsError> {
        let p = self.dir.join("events").join(event).join("format");
        fs::read_to_string(&p)
            .or_else(|_| fs::read_to_string(self.root.join("events").join(event).join("format")))
            .map_err(|e| io(&p, e))
    }

    /// Replace the traced thread ids (threads that appeared after `start`).
    pub fn set_pids(&self, tids: &[i32]) -> Result<(), TraceFsError> {
        let list: Vec<String> = tids.iter().map(i32::to_string).collect();
        write_file(&self.dir.join("set_event_pid"), &list.join(" "))
    }

    /// Write a line into the trace (`tracing_mark_write`).
    pub fn mark(&self, text: &str) -> Result<(), TraceFsError> {
        let p = self.dir.join("trace_marker");
        let mut f = OpenOptions::new()
            .write(true)
            .open(&p)
            .map_err(|e| io(&p, e))?;
        f.write_all(text.as_bytes()).map_err(|e| io(&p, e))
    }

    /// Open `trace_pipe` without blocking.
    pub fn pipe(&self) -> Result<File, TraceFsError> {
        let p = self.dir.join("trace_pipe");
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&p)
            .map_err(|e| io(&p, e))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if !self.dir.as_os_str().is_empty() {
            let _ = write_file(&self.dir.join("tracing_on"), "0");
            for ev in EVENTS {
                let _ = write_file(&self.dir.join("events/kvmmmu").join(ev).join("enable"), "0");
            }
            // rmdir fails with EBUSY while a reader holds trace_pipe open; retry briefly.
            for _ in 0..50 {
                match fs::remove_dir(&self.dir) {
                    Ok(()) => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(std::time::Duration::from_millis(20))
                    }
                    Err(e) => {
                        eprintln!(
                            "warning: could not remove tracefs instance {}: {e}",
                            self.dir.display()
                        );
                        break;
                    }
                }
            }
        }
        if self.mounted {
            if let Ok(c) = std::ffi::CString::new(self.root.as_os_str().as_encoded_bytes()) {
                // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
                unsafe { libc::umount(c.as_ptr()) };
            }
        }
    }
}

/// Read available bytes from a non-blocking pipe: `Ok(0)` when nothing is ready.
pub fn read_some(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    match f.read(buf) {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
        Err(e) => Err(e),
    }
}
