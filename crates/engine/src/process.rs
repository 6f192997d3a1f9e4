//! What the scheduler itself costs, measured live: the standard `process_*` families read at
//! scrape time, and the calling thread's CPU clock the tick loop charges its decision work to.
//!
//! prometheus-client has no process collector, and the crates that offer one are written for
//! the other client (`prometheus`); reading a few lines of `/proc` is less code than adapting
//! one. The families and their meaning follow the Prometheus client guidelines
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, …), so dashboards and rules
//! written for any other exporter read them unchanged.

use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// CPU time the calling thread has used so far (`CLOCK_THREAD_CPUTIME_ID`, nanosecond
/// resolution); `None` where the clock is unavailable.
///
/// Only meaningful as the difference of two readings taken on one thread with no `.await`
/// between them: an async task may resume on another worker thread.
pub fn thread_cpu_time() -> Option<Duration> {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time the whole process has used so far, user and system, every thread
/// (`CLOCK_PROCESS_CPUTIME_ID`).
pub fn process_cpu_time() -> Option<Duration> {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock(id: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call, which is all
    // clock_gettime needs; it reports an unknown clock through its return value.
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Thread CPU time summed over synchronous sections of work: async code measures each stretch
/// between two `.await`s on its own, since the task may move to another thread at each one.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct CpuMeter {
    spent: Duration,
}

impl CpuMeter {
    /// Runs `f` (which must not block on I/O to be a fair measure) and adds the thread CPU
    /// time it used.
    pub fn measure<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let start = thread_cpu_time();
        let out = f();
        if let (Some(start), Some(end)) = (start, thread_cpu_time()) {
            self.spent += end.saturating_sub(start);
        }
        out
    }

    /// CPU time measured so far.
    pub fn spent(&self) -> Duration {
        self.spent
    }
}

/// One reading of the process's resources.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size in bytes.
    pub resident_memory_bytes: Option<f64>,
    /// Virtual memory size in bytes.
    pub virtual_memory_bytes: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<f64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<f64>,
    /// Start time of the process, seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

impl ProcessStats {
    /// Reads the calling process's figures; each one that cannot be read (another OS, a
    /// restricted `/proc`) is `None`, and the others are still reported.
    pub fn read() -> ProcessStats {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kb = |key: &str| status_kb(&status, key).map(|kb| kb * 1024.0);
        ProcessStats {
            cpu_seconds: process_cpu_time().map(|d| d.as_secs_f64()),
            resident_memory_bytes: kb("VmRSS:"),
            virtual_memory_bytes: kb("VmSize:"),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|dir| dir.count() as f64),
            max_fds: max_fds(),
            start_time_seconds: start_time_seconds(),
        }
    }
}

/// A `kB` line of `/proc/self/status`, e.g. `VmRSS: 12345 kB` (a tab, padding, the value).
fn status_kb(status: &str, key: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let mut words = line[key.len()..].split_whitespace();
    let value: f64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(value)
}

fn max_fds() -> Option<f64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the duration of the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as f64)
}

/// The boot time (`btime` of `/proc/stat`) plus the process's start in clock ticks after boot
/// (field 22 of `/proc/self/stat`), as every Prometheus client computes it.
fn start_time_seconds() -> Option<f64> {
    let boot: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let ticks = stat_field(&stat, 22)?;
    // SAFETY: sysconf has no pointer arguments; it returns -1 for an unknown name.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| boot + ticks / per_second as f64)
}

/// Field `n` (1-based, as in proc(5)) of `/proc/self/stat`. The second field, the command
/// name, is in parentheses and may itself hold spaces and parentheses, so fields are counted
/// from the last `)`.
fn stat_field(stat: &str, n: usize) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(n.checked_sub(3)?)?.parse().ok()
}

/// Reports [`ProcessStats`] under the standard `process_*` names at every scrape; register it
/// with [`prometheus_client::registry::Registry::register_collector`].
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = ProcessStats::read();
        if let Some(v) = s.cpu_seconds {
            let counter = ConstCounter::new(v);
            let m = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                counter.metric_type(),
            )?;
            counter.encode(m)?;
        }
        for (name, help, value) in [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                s.resident_memory_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                s.virtual_memory_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                s.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                s.max_fds,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                s.start_time_seconds,
            ),
        ] {
            if let Some(v) = value {
                let gauge = ConstGauge::new(v);
                let m = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
                gauge.encode(m)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_command_names_closing_parenthesis() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 \
                    5 0 123456 1000 250";
        assert_eq!(stat_field(stat, 3), None, "the state is not a number");
        assert_eq!(stat_field(stat, 4), Some(1.0));
        assert_eq!(stat_field(stat, 14), Some(7.0));
        assert_eq!(stat_field(stat, 22), Some(123_456.0));
        assert_eq!(stat_field(stat, 30), None);
    }

    #[test]
    fn status_lines_in_kilobytes() {
        let status = "Name:\thivesched\nVmSize:\t  204800 kB\nVmRSS:\t    5120 kB\nThreads:\t4\n";
        assert_eq!(status_kb(status, "VmRSS:"), Some(5120.0));
        assert_eq!(status_kb(status, "VmSize:"), Some(204_800.0));
        assert_eq!(status_kb(status, "Threads:"), None, "not in kB");
        assert_eq!(status_kb(status, "VmSwap:"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_sanely() {
        // Burn a little CPU on this thread so both clocks have moved measurably.
        let before = thread_cpu_time().unwrap();
        let mut x = 0u64;
        while thread_cpu_time().unwrap() - before < Duration::from_millis(5) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let s = ProcessStats::read();
        assert!(s.cpu_seconds.unwrap() >= 0.005, "{s:?}");
        assert!(s.resident_memory_bytes.unwrap() > 1e6, "{s:?}");
        assert!(
            s.virtual_memory_bytes.unwrap() >= s.resident_memory_bytes.unwrap(),
            "{s:?}"
        );
        assert!(s.open_fds.unwrap() >= 3.0, "{s:?}");
        assert!(
            s.max_fds.is_none_or(|max| max >= s.open_fds.unwrap()),
            "{s:?}"
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = s.start_time_seconds.unwrap();
        assert!(started <= now + 1.0 && now - started < 3600.0, "{s:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_meter_counts_work_not_sleep() {
        let mut meter = CpuMeter::default();
        meter.measure(|| std::thread::sleep(Duration::from_millis(50)));
        let asleep = meter.spent();
        assert!(asleep < Duration::from_millis(10), "{asleep:?}");
        meter.measure(|| {
            // Read after the meter's own first reading, so the meter sees at least this much.
            let start = thread_cpu_time().unwrap();
            let mut x = 0u64;
            while thread_cpu_time().unwrap() - start < Duration::from_millis(20) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        });
        assert!(
            meter.spent() - asleep >= Duration::from_millis(20),
            "{meter:?}"
        );
    }

    #[test]
    fn encodes_the_standard_families() {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(ProcessCollector));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        if cfg!(target_os = "linux") {
            for family in [
                "# TYPE process_cpu_seconds counter",
                "\nprocess_cpu_seconds_total ",
                "\nprocess_resident_memory_bytes ",
                "\nprocess_virtual_memory_bytes ",
                "\nprocess_open_fds ",
                "\nprocess_max_fds ",
                "\nprocess_start_time_seconds ",
            ] {
                assert!(text.contains(family), "{family} missing:\n{text}");
            }
        }
    }
}
