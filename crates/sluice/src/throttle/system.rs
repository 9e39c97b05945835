//! [`SystemSampler`]: the real machine, read through `sysinfo` and Linux's own files.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sysinfo::{MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::linux::{self, Cgroup, Limit};
use super::sample::{LoadSample, LoadSampler};

/// Reads the machine this process runs on.
///
/// CPU use comes from `sysinfo` (the machine's, and this process's own), or from the
/// container's cgroup counter when a cgroup CPU quota is what limits this process.
/// Memory comes from the cgroup when it sets a limit, else from the machine. On Linux,
/// pressure stall information comes from `/proc/pressure` or the cgroup's own files.
///
/// The cgroup read is the process's own (from `/proc/self/cgroup`): a quota or memory
/// limit set only on a parent cgroup is not seen, and the machine's figures apply.
///
/// A figure the platform does not give is left `None`. One sample reads a handful of
/// small files and this process's own `/proc` entry, never the whole process list, so
/// it is cheap enough to take every half second.
///
/// # Examples
///
/// ```
/// use sluice::throttle::{LoadSampler, SystemSampler};
///
/// let mut sampler = SystemSampler::new();
/// let first = sampler.sample();
/// assert_eq!(first.cpu_total, None); // CPU use needs two readings
/// ```
#[derive(Debug)]
pub struct SystemSampler {
    /// `sysinfo`'s view of the machine; `None` where `sysinfo` cannot start.
    system: Option<System>,
    /// This process, as `sysinfo` names it.
    pid: Option<Pid>,
    /// The directory Linux's files are read under: `/`, except in tests.
    root: PathBuf,
    /// This process's cgroup, found once: processes are seldom moved between cgroups.
    cgroup: Option<Cgroup>,
    /// The previous sample's CPU counters, which CPU shares are measured from.
    previous: Option<Counters>,
    /// Figures already reported missing, so the debug log names each once, not every sample.
    reported: Vec<&'static str>,
}

/// CPU counters read at one instant.
#[derive(Debug, Clone, Copy)]
struct Counters {
    /// When they were read.
    at: Instant,
    /// CPU time this process has used since it started.
    own: Option<Duration>,
    /// CPU time the cgroup has used, read only while its quota is what limits us.
    cgroup: Option<Duration>,
}

impl SystemSampler {
    /// A sampler of this machine.
    pub fn new() -> Self {
        Self::rooted(Path::new("/"))
    }

    /// A sampler that reads Linux's files under `root` rather than `/`.
    fn rooted(root: &Path) -> Self {
        let mut sampler = SystemSampler {
            system: System::new().ok(),
            pid: sysinfo::get_current_pid().ok(),
            root: root.to_path_buf(),
            cgroup: Cgroup::find(root),
            previous: None,
            reported: Vec::new(),
        };
        if sampler.system.is_none() {
            sampler.report_missing("sysinfo");
        }
        if sampler.pid.is_none() {
            sampler.report_missing("own pid");
        }
        sampler
    }

    /// Logs, once per figure, that `what` could not be read.
    fn report_missing(&mut self, what: &'static str) {
        if !self.reported.contains(&what) {
            self.reported.push(what);
            tracing::debug!(
                figure = what,
                "load figure unavailable; samples leave it out"
            );
        }
    }

    /// Refreshes the machine's CPU use and returns its CPU count.
    fn machine_cpus(&mut self) -> Option<f64> {
        let system = self.system.as_mut()?;
        system.refresh_cpu_usage();
        let cpus = match system.cpus().len() {
            0 => std::thread::available_parallelism().ok()?.get(),
            cpus => cpus,
        };
        Some(cpus as f64)
    }

    /// The cgroup's CPU quota, in CPUs, where one is set.
    fn cpu_quota(&mut self) -> Option<f64> {
        let quota = self.cgroup.as_ref().map(Cgroup::cpu_quota)?;
        match quota {
            Some(Limit::Of(cpus)) => Some(cpus),
            Some(Limit::Unlimited) => None,
            None => {
                self.report_missing("cgroup cpu quota");
                None
            }
        }
    }

    /// This process's CPU time so far, refreshing only its own entry.
    fn own_cpu_time(&mut self) -> Option<Duration> {
        let (system, pid) = (self.system.as_mut()?, self.pid?);
        // Only the process's own line, without its threads: this runs forever.
        let kind = ProcessRefreshKind::nothing().with_cpu().without_tasks();
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), false, kind);
        let millis = system.process(pid)?.accumulated_cpu_time();
        Some(Duration::from_millis(millis))
    }

    /// Fills the CPU figures, measured since the previous sample.
    fn cpu(&mut self, sample: &mut LoadSample) {
        let machine = self.machine_cpus();
        let quota = self.cpu_quota().filter(|&quota| quota > 0.0);
        // A quota above the machine's CPU count never binds; the machine's use is the figure.
        let binding = quota.filter(|&quota| machine.is_none_or(|cpus| quota < cpus));
        let capacity = binding.or(machine);
        sample.cpu_capacity = capacity;
        sample.in_container |= binding.is_some();

        let cgroup = binding
            .and(self.cgroup.as_ref())
            .and_then(Cgroup::cpu_usage);
        if binding.is_some() && cgroup.is_none() {
            self.report_missing("cgroup cpu usage");
        }
        let now = Counters {
            at: Instant::now(),
            own: self.own_cpu_time(),
            cgroup,
        };
        // Both shares against one basis: the quota when the cgroup's own counter is
        // read, else the machine (whose global figure is then the total).
        let basis = binding.filter(|_| cgroup.is_some()).or(machine);
        let (Some(previous), Some(basis)) = (self.previous.replace(now), basis) else {
            return;
        };
        let elapsed = now.at.duration_since(previous.at).as_secs_f64();
        if elapsed <= 0.0 {
            return;
        }
        let share = |now: Option<Duration>, before: Option<Duration>, cpus: f64| {
            let used = now?.checked_sub(before?)?.as_secs_f64();
            Some((used / (cpus * elapsed)).clamp(0.0, 1.0))
        };
        sample.cpu_own = share(now.own, previous.own, basis);
        sample.cpu_total = match (binding, cgroup) {
            (Some(quota), Some(_)) => share(now.cgroup, previous.cgroup, quota),
            _ => self
                .system
                .as_ref()
                .map(|system| (f64::from(system.global_cpu_usage()) / 100.0).clamp(0.0, 1.0)),
        };
    }

    /// Fills the memory figures: the cgroup's when it sets a limit below the machine's.
    fn memory(&mut self, sample: &mut LoadSample) {
        let machine = self.system.as_mut().map(|system| {
            system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
            (system.total_memory(), system.available_memory())
        });
        let machine = machine.filter(|&(total, _)| total > 0);
        let limit = self.cgroup.as_ref().and_then(Cgroup::memory_limit);
        if let Some(Limit::Of(limit)) = limit
            && machine.is_none_or(|(total, _)| limit < total)
        {
            let usage = self.cgroup.as_ref().and_then(Cgroup::memory_usage);
            let cache = self.cgroup.as_ref().and_then(Cgroup::memory_reclaimable);
            if usage.is_none() {
                self.report_missing("cgroup memory usage");
            }
            sample.memory_used = usage.map(|usage| usage.saturating_sub(cache.unwrap_or(0)));
            sample.memory_limit = Some(limit);
            sample.in_container = true;
        } else if let Some((total, available)) = machine {
            sample.memory_used = Some(total.saturating_sub(available));
            sample.memory_limit = Some(total);
        } else {
            self.report_missing("memory");
        }
    }
}

impl Default for SystemSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl LoadSampler for SystemSampler {
    fn sample(&mut self) -> LoadSample {
        let mut sample = LoadSample::default();
        self.cpu(&mut sample);
        self.memory(&mut sample);
        match System::load_average() {
            Ok(load) => sample.load_average = Some([load.one, load.five, load.fifteen]),
            Err(_) => self.report_missing("load average"),
        }
        let cgroup = self.cgroup.as_ref();
        sample.cpu_stall = linux::read_stall(&self.root, cgroup, "cpu");
        sample.memory_stall = linux::read_stall(&self.root, cgroup, "memory");
        if sample.cpu_stall.is_none() {
            self.report_missing("cpu stall");
        }
        if sample.memory_stall.is_none() {
            self.report_missing("memory stall");
        }
        sample
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[test]
    fn two_samples_while_a_thread_spins() {
        let stop = Arc::new(AtomicBool::new(false));
        let spinner = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
                n
            })
        };
        let mut sampler = SystemSampler::new();
        let first = sampler.sample();
        std::thread::sleep(Duration::from_millis(200));
        let second = sampler.sample();
        stop.store(true, Ordering::Relaxed);
        spinner.join().expect("the spinner ends");

        assert_eq!(first.cpu_total, None);
        assert!(second.cpu_capacity.expect("capacity") >= 1.0);
        let total = second.cpu_total.expect("total cpu on the second sample");
        let own = second.cpu_own.expect("own cpu on the second sample");
        assert!((0.0..=1.0).contains(&total), "total {total}");
        assert!(own > 0.0 && own <= 1.0, "own {own}");
        let memory = second.memory_fraction().expect("memory figures");
        assert!((0.0..1.0).contains(&memory), "memory {memory}");
        if cfg!(target_os = "linux") && Path::new("/proc/pressure/cpu").exists() {
            assert!(second.cpu_stall.is_some());
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_container_quota_and_limit_set_the_figures() {
        let tree = "
            proc/self/cgroup: 0::/app
            sys/fs/cgroup/app/cpu.max: 50000 100000
            sys/fs/cgroup/app/cpu.stat: usage_usec 0
            sys/fs/cgroup/app/memory.max: 1048576
            sys/fs/cgroup/app/memory.current: 524288
            sys/fs/cgroup/app/memory.stat: inactive_file 262144";
        let root = linux::fake_root("system-v2", tree);
        let mut sampler = SystemSampler::rooted(&root);
        let first = sampler.sample();
        assert_eq!(first.cpu_capacity, Some(0.5));
        assert!(first.in_container);
        assert_eq!(
            (first.memory_used, first.memory_limit),
            (Some(262144), Some(1048576))
        );

        std::thread::sleep(Duration::from_millis(20));
        let stat = root.join("sys/fs/cgroup/app/cpu.stat");
        std::fs::write(stat, "usage_usec 1000000000\n").expect("rewrite cpu.stat");
        let second = sampler.sample();
        // A counter that ran far past the quota still reads as a full share.
        assert_eq!(second.cpu_total, Some(1.0));
        let _ = std::fs::remove_dir_all(&root);
    }
}
