//! KVM's statistics of a VM another process runs (attach mode). KVM refuses VM ioctls from any
//! process but the VM's creator (`kvm->mm != current->mm` gives EIO), so rmaplab cannot ask
//! for a stats fd itself; it reads the stats fds (`KVM_GET_STATS_FD`) the VMM already opened:
//! it finds them in `/proc/PID/fd`, duplicates each with `pidfd_getfd(2)` (Linux ≥ 5.6, needs
//! ptrace rights over the process, which root has) and reads the copy, which needs no ioctl.
//! The copies are closed at once: a stats fd holds a reference on the VM, and keeping it would
//! move the VM's teardown out of the recording.

use super::stats::StatsReader;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What `/proc/PID/fd/N` points at for a VM's stats fd.
pub const KVM_VM_STATS_LINK: &str = "anon_inode:kvm-vm-stats";

/// Failures reading another process's VM stats.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// `/proc/PID/fd` could not be listed.
    #[error("cannot list the file descriptors of process {pid}: {source}")]
    ListFds {
        /// The process.
        pid: u32,
        /// Why.
        source: std::io::Error,
    },
    /// `pidfd_open` or `pidfd_getfd` failed.
    #[error("cannot duplicate fd {fd} of process {pid} ({what}: {source}); run as root, on Linux >= 5.6")]
    Dup {
        /// The process.
        pid: u32,
        /// Its fd.
        fd: RawFd,
        /// Which call.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The stats fd could not be read.
    #[error("cannot read KVM's stats of fd {fd} of process {pid}: {msg}")]
    Stats {
        /// The process.
        pid: u32,
        /// Its fd.
        fd: RawFd,
        /// Why.
        msg: String,
    },
}

/// Fd numbers, among `(fd, link target)` pairs, that are VM stats fds. Pure, for tests.
pub fn vm_stats_fds(links: &[(RawFd, String)]) -> Vec<RawFd> {
    let mut fds: Vec<RawFd> = links
        .iter()
        .filter(|(_, l)| l == KVM_VM_STATS_LINK)
        .map(|(fd, _)| *fd)
        .collect();
    fds.sort_unstable();
    fds
}

fn fd_links(pid: u32) -> Result<Vec<(RawFd, String)>, PeerError> {
    let list = |source| PeerError::ListFds { pid, source };
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd")).map_err(list)? {
        let e = e.map_err(list)?;
        let Some(fd) = e.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // An fd closed between listing and reading is simply skipped.
        if let Ok(l) = std::fs::read_link(e.path()) {
            out.push((fd, l.to_string_lossy().into_owned()));
        }
    }
    Ok(out)
}

/// A copy of fd `fd` of process `pid`.
fn dup_from(pid: u32, fd: RawFd) -> Result<OwnedFd, PeerError> {
    let err = |what, source| PeerError::Dup {
        pid,
        fd,
        what,
        source,
    };
    let pid_t = libc::pid_t::try_from(pid).map_err(|_| {
        err(
            "pid",
            std::io::Error::from(std::io::ErrorKind::InvalidInput),
        )
    })?;
    // SAFETY: pidfd_open(pid, 0) takes plain integers and returns a new fd or -1.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid_t, 0) };
    if pidfd < 0 {
        return Err(err("pidfd_open", std::io::Error::last_os_error()));
    }
    // SAFETY: `pidfd` is a fresh fd we own (it fits an int: the kernel returned it as one).
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
    // SAFETY: pidfd_getfd(pidfd, fd, 0) takes plain integers and returns a new fd or -1.
    let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if copy < 0 {
        return Err(err("pidfd_getfd", std::io::Error::last_os_error()));
    }
    // SAFETY: `copy` is a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(copy as RawFd) })
}

/// KVM's single-valued stats of one VM, by name.
pub type Stats = Vec<(String, u64)>;

/// KVM's stats of every VM whose stats fd process `pid` holds, by that fd's number there.
pub fn vm_stats(pid: u32) -> Result<Vec<(RawFd, Stats)>, PeerError> {
    let mut out = Vec::new();
    for fd in vm_stats_fds(&fd_links(pid)?) {
        let file = File::from(dup_from(pid, fd)?);
        let values =
            StatsReader::new(file)
                .and_then(|r| r.read())
                .map_err(|e| PeerError::Stats {
                    pid,
                    fd,
                    msg: e.to_string(),
                })?;
        out.push((fd, values));
    }
    Ok(out)
}

/// The stats worth showing a person (`max_mmu_rmap_size`, `pages_*`, `mmu_*`), as `name=value`.
pub fn summary(values: &[(String, u64)]) -> String {
    values
        .iter()
        .filter(|(n, _)| {
            n == "max_mmu_rmap_size" || n.starts_with("pages_") || n.starts_with("mmu_")
        })
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_stats_fds_among_links() {
        let links = vec![
            (9, KVM_VM_STATS_LINK.to_string()),
            (3, "/dev/kvm".to_string()),
            (12, "anon_inode:kvm-vcpu:0".to_string()),
            (5, "anon_inode:kvm-vm".to_string()),
            (4, KVM_VM_STATS_LINK.to_string()),
        ];
        assert_eq!(vm_stats_fds(&links), vec![4, 9]);
        assert!(vm_stats_fds(&[]).is_empty());
    }

    #[test]
    fn summary_keeps_the_rmap_stats() {
        let v = vec![
            ("remote_tlb_flush".to_string(), 3),
            ("max_mmu_rmap_size".to_string(), 7),
            ("pages_4k".to_string(), 100),
            ("mmu_shadow_zapped".to_string(), 2),
        ];
        assert_eq!(
            summary(&v),
            "max_mmu_rmap_size=7 pages_4k=100 mmu_shadow_zapped=2"
        );
    }

    #[test]
    fn a_missing_process_is_a_clear_error() {
        let e = vm_stats(u32::MAX).unwrap_err();
        assert!(e.to_string().contains("cannot list"), "{e}");
    }
}
