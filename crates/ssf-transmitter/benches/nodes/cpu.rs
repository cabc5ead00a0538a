//! CPU time: this process's (all threads) and that of the PostgreSQL backends serving this
//! process's connections. The second is the server side of every store operation, which
//! `/proc/self/stat` does not see; it can only be read when the server runs on this machine.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use sqlx::PgPool;

/// utime + stime of `/proc/<pid>/stat` (clock ticks of 10 ms).
fn stat_cpu(path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time this process has used (all threads).
pub(crate) fn process() -> Option<Duration> {
    stat_cpu("/proc/self/stat")
}

/// Local ports of this process's TCP connections to `server_port`: socket inodes of
/// `/proc/self/fd` matched against the kernel's TCP tables.
fn my_ports(server_port: u16) -> BTreeSet<u16> {
    let inodes: BTreeSet<u64> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect();
    let port = |s: &str| {
        s.rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
    };
    let mut ports = BTreeSet::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(remote), Some(inode)) = (
                f.get(1).and_then(|s| port(s)),
                f.get(2).and_then(|s| port(s)),
                f.get(9).and_then(|s| s.parse::<u64>().ok()),
            ) else {
                continue;
            };
            if remote == server_port && inodes.contains(&inode) {
                ports.insert(local);
            }
        }
    }
    ports
}

/// CPU time so far of each backend serving one of this process's connections, by pid.
pub(crate) async fn backends(admin: &PgPool, server_port: u16) -> BTreeMap<i32, Duration> {
    let ports: Vec<i32> = my_ports(server_port).into_iter().map(i32::from).collect();
    let pids: Vec<i32> =
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1)")
            .bind(&ports)
            .fetch_all(admin)
            .await
            .unwrap_or_default();
    pids.into_iter()
        .filter_map(|pid| Some((pid, stat_cpu(&format!("/proc/{pid}/stat"))?)))
        .collect()
}

/// CPU the backends of `after` used since `before` (a backend started in between counts whole).
pub(crate) fn spent(before: &BTreeMap<i32, Duration>, after: &BTreeMap<i32, Duration>) -> Duration {
    after
        .iter()
        .map(|(pid, cpu)| cpu.saturating_sub(before.get(pid).copied().unwrap_or_default()))
        .sum()
}

/// The 1-minute load average (`/proc/loadavg`).
pub(crate) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}
