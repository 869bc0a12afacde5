//! Machine calibration (`roomcore-bench calibrate`): what a system call, a timed sleep and a
//! cross-core wake-up cost on this machine, in CPU time of the process that pays them.
//!
//! Per-message CPU figures of a server and of the load generator at moderate load are mostly
//! sleeps and wake-ups (each side sleeps between messages and wakes the other); on a virtual
//! machine one sleep-and-wake can cost more CPU than the message itself. These figures say how
//! much, so the benchmark tables can be read against the machine they were taken on.
//!
//! CPU time comes from `/proc/thread-self/schedstat` (the scheduler's own run time, in ns);
//! nothing here touches sockets, servers or the report files.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use serde::Serialize;

/// The calibration figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Calibration {
    /// Iterations of each measurement.
    pub iterations: u64,
    /// Wall time of one trivial system call (`getppid`), ns.
    pub syscall_ns: f64,
    /// Requested length of each timed sleep, µs.
    pub sleep_us: u64,
    /// CPU time the sleeping thread is charged per timed sleep (`epoll_pwait2` on an empty set), µs.
    pub sleep_cpu_us: f64,
    /// How late the timed sleeps woke: median, 99th percentile and maximum, µs.
    pub sleep_late_p50_us: f64,
    /// See `sleep_late_p50_us`.
    pub sleep_late_p99_us: f64,
    /// See `sleep_late_p50_us`.
    pub sleep_late_max_us: f64,
    /// CPUs of the ping-pong pair (the sleep runs on the second).
    pub cpus: (usize, usize),
    /// Median round trip of an eventfd ping-pong between two threads on `cpus`, µs.
    pub wake_round_trip_us: f64,
    /// CPU time of both threads per wake-up (two wake-ups per round trip), µs.
    pub wake_cpu_us: f64,
}

/// Run time of the calling thread so far, ns (0 where schedstat is unavailable).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn pin(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET stays inside it for cpu < CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu < libc::CPU_SETSIZE as usize {
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn eventfd() -> std::io::Result<OwnedFd> {
    // SAFETY: plain syscall; the returned fd is owned below.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn signal(fd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to an eventfd.
    unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

fn wait(fd: &OwnedFd) {
    let mut v: u64 = 0;
    // SAFETY: reads 8 bytes into a live u64 from a blocking eventfd.
    unsafe { libc::read(fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
}

fn syscall_ns(n: u64) -> f64 {
    let t = Instant::now();
    for _ in 0..n {
        // SAFETY: getppid has no arguments and no side effects.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    t.elapsed().as_nanos() as f64 / n.max(1) as f64
}

/// Timed sleeps on an empty epoll set: (CPU µs per sleep, sorted lateness in µs).
fn sleeps(n: u64, sleep_us: u64) -> std::io::Result<(f64, Vec<f64>)> {
    // SAFETY: plain syscall; the returned fd is owned below.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: ep is a fresh descriptor we own.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: (sleep_us * 1000) as libc::c_long,
    };
    let mut ev = [libc::epoll_event { events: 0, u64: 0 }];
    let mut late = Vec::with_capacity(n as usize);
    let cpu0 = thread_cpu_ns();
    for _ in 0..n {
        let t = Instant::now();
        // SAFETY: ev has room for one event; ts is a live timespec.
        let r = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                ep.as_raw_fd(),
                ev.as_mut_ptr(),
                1,
                &ts as *const libc::timespec,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        if r < 0 {
            // kernels without epoll_pwait2: millisecond sleeps would say nothing useful
            return Err(std::io::Error::last_os_error());
        }
        late.push((t.elapsed().as_nanos() as f64 / 1e3 - sleep_us as f64).max(0.0));
    }
    let cpu = (thread_cpu_ns() - cpu0) as f64 / 1e3 / n.max(1) as f64;
    late.sort_by(f64::total_cmp);
    Ok((cpu, late))
}

/// Eventfd ping-pong between a thread on `a` and one on `b`: (median round trip µs, CPU µs per
/// wake-up over both threads).
fn ping_pong(n: u64, a: usize, b: usize) -> std::io::Result<(f64, f64)> {
    let (ping, pong) = (eventfd()?, eventfd()?);
    let (ping2, pong2) = (ping.try_clone()?, pong.try_clone()?);
    let echo = std::thread::spawn(move || {
        pin(b);
        let cpu0 = thread_cpu_ns();
        for _ in 0..n {
            wait(&ping2);
            signal(&pong2);
        }
        thread_cpu_ns() - cpu0
    });
    pin(a);
    let mut rtt = Vec::with_capacity(n as usize);
    let cpu0 = thread_cpu_ns();
    for _ in 0..n {
        let t = Instant::now();
        signal(&ping);
        wait(&pong);
        rtt.push(t.elapsed().as_nanos() as f64 / 1e3);
    }
    let own = thread_cpu_ns() - cpu0;
    let other = echo.join().unwrap_or(0);
    rtt.sort_by(f64::total_cmp);
    let per_wake = (own + other) as f64 / 1e3 / (2 * n.max(1)) as f64;
    Ok((percentile(&rtt, 0.5), per_wake))
}

/// Runs the three measurements, `iterations` each, sleeping `sleep_us` per timed sleep; the
/// ping-pong runs between `cpus.0` and `cpus.1`, the sleeps on `cpus.1`.
pub fn run(iterations: u64, sleep_us: u64, cpus: (usize, usize)) -> Result<Calibration, String> {
    let n = iterations.max(10);
    let err = |what: &str, e: std::io::Error| format!("calibrate: {what}: {e}");
    // each measurement on its own thread, so the pinning of one does not carry over
    let (syscall, slept) = std::thread::spawn(move || {
        pin(cpus.1);
        (syscall_ns(n * 20), sleeps(n, sleep_us))
    })
    .join()
    .map_err(|_| "calibrate: sleep thread panicked".to_string())?;
    let (sleep_cpu, late) = slept.map_err(|e| err("timed sleep", e))?;
    let (rtt, wake_cpu) = std::thread::spawn(move || ping_pong(n, cpus.0, cpus.1))
        .join()
        .map_err(|_| "calibrate: ping-pong thread panicked".to_string())?
        .map_err(|e| err("ping-pong", e))?;
    Ok(Calibration {
        iterations: n,
        syscall_ns: syscall,
        sleep_us,
        sleep_cpu_us: sleep_cpu,
        sleep_late_p50_us: percentile(&late, 0.5),
        sleep_late_p99_us: percentile(&late, 0.99),
        sleep_late_max_us: late.last().copied().unwrap_or(0.0),
        cpus,
        wake_round_trip_us: rtt,
        wake_cpu_us: wake_cpu,
    })
}

/// Markdown table of the figures.
pub fn markdown(c: &Calibration) -> String {
    format!(
        "| measurement ({} iterations) | result |\n|---|---:|\n\
         | one system call (`getppid`), wall time | {:.0} ns |\n\
         | timed sleep of {} µs (`epoll_pwait2`): CPU charged to the sleeper | {:.1} µs |\n\
         | timed sleep: wake-up lateness p50 / p99 / max | {:.0} / {:.0} / {:.0} µs |\n\
         | eventfd ping-pong CPU {} ↔ CPU {}: median round trip | {:.1} µs |\n\
         | ping-pong: CPU per wake-up (both threads) | {:.1} µs |\n",
        c.iterations,
        c.syscall_ns,
        c.sleep_us,
        c.sleep_cpu_us,
        c.sleep_late_p50_us,
        c.sleep_late_p99_us,
        c.sleep_late_max_us,
        c.cpus.0,
        c.cpus.1,
        c.wake_round_trip_us,
        c.wake_cpu_us,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_sorted_values() {
        let v: Vec<f64> = (0..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn measures_this_machine() {
        let c = run(200, 50, (0, 0)).unwrap();
        assert_eq!(c.iterations, 200);
        // a system call takes some time but far less than a millisecond anywhere
        assert!(c.syscall_ns > 0.0 && c.syscall_ns < 1e6, "{c:?}");
        // every sleep lasted its 50 µs, so the sleeper ran for less than the wall time
        assert!(c.sleep_cpu_us > 0.0, "{c:?}");
        assert!(c.sleep_late_p50_us <= c.sleep_late_p99_us);
        assert!(c.sleep_late_p99_us <= c.sleep_late_max_us);
        assert!(c.wake_round_trip_us > 0.0 && c.wake_cpu_us > 0.0, "{c:?}");
        let md = markdown(&c);
        assert!(md.contains("CPU charged to the sleeper"), "{md}");
        assert_eq!(md.lines().count(), 7, "{md}");
    }
}
