//! Attach mode (`collect --pid`, `collect --qmp`): record the kvmmmu events of a VMM that is
//! already running, with KVM's stats read from its own VM fds or through QMP.

use super::host::{preflight, tdp_enabled};
use super::meta::host_meta;
use super::recorder::{spawn_raw_reader, spawn_text_reader, Injection, Injections};
use super::{peer, qmp, tracefs, CollectError, Collected, MARK_END, MARK_PHASE, TRACE_STATS};
use crate::interrupt;
use rmaplab_core::trace::{Event, EventKind};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Threads of process `pid`.
fn threads_of(pid: u32) -> std::io::Result<Vec<i32>> {
    let mut tids = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        if let Some(t) = e?.file_name().to_str().and_then(|n| n.parse().ok()) {
            tids.push(t);
        }
    }
    Ok(tids)
}

/// Where attach mode reads KVM's stats, and how it controls the VM around the recording.
pub trait AttachSource {
    /// The VMM's process id.
    fn pid(&self) -> u32;
    /// What is recorded, for messages ("process 1234", "QEMU 1234 via QMP").
    fn what(&self) -> String;
    /// KVM's stats now, each set labelled ("VM fd 12", "QMP query-stats").
    fn stats(&mut self, when: &str, progress: &dyn Fn(&str)) -> Vec<(String, peer::Stats)>;
    /// Tracing runs (QMP: resume a VM that QEMU started paused with -S).
    fn recording(&mut self, _progress: &dyn Fn(&str)) -> Result<(), CollectError> {
        Ok(())
    }
    /// Tracing is about to stop (QMP: pause the VM, so the end stats match the trace).
    fn ending(&mut self, _progress: &dyn Fn(&str)) {}
    /// The end stats were read (QMP: resume a VM that was running).
    fn ended(&mut self, _progress: &dyn Fn(&str)) {}
    /// Whether the recording saw the VM from its first instruction, so KVM's counters at the
    /// end are absolute facts the replay must reproduce.
    fn covers_first_instruction(&self) -> bool {
        false
    }
    /// Whether the recording ends when the guest powers off (QMP `--until-shutdown`).
    fn waits_for_power_off(&self) -> bool {
        false
    }
    /// Polled while recording: whether the guest has powered off, which ends the recording
    /// when [`AttachSource::waits_for_power_off`].
    fn powered_off(&mut self, _progress: &dyn Fn(&str)) -> bool {
        false
    }
    /// A reading of KVM's stats the replay can check mid-run: with the vCPUs stopped (so no
    /// SPTE change is in flight) and the recording covering the VM from its first instruction.
    /// `None` when this source cannot give one; after `Some`, the caller marks the trace and
    /// calls [`AttachSource::resume_after_reading`].
    fn pause_for_reading(&mut self, _progress: &dyn Fn(&str)) -> Option<peer::Stats> {
        None
    }
    /// Let the vCPUs run again after [`AttachSource::pause_for_reading`].
    fn resume_after_reading(&mut self, _progress: &dyn Fn(&str)) {}
}

/// Attach by pid: KVM's stats from the VM stats fds the VMM holds itself.
#[derive(Debug)]
pub struct PidSource {
    /// The VMM.
    pub pid: u32,
}

impl AttachSource for PidSource {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn what(&self) -> String {
        format!("process {}", self.pid)
    }

    fn stats(&mut self, when: &str, progress: &dyn Fn(&str)) -> Vec<(String, peer::Stats)> {
        let pid = self.pid;
        match peer::vm_stats(pid) {
            Ok(v) if v.is_empty() => {
                progress(&format!(
                    "no KVM stats {when}: process {pid} holds no VM stats fd (KVM answers VM ioctls only to the VM's creator, so rmaplab can read only stats fds the VMM opened itself with KVM_GET_STATS_FD; for QEMU use --qmp)"
                ));
                Vec::new()
            }
            Ok(v) => v
                .into_iter()
                .map(|(fd, values)| {
                    progress(&format!(
                        "KVM stats of VM fd {fd} {when}: {}",
                        peer::summary(&values)
                    ));
                    (format!("VM fd {fd}"), values)
                })
                .collect(),
            Err(e) => {
                progress(&format!("no KVM stats {when}: {e}"));
                Vec::new()
            }
        }
    }
}

/// What `collect --qmp --until-shutdown` does with QEMU once its guest has powered off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPowerOff {
    /// Send QMP `quit`, as QEMU itself would have exited without `-no-shutdown`.
    Quit,
    /// Leave QEMU stopped in its `shutdown` state (`--keep-qemu`).
    Leave,
}

/// Attach to QEMU through its QMP socket: pid from the socket, KVM's stats from
/// `query-stats target=vm`, a VM started with -S resumed once tracing runs, and (with
/// `--until-shutdown`) the recording ended when the guest powers off.
#[derive(Debug)]
pub struct QmpSource {
    qmp: qmp::Qmp,
    pid: u32,
    prelaunch: bool,
    was_running: bool,
    resumed: bool,
    /// `Some` when the recording ends at the guest's power-off.
    until_power_off: Option<AfterPowerOff>,
    /// The guest powered off during the recording.
    off: bool,
}

impl QmpSource {
    /// Connect to `socket`. With `until_power_off`, QEMU is told to keep the VM when the guest
    /// powers off (the shutdown action `pause`, as `-no-shutdown` sets it), so KVM's stats can
    /// still be read at the end; then QEMU is quit or left as asked.
    pub fn connect(
        socket: &std::path::Path,
        until_power_off: Option<AfterPowerOff>,
    ) -> Result<Self, CollectError> {
        let mut q = qmp::Qmp::connect(socket)?;
        let pid = q.peer_pid()?;
        let st = q.status()?;
        if st.status == qmp::STATUS_SHUTDOWN {
            return Err(CollectError::AlreadyOff);
        }
        if until_power_off.is_some() {
            q.keep_vm_on_shutdown()
                .map_err(CollectError::NoShutdownAction)?;
        }
        Ok(QmpSource {
            qmp: q,
            pid,
            prelaunch: st.status == qmp::STATUS_PRELAUNCH,
            was_running: st.running,
            resumed: false,
            until_power_off,
            off: false,
        })
    }

    /// vCPU thread ids.
    pub fn vcpu_threads(&mut self) -> Vec<u32> {
        self.qmp.vcpu_threads().unwrap_or_default()
    }
}

impl AttachSource for QmpSource {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn what(&self) -> String {
        format!("QEMU process {} via QMP", self.pid)
    }

    fn stats(&mut self, when: &str, progress: &dyn Fn(&str)) -> Vec<(String, peer::Stats)> {
        match self.qmp.vm_stats() {
            Ok(v) if v.is_empty() => {
                progress(&format!("no KVM stats {when}: QMP query-stats returned none (QEMU 7.1 or later reports them)"));
                Vec::new()
            }
            Ok(v) => {
                progress(&format!("KVM stats (QMP) {when}: {}", peer::summary(&v)));
                vec![("QMP query-stats".into(), v)]
            }
            Err(e) => {
                progress(&format!("no KVM stats {when}: {e}"));
                Vec::new()
            }
        }
    }

    fn recording(&mut self, progress: &dyn Fn(&str)) -> Result<(), CollectError> {
        if !self.was_running {
            progress(if self.prelaunch {
                "resuming the VM QEMU started paused (-S): the recording covers it from its first instruction"
            } else {
                "resuming the paused VM"
            });
            self.qmp.cont()?;
            self.resumed = true;
        }
        Ok(())
    }

    fn ending(&mut self, progress: &dyn Fn(&str)) {
        if self.off {
            return; // the vCPUs stopped when the guest powered off
        }
        if let Err(e) = self.qmp.stop() {
            progress(&format!("could not pause the VM before the end stats: {e}"));
        }
    }

    fn ended(&mut self, progress: &dyn Fn(&str)) {
        if self.off {
            match self.until_power_off {
                Some(AfterPowerOff::Leave) => progress(&format!(
                    "leaving QEMU {} stopped in its shutdown state (--keep-qemu); end it with QMP quit",
                    self.pid
                )),
                _ => {
                    progress(&format!(
                        "quitting QEMU {} (its guest powered off; --keep-qemu leaves it)",
                        self.pid
                    ));
                    if let Err(e) = self.qmp.quit() {
                        progress(&format!("could not quit QEMU: {e}"));
                    }
                }
            }
            return;
        }
        // Leave the VM as it was found: running, unless it was paused mid-run.
        if self.was_running || self.resumed {
            if let Err(e) = self.qmp.cont() {
                progress(&format!("could not resume the VM: {e}"));
            }
        }
    }

    fn covers_first_instruction(&self) -> bool {
        self.prelaunch
    }

    fn waits_for_power_off(&self) -> bool {
        self.until_power_off.is_some()
    }

    fn pause_for_reading(&mut self, progress: &dyn Fn(&str)) -> Option<peer::Stats> {
        if !self.prelaunch || self.off {
            return None;
        }
        if let Err(e) = self.qmp.stop() {
            progress(&format!("could not pause the VM for a stats reading: {e}"));
            return None;
        }
        match self.qmp.vm_stats() {
            Ok(v) if !v.is_empty() => Some(v),
            Ok(_) | Err(_) => {
                self.resume_after_reading(progress);
                None
            }
        }
    }

    fn resume_after_reading(&mut self, progress: &dyn Fn(&str)) {
        // A guest that powered off meanwhile stays stopped (cont would fail: it needs a reset).
        if matches!(self.qmp.guest_powered_off(), Ok(Some(_))) {
            self.off = true;
            return;
        }
        if let Err(e) = self.qmp.cont() {
            progress(&format!(
                "could not resume the VM after a stats reading: {e}"
            ));
        }
    }

    fn powered_off(&mut self, progress: &dyn Fn(&str)) -> bool {
        if self.until_power_off.is_none() || self.off {
            return self.off;
        }
        match self.qmp.guest_powered_off() {
            Ok(Some(reason)) => {
                self.off = true;
                progress(&format!(
                    "QEMU stopped the VM: SHUTDOWN, reason {reason}{}",
                    if reason == "guest-reset" {
                        " (a guest reset under -no-reboot)"
                    } else {
                        ""
                    }
                ));
            }
            Ok(None) => {}
            Err(e) => progress(&format!(
                "QMP query-status failed while waiting for the power-off: {e}"
            )),
        }
        self.off
    }
}

/// How attach mode records.
#[derive(Debug, Clone, Copy)]
pub struct AttachOptions {
    /// How long to record (less if the VMM exits).
    pub duration: Duration,
    /// Per-CPU trace buffer in KiB.
    pub buffer_kb: u64,
    /// Keep sptep physical addresses.
    pub raw_addresses: bool,
    /// Read `trace_pipe` text instead of the binary pages.
    pub text_pipe: bool,
    /// How often to read KVM's stats mid-run with the VM paused, for the replay to check
    /// (QMP of a VM started with -S only); `None`: at the start and the end only.
    pub stats_every: Option<Duration>,
}

/// Record the kvmmmu events of every thread of the VMM `source` names for the options'
/// duration (or until it exits), reading KVM's stats from `source` at the start and the end.
pub fn attach_with(
    source: &mut dyn AttachSource,
    opts: &AttachOptions,
    progress: &dyn Fn(&str),
) -> Result<Collected, CollectError> {
    preflight()?;
    let AttachOptions {
        duration,
        buffer_kb,
        raw_addresses: raw,
        text_pipe,
        stats_every,
    } = *opts;
    let pid = source.pid();
    let what = source.what();
    let mut tids = threads_of(pid).map_err(|error| CollectError::ProcessGone { pid, error })?;
    let start_stats = source.stats("at attach", progress);
    let instance = tracefs::Instance::create(buffer_kb)?;
    let injections: Injections = Arc::default();
    let mark = |when: &str, (label, values): &(String, peer::Stats)| {
        Event::new(EventKind::Mark {
            label: format!("KVM stats of {label} {when}: {}", peer::summary(values)),
        })
    };
    // Events go to a temporary file as they are recorded: an attach of any length holds none.
    let mut events = super::spool::EventSpool::new().map_err(CollectError::Spool)?;
    for v in &start_stats {
        events
            .push(&mark("at attach", v))
            .map_err(CollectError::Spool)?;
    }
    let reader = if text_pipe {
        spawn_text_reader(instance.pipe()?, injections.clone(), raw, events)
    } else {
        spawn_raw_reader(&instance, injections.clone(), raw, events)?
    };
    instance.start(&tids)?;
    let until_off = source.waits_for_power_off();
    progress(&format!(
        "recording {} threads of {what} {} {:.0} s",
        tids.len(),
        if until_off {
            "until its guest powers off, at most"
        } else {
            "for up to"
        },
        duration.as_secs_f64()
    ));
    source.recording(progress)?;
    let started = Instant::now();
    let alive = || std::path::Path::new(&format!("/proc/{pid}")).exists();
    let mut off = false;
    let mut readings = 0u64;
    let mut next_reading = stats_every.map(|d| started + d);
    while started.elapsed() < duration && alive() && !interrupt::requested() {
        if until_off && source.powered_off(progress) {
            off = true;
            break;
        }
        if let (Some(at), Some(every)) = (next_reading, stats_every) {
            if Instant::now() >= at {
                next_reading = Some(Instant::now() + every);
                if let Some(values) = source.pause_for_reading(progress) {
                    readings += 1;
                    let keep: Vec<(String, u64)> = values
                        .into_iter()
                        .filter(|(n, _)| TRACE_STATS.contains(&n.as_str()))
                        .collect();
                    let label = format!("{MARK_PHASE}reading-{readings}");
                    let what = Injection {
                        clears: Vec::new(),
                        phase: Some((
                            format!(
                                "KVM stats reading {readings} at {:.2} s",
                                started.elapsed().as_secs_f64()
                            ),
                            keep,
                        )),
                    };
                    let marked = injections
                        .lock()
                        .map_err(|_| CollectError::Poisoned)
                        .map(|mut m| m.insert(label.clone(), what))
                        .and_then(|_| instance.mark(&label).map_err(CollectError::from));
                    source.resume_after_reading(progress);
                    marked?;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
        // Follow threads the VMM starts later (vCPU threads, hot-plug).
        if let Ok(mut now) = threads_of(pid) {
            now.sort_unstable();
            tids.sort_unstable();
            if now != tids {
                tids = now;
                instance.set_pids(&tids)?;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let exited = !alive();
    if readings > 0 {
        progress(&format!(
            "{readings} mid-run readings of KVM's stats (VM paused for each) recorded for the replay to check"
        ));
    }
    if off {
        progress(&format!(
            "the guest shut down after {seconds:.1} s: the recording is complete"
        ));
    } else if until_off && !exited && !interrupt::requested() {
        progress(&format!(
            "the guest did not power off within --duration {:.0} s: the recording stops there",
            duration.as_secs_f64()
        ));
    }
    if !exited {
        source.ending(progress);
    }
    let end = instance.mark(MARK_END);
    let failed = end.is_err();
    let joined = reader.finish(&|| failed || interrupt::requested());
    drop(instance);
    let end_stats = if exited {
        progress(&format!("{what} exited: no KVM stats at the end"));
        Vec::new()
    } else {
        let s = source.stats("at the end", progress);
        source.ended(progress);
        s
    };
    if interrupt::requested() {
        return Err(CollectError::Interrupted);
    }
    end?;
    let (mut events, import) = joined.map_err(CollectError::Reader)?;
    if import.lost_events > 0 {
        return Err(CollectError::Lost(import.lost_events));
    }
    let exact = source.covers_first_instruction();
    for v in &end_stats {
        events
            .push(&mark("at the end", v))
            .map_err(CollectError::Spool)?;
    }
    if exact {
        // The recording saw the VM from its first instruction: KVM's counters at the end are
        // facts the replay must reproduce, as for rmaplab's own guests.
        if let [(_, values)] = end_stats.as_slice() {
            for (name, value) in values {
                if TRACE_STATS.contains(&name.as_str()) {
                    events
                        .push(&Event::new(EventKind::Stat {
                            name: name.clone(),
                            value: *value,
                        }))
                        .map_err(CollectError::Spool)?;
                }
            }
        }
    }
    let final_stats = match end_stats.as_slice() {
        [(_, values)] => values.clone(),
        _ => Vec::new(),
    };
    let mut meta = host_meta(
        "kvmmmu tracefs (rmaplab collect --pid)",
        "collect --pid",
        raw,
    );
    meta.tdp = Some(tdp_enabled().is_some());
    // KVM drops SPTEs on the guest's own page-table writes and unsync-page syncs with no
    // kvmmmu event: an attached recording cannot see them (docs/removal-paths.md).
    meta.unseen_removals = rmaplab_core::exactness::UnseenRemoval::ALL.to_vec();
    meta.workload = Some(if off {
        format!("{what}, {seconds:.1} s, until the guest shut down")
    } else {
        format!("{what}, {seconds:.1} s")
    });
    if exact {
        meta.inferred.push("attach mode from the VM's first instruction (QEMU started with -S, resumed by rmaplab once tracing ran): adds are exact; removals are known at shadow-page granularity (zapped shadow pages) and from re-faults — removals by the guest's own page-table writes are not seen; KVM's counters at the end (QMP query-stats, read with the VM paused) are recorded as stat events, so the replay checks them".into());
    } else {
        meta.inferred.push("attach mode: adds are exact; removals are known only at shadow-page granularity (zapped shadow pages) and from re-faults — removals by the guest's own page-table writes before the end are not seen; the trace starts mid-run, so removals of SPTEs added before it are skipped; KVM's stats of the process's VMs at the start and the end (from the VMM's own KVM_GET_STATS_FD fds, duplicated with pidfd_getfd, or QMP query-stats) are recorded as marks, not as stat events, because a trace that starts mid-run cannot reproduce absolute counters".into());
    }
    Ok(Collected {
        meta,
        events,
        import,
        guest_seconds: seconds,
        final_stats,
    })
}
