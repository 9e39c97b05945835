//! CPU time, from `/proc`: this process's (the client's: the workers or the raw
//! loops, and the producer) and the PostgreSQL server's (the postmaster, its live
//! children, and the children it has reaped), so that a run's cost per task can be
//! read on a machine other programs load.

/// The kernel's USER_HZ, which `/proc/*/stat` counts CPU time in: 100 on every
/// architecture Linux ships (so 10 ms steps: a run's figure is good to a percent or two).
const USER_HZ: f64 = 100.0;

/// The fields of `/proc/{pid}/stat` after the command name (which may hold spaces),
/// so that field n of proc(5) is at index n - 3.
fn stat_fields(pid: &str) -> Result<Vec<String>, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("reading /proc/{pid}/stat: {e}"))?;
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("no command name in /proc/{pid}/stat"))?;
    Ok(after_name.split_whitespace().map(str::to_owned).collect())
}

/// The sum of fields `numbers` (proc(5) numbering) of a stat line, in seconds.
fn seconds(fields: &[String], numbers: &[usize]) -> Result<f64, String> {
    let mut total = 0.0;
    for &n in numbers {
        total += fields
            .get(n - 3)
            .and_then(|t| t.parse::<f64>().ok())
            .ok_or("no CPU times in a /proc stat line")?;
    }
    Ok(total / USER_HZ)
}

/// CPU time this process has used so far, user and system, all its threads (ended
/// ones included), in seconds (fields 14 and 15).
pub fn own_seconds() -> Result<f64, String> {
    seconds(&stat_fields("self")?, &[14, 15])
}

/// CPU time the server whose postmaster is `postmaster` has used so far, in seconds:
/// its own and its reaped children's (fields 14–17), and its live children's.
pub fn server_seconds(postmaster: u32) -> Result<f64, String> {
    let parent = postmaster.to_string();
    let mut total = seconds(&stat_fields(&parent)?, &[14, 15, 16, 17])?;
    let entries = std::fs::read_dir("/proc").map_err(|e| format!("reading /proc: {e}"))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        // A process that ended meanwhile is in its parent's reaped times next time.
        let Ok(fields) = stat_fields(pid) else {
            continue;
        };
        if fields.get(1) == Some(&parent) {
            total += seconds(&fields, &[14, 15])?;
        }
    }
    Ok(total)
}

/// The postmaster of the backend `backend` (its parent).
pub fn postmaster_of(backend: u32) -> Result<u32, String> {
    stat_fields(&backend.to_string())?
        .get(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("no parent in /proc/{backend}/stat"))
}
