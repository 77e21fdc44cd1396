//! A minimal VMM on rust-vmm crates: one memslot of guest RAM, K vCPU threads in long mode, and
//! jobs that run one guest routine in ring 3 or ring 0 until it reports done on an I/O port.

use super::guest::{
    self, CODE_GPA, DONE_PORT, GDT_GPA, SEL_KCODE, SEL_KDATA, SEL_TSS, SEL_UCODE, SEL_UDATA,
    TSS_GPA, TSS_LIMIT,
};
use kvm_bindings::{kvm_segment, kvm_userspace_memory_region, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};
use std::fs::File;
use std::os::fd::FromRawFd;
use std::sync::mpsc;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

// KVM_GET_STATS_FD = _IO(KVMIO, 0xce) and KVM_SET_NR_MMU_PAGES = _IO(KVMIO, 0x44) (argument by
// value): kvm-ioctls wraps neither; vmm-sys-util's macro builds their numbers.
vmm_sys_util::ioctl_io_nr!(KVM_GET_STATS_FD, kvm_bindings::KVMIO, 0xce);
vmm_sys_util::ioctl_io_nr!(KVM_SET_NR_MMU_PAGES, kvm_bindings::KVMIO, 0x44);

/// Segment type of a code segment: execute/read, accessed (SDM vol. 3, table 3-1).
const SEG_TYPE_CODE: u8 = 0b1011;
/// Segment type of a data segment: read/write, accessed.
const SEG_TYPE_DATA: u8 = 0b0011;
/// System-segment type of a busy 64-bit TSS (SDM vol. 3, table 3-2).
const SEG_TYPE_TSS_BUSY: u8 = 0b1011;
/// Long-mode control registers that ran on this project's hosts.
const CR0: u64 = 0x8005_0033;
const CR4_PAE: u64 = 0x20;
const EFER_LME_LMA: u64 = 0x500;
/// IOPL 3 (ring-3 `out`) and the reserved bit 1.
const RFLAGS: u64 = 0x3002;

/// Errors from the VMM.
#[derive(Debug, thiserror::Error)]
pub enum VmmError {
    /// `/dev/kvm` could not be opened.
    #[error("cannot open /dev/kvm ({0}): load the kvm modules, run as root (or in the kvm group), on a host with virtualization")]
    NoKvm(kvm_ioctls::Error),
    /// A KVM ioctl failed.
    #[error("{what}: {error}")]
    Kvm {
        /// Which call.
        what: &'static str,
        /// The error.
        error: kvm_ioctls::Error,
    },
    /// Guest memory could not be set up.
    #[error("guest memory: {0}")]
    Memory(String),
    /// The guest stopped in an unexpected way.
    #[error("vCPU {vcpu}: {what}")]
    Guest {
        /// Which vCPU.
        vcpu: usize,
        /// What happened.
        what: String,
    },
    /// Building the guest failed.
    #[error(transparent)]
    Build(#[from] guest::GuestError),
    /// A vCPU thread went away.
    #[error("vCPU thread {0} exited")]
    Thread(usize),
}

fn kerr(what: &'static str) -> impl Fn(kvm_ioctls::Error) -> VmmError {
    move |error| VmmError::Kvm { what, error }
}

/// Which routine a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routine {
    /// Ring 3 touch loop.
    Touch,
    /// Ring 0 store loop.
    Store,
}

/// One run of a routine on a vCPU.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    /// Address space.
    pub cr3: u64,
    /// Routine.
    pub routine: Routine,
    /// List gpa.
    pub list: u64,
    /// Entries.
    pub count: u64,
}

/// The VM: memory and fd. Field order matters: the VM fd closes before memory is unmapped.
#[derive(Debug)]
pub struct Vm {
    kvm: Kvm,
    vm: VmFd,
    mem: GuestMemoryMmap<()>,
    touch_ip: u64,
    store_ip: u64,
}

impl Vm {
    /// A VM with `bytes` of RAM at gpa 0 (one memslot), prefaulted, holding the GDT, TSS, code
    /// and `tables` image.
    pub fn new(bytes: u64, tables: &[u8]) -> Result<Self, VmmError> {
        let kvm = Kvm::new().map_err(VmmError::NoKvm)?;
        let vm = kvm.create_vm().map_err(kerr("KVM_CREATE_VM"))?;
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), bytes as usize)])
            .map_err(|e| VmmError::Memory(e.to_string()))?;
        // Prefault every page so the first guest read does not map the shared zero page.
        for page in (0..bytes).step_by(guest::PAGE as usize) {
            mem.write_obj(0u64, GuestAddress(page))
                .map_err(|e| VmmError::Memory(e.to_string()))?;
        }
        let host = mem
            .get_host_address(GuestAddress(0))
            .map_err(|e| VmmError::Memory(e.to_string()))?;
        let region = kvm_userspace_memory_region {
            slot: 0,
            guest_phys_addr: 0,
            memory_size: bytes,
            userspace_addr: host as u64,
            flags: 0,
        };
        // SAFETY: the region is the mapping owned by `mem`, which lives in the same struct and
        // is dropped after `vm` (field order), so KVM never sees freed memory.
        unsafe { vm.set_user_memory_region(region) }.map_err(kerr("KVM_SET_USER_MEMORY_REGION"))?;
        let touch = guest::touch_routine(CODE_GPA)?;
        let store_ip = CODE_GPA + ((touch.len() as u64 + 63) & !63);
        let store = guest::store_routine(store_ip)?;
        let w = |gpa: u64, b: &[u8]| {
            mem.write_slice(b, GuestAddress(gpa))
                .map_err(|e| VmmError::Memory(e.to_string()))
        };
        w(CODE_GPA, &touch)?;
        w(store_ip, &store)?;
        let gdt: Vec<u8> = guest::gdt(TSS_GPA)
            .iter()
            .flat_map(|d| d.to_le_bytes())
            .collect();
        w(GDT_GPA, &gdt)?;
        w(guest::TABLES_GPA, tables)?;
        Ok(Vm {
            kvm,
            vm,
            mem,
            touch_ip: CODE_GPA,
            store_ip,
        })
    }

    /// Write host data (work lists) into guest memory.
    pub fn write(&self, gpa: u64, bytes: &[u8]) -> Result<(), VmmError> {
        self.mem
            .write_slice(bytes, GuestAddress(gpa))
            .map_err(|e| VmmError::Memory(e.to_string()))
    }

    /// Limit the VM's shadow pages (`KVM_SET_NR_MMU_PAGES`). KVM's default is 20 per 1000
    /// guest pages (at least 64); a small test guest therefore recycles shadow pages much
    /// sooner than a production-sized one would.
    pub fn set_nr_mmu_pages(&self, pages: u64) -> Result<(), VmmError> {
        // SAFETY: the ioctl takes its argument by value and touches no user memory; the VM fd
        // is valid for the call.
        let rc = unsafe {
            vmm_sys_util::ioctl::ioctl_with_val(
                &self.vm,
                KVM_SET_NR_MMU_PAGES(),
                pages as libc::c_ulong,
            )
        };
        if rc < 0 {
            return Err(VmmError::Kvm {
                what: "KVM_SET_NR_MMU_PAGES",
                error: kvm_ioctls::Error::last(),
            });
        }
        Ok(())
    }

    /// The VM's stats fd.
    pub fn stats_fd(&self) -> Result<File, VmmError> {
        // SAFETY: KVM_GET_STATS_FD takes no argument and returns a new fd or -1; the VM fd is
        // valid for the call.
        let fd = unsafe { vmm_sys_util::ioctl::ioctl(&self.vm, KVM_GET_STATS_FD()) };
        if fd < 0 {
            return Err(VmmError::Kvm {
                what: "KVM_GET_STATS_FD (needs Linux >= 5.14)",
                error: kvm_ioctls::Error::last(),
            });
        }
        // SAFETY: `fd` is a fresh fd we own.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// Create vCPU `id`, configured for long mode, on its own thread. The thread reports its
    /// thread id first, then runs jobs until the sender is dropped.
    pub fn spawn_vcpu(&self, id: usize) -> Result<VcpuHandle, VmmError> {
        let mut vcpu = self
            .vm
            .create_vcpu(id as u64)
            .map_err(kerr("KVM_CREATE_VCPU"))?;
        let cpuid = self
            .kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(kerr("KVM_GET_SUPPORTED_CPUID"))?;
        vcpu.set_cpuid2(&cpuid).map_err(kerr("KVM_SET_CPUID2"))?;
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<Result<(), VmmError>>();
        let (tid_tx, tid_rx) = mpsc::channel::<i32>();
        let (touch_ip, store_ip) = (self.touch_ip, self.store_ip);
        let thread = std::thread::Builder::new()
            .name(format!("vcpu{id}"))
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                let _ = tid_tx.send(unsafe { libc::gettid() });
                for job in job_rx {
                    let ip = match job.routine {
                        Routine::Touch => touch_ip,
                        Routine::Store => store_ip,
                    };
                    let r = run_job(&mut vcpu, id, job, ip);
                    if done_tx.send(r).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| VmmError::Memory(format!("spawning vCPU thread: {e}")))?;
        let tid = tid_rx.recv().map_err(|_| VmmError::Thread(id))?;
        Ok(VcpuHandle {
            id,
            tid,
            jobs: Some(job_tx),
            done: done_rx,
            thread: Some(thread),
        })
    }
}

fn seg(selector: u16, dpl: u8, code: bool) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_: if code { SEG_TYPE_CODE } else { SEG_TYPE_DATA },
        present: 1,
        dpl,
        db: u8::from(!code),
        s: 1,
        l: u8::from(code),
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

fn run_job(vcpu: &mut VcpuFd, id: usize, job: Job, ip: u64) -> Result<(), VmmError> {
    let mut sregs = vcpu.get_sregs().map_err(kerr("KVM_GET_SREGS"))?;
    let user = job.routine == Routine::Touch;
    let (cs, ds, dpl) = if user {
        (SEL_UCODE, SEL_UDATA, 3)
    } else {
        (SEL_KCODE, SEL_KDATA, 0)
    };
    sregs.cs = seg(cs, dpl, true);
    let data = seg(ds, dpl, false);
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = kvm_segment {
        base: TSS_GPA,
        limit: TSS_LIMIT,
        selector: SEL_TSS,
        type_: SEG_TYPE_TSS_BUSY,
        present: 1,
        ..Default::default()
    };
    sregs.gdt.base = GDT_GPA;
    sregs.gdt.limit = (8 * 8 - 1) as u16;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cr0 = CR0;
    sregs.cr4 = CR4_PAE;
    sregs.efer = EFER_LME_LMA;
    sregs.cr3 = job.cr3;
    vcpu.set_sregs(&sregs).map_err(kerr("KVM_SET_SREGS"))?;
    let mut regs = vcpu.get_regs().map_err(kerr("KVM_GET_REGS"))?;
    regs.rip = ip;
    regs.rsi = job.list;
    regs.rcx = job.count;
    regs.rflags = RFLAGS;
    vcpu.set_regs(&regs).map_err(kerr("KVM_SET_REGS"))?;
    loop {
        let exit = match vcpu.run() {
            Ok(e) => e,
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => continue,
            Err(e) => {
                return Err(VmmError::Kvm {
                    what: "KVM_RUN",
                    error: e,
                })
            }
        };
        let what = match exit {
            VcpuExit::IoOut(port, _) if port == DONE_PORT => return Ok(()),
            VcpuExit::IoOut(port, _) => format!("unexpected port write to {port:#x}"),
            VcpuExit::Hlt => "the guest halted before finishing".into(),
            VcpuExit::Shutdown => {
                "triple fault: the guest took an exception (bad page tables or segments?)".into()
            }
            VcpuExit::FailEntry(reason, cpu) => {
                format!("VM entry failed (reason {reason:#x} on cpu {cpu})")
            }
            VcpuExit::InternalError => "KVM internal error (emulation failure?)".into(),
            other => format!("unexpected exit {other:?}"),
        };
        let regs = vcpu.get_regs().ok();
        return Err(VmmError::Guest {
            vcpu: id,
            what: format!("{what}; rip {:#x}", regs.map_or(0, |r| r.rip)),
        });
    }
}

/// A running vCPU thread.
#[derive(Debug)]
pub struct VcpuHandle {
    /// vCPU index.
    pub id: usize,
    /// Its thread id (for `set_event_pid`).
    pub tid: i32,
    jobs: Option<mpsc::Sender<Job>>,
    done: mpsc::Receiver<Result<(), VmmError>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl VcpuHandle {
    /// Queue a job.
    pub fn submit(&self, job: Job) -> Result<(), VmmError> {
        self.jobs
            .as_ref()
            .and_then(|j| j.send(job).ok())
            .ok_or(VmmError::Thread(self.id))
    }

    /// Wait for one queued job to finish.
    pub fn wait(&self) -> Result<(), VmmError> {
        self.done.recv().map_err(|_| VmmError::Thread(self.id))?
    }
}

impl Drop for VcpuHandle {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The macro-built ioctl numbers are the kernel's `_IO(KVMIO, nr)`.
    #[test]
    fn ioctl_numbers_are_the_kernels() {
        assert_eq!(KVM_GET_STATS_FD(), 0xAE << 8 | 0xce);
        assert_eq!(KVM_SET_NR_MMU_PAGES(), 0xAE << 8 | 0x44);
        assert_eq!(seg(8, 0, true).type_, 11);
        assert_eq!(seg(16, 3, false).type_, 3);
    }
}
