//! What the host is: its kernel, its KVM vendor module, whether TDP is on, and whether a
//! collection can run here at all.

use super::CollectError;

fn sysfs(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// `uname -r`.
pub fn kernel_release() -> Option<String> {
    sysfs("/proc/sys/kernel/osrelease")
}

/// The loaded KVM vendor module, if any.
pub fn vendor_module() -> Option<String> {
    ["kvm_intel", "kvm_amd", "kvm_pvm"]
        .into_iter()
        .find(|m| std::path::Path::new("/sys/module").join(m).exists())
        .map(str::to_string)
}

/// Why TDP is on (EPT or NPT enabled), if it is.
pub fn tdp_enabled() -> Option<String> {
    let yes = |v: Option<String>| v.is_some_and(|v| v == "Y" || v == "1");
    if yes(sysfs("/sys/module/kvm_intel/parameters/ept")) {
        return Some("kvm_intel has ept=Y".into());
    }
    if yes(sysfs("/sys/module/kvm_amd/parameters/npt")) {
        return Some("kvm_amd has npt=1".into());
    }
    None
}

/// Check the host can run a collection, with errors that say what to do.
pub fn preflight() -> Result<(), CollectError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(CollectError::NotRoot);
    }
    if let Some(why) = tdp_enabled() {
        return Err(CollectError::Tdp(why));
    }
    Ok(())
}
