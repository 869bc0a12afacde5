//! Describes the machine a run happened on (CPU model, cores, memory, kernel) for the
//! template's "Server Spec" line and the JSON.

/// One-line machine description from /proc.
pub fn describe() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|v| v.split_once(':')))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    // online CPUs of the machine, not of this process's affinity mask (taskset)
    // SAFETY: sysconf has no memory-safety preconditions.
    let cores = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(0);
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!(
        "{model}, {cores} cores, {:.1} GiB RAM, Linux {kernel}",
        mem_kb as f64 / 1024.0 / 1024.0
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn describes_something() {
        let d = super::describe();
        assert!(d.contains("cores"));
    }
}
