//! Kernel verdicts: the lines the kernel writes when it judges a task hung,
//! a CPU locked up, or memory exhausted enough to kill. Pure: one `/dev/kmsg`
//! record in, a verdict (or nothing) out.

use crate::model::StallKind;

/// What the kernel said, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelVerdict {
    pub kind: StallKind,
    pub pid: Option<u32>,
    /// The task's name as the kernel printed it (untrusted: escape it).
    pub command: Option<String>,
    /// How long the kernel says it lasted, seconds (hung tasks, lockups).
    pub seconds: Option<f64>,
    /// The message, for the verdict line.
    pub message: String,
}

/// The message of a `/dev/kmsg` record (`prio,seq,usec,flags;message`, then
/// continuation lines starting with a space); or the line itself when it has
/// no such header (journal text).
pub fn kmsg_message(record: &str) -> &str {
    let first = record.lines().next().unwrap_or("");
    match first.split_once(';') {
        Some((head, msg)) if head.split(',').count() >= 3 => msg,
        _ => first,
    }
}

fn number_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|s| !s.is_empty())
}

/// `[name:pid]` at the end of a lockup line.
fn bracketed_task(text: &str) -> (Option<String>, Option<u32>) {
    let Some(open) = text.rfind('[') else {
        return (None, None);
    };
    let inner = text[open + 1..].trim_end().trim_end_matches(']');
    match inner.rsplit_once(':') {
        Some((name, pid)) => (Some(name.to_string()), pid.parse().ok()),
        None => (None, None),
    }
}

/// Recognise one kernel message.
pub fn parse(record: &str) -> Option<KernelVerdict> {
    let msg = kmsg_message(record).trim();
    let verdict = |kind, pid, command, seconds| {
        Some(KernelVerdict {
            kind,
            pid,
            command,
            seconds,
            message: msg.to_string(),
        })
    };
    // "INFO: task kworker/0:1:123 blocked for more than 120 seconds."
    if let Some(rest) = msg.strip_prefix("INFO: task ")
        && let Some((task, _)) = rest.split_once(" blocked for more than ")
    {
        let (name, pid) = match task.rsplit_once(':') {
            Some((n, p)) => (Some(n.to_string()), p.parse().ok()),
            None => (Some(task.to_string()), None),
        };
        let secs = number_after(msg, "blocked for more than ").and_then(|s| s.parse().ok());
        return verdict(StallKind::HungTask, pid, name, secs);
    }
    // "watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [spin:4242]"
    if msg.contains("soft lockup - CPU#") {
        let (name, pid) = bracketed_task(msg);
        let secs = number_after(msg, "stuck for ").and_then(|s| s.parse().ok());
        return verdict(StallKind::Lockup, pid, name, secs);
    }
    // "watchdog: Watchdog detected hard LOCKUP on cpu 3"
    if msg.contains("hard LOCKUP") {
        return verdict(StallKind::Lockup, None, None, None);
    }
    // "Out of memory: Killed process 4242 (chrome) total-vm:…" and the
    // memory-cgroup form "Memory cgroup out of memory: Killed process …".
    if let Some(at) = msg.find("Killed process ") {
        let rest = &msg[at + "Killed process ".len()..];
        let pid = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|p| p.parse().ok());
        // The name may hold parentheses itself: it ends before ") total-vm"
        // (or at the last ')').
        let name = rest.split_once('(').and_then(|(_, r)| {
            r.find(") total-vm")
                .map(|end| &r[..end])
                .or_else(|| r.rsplit_once(')').map(|(n, _)| n))
                .map(str::to_string)
        });
        return verdict(StallKind::OomKill, pid, name, None);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hung_task() {
        let v =
            parse("3,1234,5678,-;INFO: task kworker/0:1:123 blocked for more than 120 seconds.")
                .expect("hung task");
        assert_eq!(v.kind, StallKind::HungTask);
        assert_eq!(v.pid, Some(123));
        assert_eq!(v.command.as_deref(), Some("kworker/0:1"));
        assert_eq!(v.seconds, Some(120.0));
    }

    #[test]
    fn soft_and_hard_lockups() {
        let v = parse("0,9,1,-;watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [spin:4242]")
            .expect("soft lockup");
        assert_eq!(
            (v.kind, v.pid, v.seconds),
            (StallKind::Lockup, Some(4242), Some(22.0))
        );
        assert_eq!(v.command.as_deref(), Some("spin"));
        let h = parse("0,10,1,-;watchdog: Watchdog detected hard LOCKUP on cpu 3").expect("hard");
        assert_eq!((h.kind, h.pid), (StallKind::Lockup, None));
    }

    #[test]
    fn oom_kills_global_and_cgroup() {
        let v = parse(
            "3,77,100,-;Out of memory: Killed process 4242 (chrome) total-vm:1000kB, anon-rss:900kB",
        )
        .expect("oom");
        assert_eq!((v.kind, v.pid), (StallKind::OomKill, Some(4242)));
        assert_eq!(v.command.as_deref(), Some("chrome"));
        let c = parse(
            "3,78,100,-;Memory cgroup out of memory: Killed process 99 (a (weird) name) total-vm:1kB\n UID=0",
        )
        .expect("memcg oom");
        assert_eq!(c.pid, Some(99));
        assert_eq!(c.command.as_deref(), Some("a (weird) name"));
    }

    #[test]
    fn everything_else_is_nothing() {
        for line in [
            "6,1,1,-;usb 1-1: new high-speed USB device",
            "",
            "garbage without header",
            "4,2,3,-;INFO: task without the rest",
        ] {
            assert_eq!(parse(line), None, "{line}");
        }
        assert_eq!(kmsg_message("6,1,1,-;hello\n SUBSYSTEM=usb"), "hello");
    }
}
