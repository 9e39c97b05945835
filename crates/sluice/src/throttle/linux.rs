//! Linux's own load files: pressure stall information and cgroup limits, parsed by pure
//! functions over their text and read under a root directory that tests can fake.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::sample::Stall;

/// What a limit file says: a figure, or its way of saying there is none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Limit<T> {
    /// No limit is set.
    Unlimited,
    /// This limit is set.
    Of(T),
}

/// A v1 memory limit at or above this means none: the kernel shows its page counter's
/// maximum (9223372036854771712 with 4 KiB pages), whose exact value depends on page size.
const V1_NO_MEMORY_LIMIT: u64 = 1 << 62;

/// The averages of a PSI file's `some` line (`/proc/pressure/*`, a cgroup's `*.pressure`).
pub(crate) fn parse_psi_some(text: &str) -> Option<Stall> {
    let line = text.lines().find_map(|line| line.strip_prefix("some "))?;
    let avg = |key: &str| {
        let mut fields = line.split_whitespace();
        let value = fields.find_map(|field| field.strip_prefix(key)?.strip_prefix('='))?;
        value.parse::<f64>().ok().filter(|value| value.is_finite())
    };
    Some(Stall::new(avg("avg10")?, avg("avg60")?, avg("avg300")?))
}

/// This process's path in the hierarchy of `controller` (`""` for the v2 unified one),
/// from the text of `/proc/self/cgroup`.
pub(crate) fn parse_cgroup_path<'a>(text: &'a str, controller: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        // The path is last and may itself hold colons.
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let listed = controllers.split(',').any(|name| name == controller);
        (listed && path.starts_with('/')).then_some(path)
    })
}

/// A whole number above zero, as `f64`.
fn positive(text: &str) -> Option<f64> {
    let n = text.trim().parse::<u64>().ok().filter(|&n| n > 0)?;
    Some(n as f64)
}

/// Parses v2 `cpu.max` (`"$QUOTA $PERIOD"`, quota `max` for none) into CPUs.
pub(crate) fn parse_cpu_max(text: &str) -> Option<Limit<f64>> {
    let mut fields = text.split_whitespace();
    let (Some(quota), Some(period), None) = (fields.next(), fields.next(), fields.next()) else {
        return None;
    };
    let period = positive(period)?;
    if quota == "max" {
        return Some(Limit::Unlimited);
    }
    Some(Limit::Of(positive(quota)? / period))
}

/// Parses v1 `cpu.cfs_quota_us` (-1 for none) and `cpu.cfs_period_us` into CPUs.
pub(crate) fn parse_cfs_quota(quota: &str, period: &str) -> Option<Limit<f64>> {
    if quota.trim().parse::<i64>().ok()? < 0 {
        return Some(Limit::Unlimited);
    }
    Some(Limit::Of(positive(quota)? / positive(period)?))
}

/// Parses v2 `memory.max` (`max` for none) into bytes.
pub(crate) fn parse_memory_max(text: &str) -> Option<Limit<u64>> {
    match text.trim() {
        "max" => Some(Limit::Unlimited),
        bytes => bytes.parse().ok().map(Limit::Of),
    }
}

/// Parses v1 `memory.limit_in_bytes`, whose "none" is a huge number.
pub(crate) fn parse_v1_memory_limit(text: &str) -> Option<Limit<u64>> {
    let bytes: u64 = text.trim().parse().ok()?;
    let limited = Some(bytes).filter(|&bytes| bytes < V1_NO_MEMORY_LIMIT);
    Some(limited.map_or(Limit::Unlimited, Limit::Of))
}

/// Parses a file holding one counter (`memory.current`, `cpuacct.usage`).
pub(crate) fn parse_counter(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// The value of `key` in a `key value` per line file (`memory.stat`, `cpu.stat`).
pub(crate) fn parse_stat_key(text: &str, key: &str) -> Option<u64> {
    let mut pairs = text.lines().filter_map(|line| line.split_once(' '));
    let (_, value) = pairs.find(|(name, _)| *name == key)?;
    parse_counter(value)
}

/// This process's cgroup directories, found from `/proc/self/cgroup` and the mounts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cgroup {
    /// Whether the hierarchy is the unified one (v2), which names its files differently
    /// and keeps every controller's files in one directory.
    v2: bool,
    /// The directory of the `cpu` controller's files; `None` if it is not mounted.
    cpu: Option<PathBuf>,
    /// The directory of the `cpuacct` controller's files (v1 only).
    cpuacct: Option<PathBuf>,
    /// The directory of the `memory` controller's files.
    memory: Option<PathBuf>,
}

impl Cgroup {
    /// Finds this process's cgroup under `root` (`/` outside tests); `None` off Linux.
    pub(crate) fn find(root: &Path) -> Option<Cgroup> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        let text = read(&root.join("proc/self"), "cgroup")?;
        // Hybrid systems also print a `0::` line, but their controllers live in v1.
        let named = |controller| parse_cgroup_path(&text, controller).is_some();
        let v2 = !["cpu", "cpuacct", "memory"].into_iter().any(named);
        let dir = |controller: &str| {
            let key = if v2 { "" } else { controller };
            let mount = root.join("sys/fs/cgroup").join(key);
            locate(&mount, parse_cgroup_path(&text, key)?)
        };
        let (cpu, memory) = (dir("cpu"), dir("memory"));
        let cpuacct = dir("cpuacct");
        let found = cpu.is_some() || memory.is_some();
        found.then_some(Cgroup {
            v2,
            cpu,
            cpuacct,
            memory,
        })
    }

    /// `v1` or `v2`, whichever names a file in this cgroup's hierarchy.
    fn pick(&self, v1: &'static str, v2: &'static str) -> &'static str {
        if self.v2 { v2 } else { v1 }
    }

    /// The CPU quota, in CPUs.
    pub(crate) fn cpu_quota(&self) -> Option<Limit<f64>> {
        let dir = self.cpu.as_deref()?;
        if self.v2 {
            return parse_cpu_max(&read(dir, "cpu.max")?);
        }
        let quota = read(dir, "cpu.cfs_quota_us")?;
        parse_cfs_quota(&quota, &read(dir, "cpu.cfs_period_us")?)
    }

    /// CPU time used by every task of the cgroup since it began.
    pub(crate) fn cpu_usage(&self) -> Option<Duration> {
        if self.v2 {
            let stat = read(self.cpu.as_deref()?, "cpu.stat")?;
            return parse_stat_key(&stat, "usage_usec").map(Duration::from_micros);
        }
        let nanos = parse_counter(&read(self.cpuacct.as_deref()?, "cpuacct.usage")?)?;
        Some(Duration::from_nanos(nanos))
    }

    /// The memory limit, in bytes.
    pub(crate) fn memory_limit(&self) -> Option<Limit<u64>> {
        let dir = self.memory.as_deref()?;
        if self.v2 {
            return parse_memory_max(&read(dir, "memory.max")?);
        }
        parse_v1_memory_limit(&read(dir, "memory.limit_in_bytes")?)
    }

    /// Bytes charged to the cgroup, page cache included.
    pub(crate) fn memory_usage(&self) -> Option<u64> {
        let file = self.pick("memory.usage_in_bytes", "memory.current");
        parse_counter(&read(self.memory.as_deref()?, file)?)
    }

    /// Page cache the kernel would drop before it kills anyone: inactive file pages.
    pub(crate) fn memory_reclaimable(&self) -> Option<u64> {
        let key = self.pick("total_inactive_file", "inactive_file");
        parse_stat_key(&read(self.memory.as_deref()?, "memory.stat")?, key)
    }
}

/// The process's directory under a hierarchy's mount, else the mount itself: a container
/// without its own cgroup namespace sees the host's path but its cgroup at the root.
fn locate(mount: &Path, path: &str) -> Option<PathBuf> {
    let own = mount.join(path.trim_start_matches('/'));
    let dirs = [own, mount.to_path_buf()];
    dirs.into_iter().find(|dir| dir.is_dir())
}

/// The `some` stall of `resource` (`cpu`, `memory`): the cgroup's own where v2 has one,
/// since the system-wide figure counts stalls of tasks outside the container.
pub(crate) fn read_stall(root: &Path, cgroup: Option<&Cgroup>, resource: &str) -> Option<Stall> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let unified = cgroup.filter(|cg| cg.v2).and_then(|cg| cg.cpu.as_deref());
    let own = unified.and_then(|dir| read(dir, &format!("{resource}.pressure")));
    own.and_then(|text| parse_psi_some(&text))
        .or_else(|| parse_psi_some(&read(&root.join("proc/pressure"), resource)?))
}

/// A file's text; `None` if it is missing or unreadable.
fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

/// A fresh directory tree for tests that fake `/`, from `path: text` lines, where `|`
/// in the text stands for a line break.
#[cfg(test)]
pub(crate) fn fake_root(name: &str, spec: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("sluice-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (path, text) in spec.lines().filter_map(|line| line.trim().split_once(": ")) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text.replace('|', "\n") + "\n").expect("write a fake file");
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_some_line() {
        let text = "some avg10=2.46 avg60=1.72 avg300=6.44 total=1309321978\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_psi_some(text), Some(Stall::new(2.46, 1.72, 6.44)));
        assert_eq!(parse_psi_some("full avg10=1 avg60=1 avg300=1"), None);
        assert_eq!(parse_psi_some("some avg10=x avg60=1 avg300=1"), None);
        assert_eq!(parse_psi_some("some avg10=1"), None);
    }

    #[test]
    fn proc_self_cgroup_v2_and_v1() {
        let v2 = "0::/user.slice/app.scope\n";
        assert_eq!(parse_cgroup_path(v2, ""), Some("/user.slice/app.scope"));
        assert_eq!(parse_cgroup_path(v2, "memory"), None);
        let v1 = "9:name=systemd:/\n4:memory:/api/f7\n3:cpu,cpuacct:/docker/a:b\n0::/\n";
        assert_eq!(parse_cgroup_path(v1, "memory"), Some("/api/f7"));
        assert_eq!(parse_cgroup_path(v1, "cpu"), Some("/docker/a:b"));
        assert_eq!(parse_cgroup_path(v1, "cpuacct"), Some("/docker/a:b"));
        assert_eq!(parse_cgroup_path(v1, ""), Some("/"));
        assert_eq!(parse_cgroup_path("garbage\n7:cpu\n6:memory:x", "cpu"), None);
        assert_eq!(parse_cgroup_path("", ""), None);
    }

    #[test]
    fn cpu_quotas() {
        assert_eq!(parse_cpu_max("max 100000\n"), Some(Limit::Unlimited));
        assert_eq!(parse_cpu_max("200000 100000\n"), Some(Limit::Of(2.0)));
        for bad in ["200000", "200000 0", "lots 100000", "1 2 3"] {
            assert_eq!(parse_cpu_max(bad), None, "{bad:?}");
        }
        assert_eq!(parse_cfs_quota("-1\n", "100000\n"), Some(Limit::Unlimited));
        assert_eq!(parse_cfs_quota("150000", "100000"), Some(Limit::Of(1.5)));
        assert_eq!(parse_cfs_quota("150000", "nope"), None);
        assert_eq!(parse_cfs_quota("", "100000"), None);
    }

    #[test]
    fn memory_limits_and_stats() {
        assert_eq!(parse_memory_max("max\n"), Some(Limit::Unlimited));
        assert_eq!(parse_memory_max("1073741824\n"), Some(Limit::Of(1 << 30)));
        assert_eq!(parse_memory_max("-"), None);
        let none = parse_v1_memory_limit("9223372036854771712\n");
        assert_eq!(none, Some(Limit::Unlimited));
        assert_eq!(parse_v1_memory_limit("536870912"), Some(Limit::Of(1 << 29)));
        assert_eq!(parse_v1_memory_limit("lots"), None);
        let stat = "cache 5\ninactive_file 1662976\ntotal_inactive_file 42\n";
        assert_eq!(parse_stat_key(stat, "inactive_file"), Some(1662976));
        assert_eq!(parse_stat_key(stat, "total_inactive_file"), Some(42));
        assert_eq!(parse_stat_key("usage_usec many", "usage_usec"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn fake_cgroup_trees() {
        let tree = "
            proc/self/cgroup: 0::/app
            proc/pressure/cpu: some avg10=9 avg60=9 avg300=9 total=1
            sys/fs/cgroup/app/cpu.max: 200000 100000
            sys/fs/cgroup/app/cpu.stat: usage_usec 1500|user_usec 1000
            sys/fs/cgroup/app/memory.max: 1073741824
            sys/fs/cgroup/app/memory.current: 536870912
            sys/fs/cgroup/app/memory.stat: anon 1|inactive_file 4096
            sys/fs/cgroup/app/cpu.pressure: some avg10=1 avg60=2 avg300=3 total=1";
        let v2_root = fake_root("linux-v2", tree);
        let v2 = Cgroup::find(&v2_root).expect("v2 cgroup");
        assert_eq!(v2.memory, Some(v2_root.join("sys/fs/cgroup/app")));
        assert_eq!(v2.cpu_quota(), Some(Limit::Of(2.0)));
        assert_eq!(v2.cpu_usage(), Some(Duration::from_micros(1500)));
        assert_eq!(v2.memory_limit(), Some(Limit::Of(1 << 30)));
        assert_eq!(v2.memory_usage(), Some(1 << 29));
        assert_eq!(v2.memory_reclaimable(), Some(4096));
        let own = Some(Stall::new(1.0, 2.0, 3.0));
        assert_eq!(read_stall(&v2_root, Some(&v2), "cpu"), own);
        let system_wide = Some(Stall::new(9.0, 9.0, 9.0));
        assert_eq!(read_stall(&v2_root, None, "cpu"), system_wide);

        // The v1 paths are the host's; the container sees its cgroup at each mount's root.
        let tree = "
            proc/self/cgroup: 4:memory:/docker/x|3:cpu,cpuacct:/docker/x
            sys/fs/cgroup/cpu/cpu.cfs_quota_us: -1
            sys/fs/cgroup/cpu/cpu.cfs_period_us: 100000
            sys/fs/cgroup/cpuacct/cpuacct.usage: 2000000
            sys/fs/cgroup/memory/memory.limit_in_bytes: 9223372036854771712
            sys/fs/cgroup/memory/memory.usage_in_bytes: garbage";
        let v1_root = fake_root("linux-v1", tree);
        let v1 = Cgroup::find(&v1_root).expect("v1 cgroup");
        assert_eq!(v1.memory, Some(v1_root.join("sys/fs/cgroup/memory")));
        assert_eq!(v1.cpu_quota(), Some(Limit::Unlimited));
        assert_eq!(v1.cpu_usage(), Some(Duration::from_millis(2)));
        assert_eq!(v1.memory_limit(), Some(Limit::Unlimited));
        assert_eq!(v1.memory_usage(), None);
        assert_eq!(read_stall(&v1_root, Some(&v1), "cpu"), None);
        assert_eq!(Cgroup::find(&v1_root.join("nowhere")), None);
        for root in [v2_root, v1_root] {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}
