//! "How to capture": the commands that make a capture rmaplab can import, and what each loses.

use yew::prelude::*;

/// One way to capture: the command, and what the capture loses.
const WAYS: &[(&str, &str, &str)] = &[
    (
        "trace-cmd",
        "trace-cmd record -b 65536 -e kvmmmu:kvm_mmu_set_spte -e kvmmmu:kvm_mmu_get_page -e kvmmmu:kvm_mmu_prepare_zap_page -- <your workload>",
        "open the trace.dat (or `trace-cmd report -R` text). Process ids are not recorded, so VMs are told apart by the shadow pages their threads share. `-P PID` follows one thread only: list every vCPU thread. The default `trace-cmd report` text is refused: its kvm plugin drops the gfn of zapped pages.",
    ),
    (
        "perf",
        "perf record -a -m 8M -e kvmmmu:kvm_mmu_set_spte -e kvmmmu:kvm_mmu_get_page -e kvmmmu:kvm_mmu_prepare_zap_page -- <your workload>",
        "open the perf.data (or `perf script` text). Each sample carries its process id, so VMs are told apart exactly.",
    ),
    (
        "rmaplab, a QEMU guest's whole run",
        "qemu-system-x86_64 -enable-kvm -S -no-shutdown -qmp unix:q.sock,server=on,wait=off … & rmaplab collect --qmp q.sock --until-shutdown -o vm.rmap",
        "records from the guest's first instruction until it powers off (however long its firmware takes) and checks KVM's own stats, read through QMP; removals by the guest's own page-table writes are still not seen.",
    ),
    (
        "rmaplab, a running VMM",
        "rmaplab collect --pid <VMM pid> --duration 60s -o vm.rmap",
        "records through a private tracefs instance and reads KVM's own stats from the VMM's stats fds; starts mid-run, so removals of SPTEs added before it are unknown.",
    ),
    (
        "rmaplab, its own guest",
        "rmaplab collect fork --procs 16 --pages 256 --vcpus 2 -o fork.rmap",
        "exact: the guest's page-table writes are known and KVM's stats are replayed as checks.",
    ),
];

/// Props of [`HowToCapture`] (none).
#[derive(Properties, PartialEq, Debug)]
pub struct HowToCaptureProps {}

/// A folded panel with the capture commands.
#[function_component(HowToCapture)]
pub fn how_to_capture(_p: &HowToCaptureProps) -> Html {
    html! {
        <details class="how-to-capture">
            <summary>{"How to capture your own trace"}</summary>
            <p>{"Record kvm_mmu_set_spte with kvm_mmu_get_page and kvm_mmu_prepare_zap_page (removals have no tracepoint: rmaplab infers them from zapped shadow pages). Use a buffer large enough not to lose events: a capture that lost events is flagged. No capture shows the SPTEs KVM drops when the guest writes its own page tables (every real OS does): a capture's list sizes and peaks are upper bounds, marked <=, and no size is recommended from it; rmaplab collect's own guests are exact."}</p>
            <dl>
                { for WAYS.iter().map(|(tool, cmd, loses)| html! {
                    <>
                        <dt>{ *tool }</dt>
                        <dd><code>{ *cmd }</code><br />{ *loses }</dd>
                    </>
                }) }
            </dl>
        </details>
    }
}
