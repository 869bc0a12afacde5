//! Process accounting from the kernel: the server's CPU time (utime+stime from /proc/PID/stat)
//! and memory (VmRSS/VmHWM from /proc/PID/status), the load generator's own CPU (getrusage),
//! and process setup (file limit, SIGPIPE, timer slack).

use std::io;

/// One reading of a process's CPU and memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcSample {
    /// user + system CPU time, microseconds.
    pub cpu_us: u64,
    /// The system (kernel) part of `cpu_us`, microseconds.
    pub sys_us: u64,
    /// Resident set size, KiB.
    pub rss_kb: u64,
    /// Peak resident set size (high-water mark), KiB.
    pub hwm_kb: u64,
}

/// Reads CPU time and memory of process `pid`.
pub fn sample(pid: u32) -> io::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let (user, sys) = parse_stat_user_sys(&stat)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc stat"))?;
    let (rss_kb, hwm_kb) = parse_status_mem(&status);
    let us = |ticks: u64| ticks.saturating_mul(1_000_000) / clock_ticks_per_sec();
    Ok(ProcSample {
        cpu_us: us(user + sys),
        sys_us: us(sys),
        rss_kb,
        hwm_kb,
    })
}

/// utime + stime in clock ticks from the text of /proc/PID/stat.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    parse_stat_user_sys(stat).map(|(u, s)| u + s)
}

/// (utime, stime) in clock ticks from the text of /proc/PID/stat (the whole thread group's
/// when PID is a process). The command name may hold spaces and parentheses, so fields are
/// counted after the last `)`.
pub fn parse_stat_user_sys(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut it = rest.split_ascii_whitespace();
    // after ')' come: state(3) ppid(4) ... utime is field 14, stime 15 (1-based, whole line)
    let utime: u64 = it.nth(11)?.parse().ok()?;
    let stime: u64 = it.next()?.parse().ok()?;
    Some((utime, stime))
}

/// (VmRSS, VmHWM) in KiB from the text of /proc/PID/status; missing fields read as 0.
pub fn parse_status_mem(status: &str) -> (u64, u64) {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_ascii_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// CPU time (user + system) this process has used, microseconds.
pub fn self_cpu_us() -> u64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to an owned rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Raises the soft open-file limit to the hard limit; returns the new soft limit.
pub fn raise_nofile_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit on an owned struct.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 1024;
        }
        if rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
        rl.rlim_cur as u64
    }
}

/// Process setup for a load run: ignore SIGPIPE (writes to closed sockets become errors we
/// count), 1 µs timer slack so timed waits wake on time, and the largest file limit allowed.
pub fn prepare_process() -> u64 {
    // SAFETY: setting a signal disposition and a prctl knob of this process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong);
    }
    raise_nofile_limit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let s = "1234 (my (weird) srv) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(parse_stat_ticks(s), Some(300));
        assert_eq!(parse_stat_user_sys(s), Some((250, 50)));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn status_memory_fields() {
        let s = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(parse_status_mem(s), (1024, 2048));
        assert_eq!(parse_status_mem(""), (0, 0));
    }

    #[test]
    fn own_process_is_readable() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_kb > 0);
        assert!(s.hwm_kb >= s.rss_kb);
        let _ = self_cpu_us();
    }
}
