//! Permissions for forensics: which capture sources work for the current user
//! and why, computed from real checks (effective uid, the `CapEff` bits of
//! /proc/self/status, group membership, kernel.dmesg_restrict, Yama's
//! ptrace_scope, tools in `$PATH`, the sudoers rule), and the narrow rules
//! that widen them: the macOS sudoers drop-in (`sudoers`) and, on Linux, a
//! capabilities drop-in for the system service (never sudo).
//!
//! `Facts::gather` does the reading; `assess` is a plain function of the facts.

pub(crate) mod sudoers;

use std::collections::BTreeMap;
use std::path::Path;

pub(crate) const CAP_DAC_READ_SEARCH: u32 = 2;
pub(crate) const CAP_SYS_PTRACE: u32 = 19;
pub(crate) const CAP_SYS_ADMIN: u32 = 21;
pub(crate) const CAP_SYSLOG: u32 = 34;

/// Groups that may read the whole system journal.
pub(crate) const JOURNAL_GROUPS: [&str; 3] = ["systemd-journal", "adm", "wheel"];

/// Which platform's sources to assess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    Linux,
    MacOs,
}

impl Platform {
    pub(crate) fn current() -> Platform {
        if cfg!(target_os = "macos") {
            Platform::MacOs
        } else {
            Platform::Linux
        }
    }
}

/// What was found out about this process and machine.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Facts {
    pub(crate) euid: u32,
    pub(crate) user: String,
    /// Effective capability bits (Linux; `None` when unreadable).
    pub(crate) cap_eff: Option<u64>,
    pub(crate) groups: Vec<String>,
    /// kernel.dmesg_restrict (Linux).
    pub(crate) dmesg_restrict: Option<bool>,
    /// kernel.yama.ptrace_scope (Linux, when Yama is on).
    pub(crate) ptrace_scope: Option<u8>,
    /// Tools found in `$PATH` (or at their fixed macOS paths).
    pub(crate) tools: BTreeMap<String, bool>,
    /// macOS: the sudoers drop-in exists and names this user.
    pub(crate) sudoers_rule: bool,
}

impl Facts {
    pub(crate) fn has_cap(&self, cap: u32) -> bool {
        self.cap_eff.is_some_and(|bits| bits & (1u64 << cap) != 0)
    }

    fn tool(&self, name: &str) -> bool {
        self.tools.get(name).copied().unwrap_or(false)
    }

    fn in_group(&self, names: &[&str]) -> Option<String> {
        self.groups
            .iter()
            .find(|g| names.contains(&g.as_str()))
            .cloned()
    }

    /// Read the facts for this process.
    pub(crate) fn gather(platform: Platform) -> Facts {
        let euid = crate::sys::euid();
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let mut tools = BTreeMap::new();
        match platform {
            Platform::Linux => {
                for t in ["dmesg", "journalctl", "eu-stack", "gdb"] {
                    tools.insert(t.to_string(), crate::sys::tool::find_in_path(t).is_some());
                }
            }
            Platform::MacOs => {
                for t in [
                    "/usr/bin/sudo",
                    "/usr/bin/tailspin",
                    "/usr/sbin/spindump",
                    "/usr/bin/log",
                ] {
                    tools.insert(
                        t.rsplit('/').next().unwrap_or(t).to_string(),
                        crate::sys::tool::is_executable(Path::new(t)),
                    );
                }
            }
        }
        let user = crate::sys::user_name(euid).unwrap_or_else(|| format!("uid {euid}"));
        let rule_file = sudoers::target_dir().join(sudoers::FILE_NAME);
        let sudoers_rule = platform == Platform::MacOs
            && std::fs::read_to_string(rule_file).is_ok_and(|t| rule_names_user(&t, &user));
        Facts {
            euid,
            cap_eff: read("/proc/self/status").and_then(|t| parse_cap_eff(&t)),
            groups: crate::sys::group_names(),
            dmesg_restrict: read("/proc/sys/kernel/dmesg_restrict")
                .and_then(|t| t.trim().parse::<u8>().ok())
                .map(|v| v != 0),
            ptrace_scope: read("/proc/sys/kernel/yama/ptrace_scope")
                .and_then(|t| t.trim().parse().ok()),
            tools,
            sudoers_rule,
            user,
        }
    }
}

/// Does a sudoers drop-in written by `perms install` grant `user` the rule?
pub(crate) fn rule_names_user(text: &str, user: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        l.starts_with(&format!("{user} ")) && l.contains(sudoers::TAILSPIN)
    })
}

/// The `CapEff:` bits of a /proc/PID/status text.
pub(crate) fn parse_cap_eff(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// Does a source work?
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Works {
    Yes,
    /// For some processes or some of the data.
    Partly,
    No,
}

impl Works {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Works::Yes => "yes",
            Works::Partly => "partly",
            Works::No => "no",
        }
    }
}

/// One source (or group of sources) and whether it works, with the reason.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Verdict {
    /// Capture source names as `events show --forensics` lists them,
    /// comma-separated for the table; an array of names in JSON.
    #[serde(serialize_with = "source_names")]
    pub(crate) sources: &'static str,
    pub(crate) works: Works,
    pub(crate) why: String,
}

fn source_names<S: serde::Serializer>(sources: &&'static str, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(sources.split(',').map(str::trim).filter(|n| !n.is_empty()))
}

fn v(sources: &'static str, works: Works, why: impl Into<String>) -> Verdict {
    Verdict {
        sources,
        works,
        why: why.into(),
    }
}

/// Which forensic sources work for the process described by `f`.
pub(crate) fn assess(platform: Platform, f: &Facts) -> Vec<Verdict> {
    match platform {
        Platform::Linux => assess_linux(f),
        Platform::MacOs => assess_macos(f),
    }
}

fn assess_linux(f: &Facts) -> Vec<Verdict> {
    let mut out = vec![v(
        "threads, status, cgroup, pressure, loadavg, meminfo, vmstat",
        Works::Yes,
        "world-readable /proc files",
    )];
    let ptrace = f.has_cap(CAP_SYS_PTRACE);
    let dac = f.has_cap(CAP_DAC_READ_SEARCH) || f.has_cap(1); // CAP_DAC_OVERRIDE
    out.push(if ptrace && dac {
        v(
            "io, fd_count, smaps_rollup",
            Works::Yes,
            "every process: CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH are effective",
        )
    } else {
        let missing: Vec<&str> = [
            (!ptrace).then_some("CAP_SYS_PTRACE"),
            (!dac).then_some("CAP_DAC_READ_SEARCH"),
        ]
        .into_iter()
        .flatten()
        .collect();
        v(
            "io, fd_count, smaps_rollup",
            Works::Partly,
            format!(
                "your own processes only: other users' need {} (root, or the system service with \
                 `sudo rogue-hunter perms install --system`)",
                missing.join(" and ")
            ),
        )
    });
    out.push(if f.has_cap(CAP_SYS_ADMIN) {
        v("kernel_stacks", Works::Yes, "CAP_SYS_ADMIN is effective")
    } else {
        v(
            "kernel_stacks",
            Works::No,
            "/proc/PID/task/TID/stack needs root (CAP_SYS_ADMIN); the capability drop-in does not grant it",
        )
    });
    let journal_access = if f.euid == 0 {
        Some("root".to_string())
    } else if f.has_cap(CAP_DAC_READ_SEARCH) {
        Some("CAP_DAC_READ_SEARCH is effective".to_string())
    } else {
        f.in_group(&JOURNAL_GROUPS)
            .map(|g| format!("member of {g}"))
    };
    let dmesg_ok = match f.dmesg_restrict {
        Some(true) => f.has_cap(CAP_SYSLOG),
        Some(false) => true,
        None => f.has_cap(CAP_SYSLOG),
    };
    out.push(match (f.tool("dmesg"), dmesg_ok, f.tool("journalctl"), &journal_access) {
        (true, true, _, _) => v(
            "kernel_log",
            Works::Yes,
            match f.dmesg_restrict {
                Some(true) => "dmesg: kernel.dmesg_restrict=1 and CAP_SYSLOG is effective",
                _ => "dmesg: kernel.dmesg_restrict=0, anyone may read the kernel log",
            },
        ),
        (_, _, true, Some(who)) => v(
            "kernel_log",
            Works::Yes,
            format!(
                "journalctl -k ({who}){}",
                if f.tool("dmesg") {
                    "; dmesg itself is refused: kernel.dmesg_restrict=1 needs CAP_SYSLOG"
                } else {
                    "; dmesg not found in PATH"
                }
            ),
        ),
        (has_dmesg, _, has_journal, _) => v(
            "kernel_log",
            Works::No,
            format!(
                "{}; {}",
                if has_dmesg {
                    "dmesg is refused: kernel.dmesg_restrict=1 needs CAP_SYSLOG (root)"
                } else {
                    "dmesg not found in PATH"
                },
                if has_journal {
                    "journalctl -k shows kernel messages only to root and the systemd-journal/adm groups"
                } else {
                    "journalctl not found in PATH"
                }
            ),
        ),
    });
    out.push(match (f.tool("journalctl"), &journal_access) {
        (false, _) => v("journal", Works::No, "journalctl not found in PATH"),
        (true, Some(who)) => v(
            "journal",
            Works::Yes,
            format!("the whole system journal ({who})"),
        ),
        (true, None) => v(
            "journal",
            Works::Partly,
            format!(
                "only your own user journal: add {} to the systemd-journal group \
                 (`sudo usermod -aG systemd-journal {}`, then log in again)",
                f.user, f.user
            ),
        ),
    });
    let tool = if f.tool("eu-stack") {
        Some("eu-stack")
    } else if f.tool("gdb") {
        Some("gdb")
    } else {
        None
    };
    out.push(match (tool, f.ptrace_scope) {
        (None, _) => v(
            "user_stacks",
            Works::No,
            "neither eu-stack nor gdb found in PATH (and [forensics] user_stacks is off by default)",
        ),
        (Some(_), Some(3)) => v(
            "user_stacks",
            Works::No,
            "kernel.yama.ptrace_scope=3 forbids attaching to any process",
        ),
        (Some(t), _) if f.has_cap(CAP_SYS_PTRACE) => v(
            "user_stacks",
            Works::Yes,
            format!("{t}, CAP_SYS_PTRACE is effective (when [forensics] user_stacks = true)"),
        ),
        (Some(t), Some(0) | None) => v(
            "user_stacks",
            Works::Partly,
            format!("{t}: your own processes only (when [forensics] user_stacks = true)"),
        ),
        (Some(t), Some(scope)) => v(
            "user_stacks",
            Works::No,
            format!(
                "{t} cannot attach: kernel.yama.ptrace_scope={scope} allows it only with CAP_SYS_PTRACE"
            ),
        ),
    });
    out
}

fn assess_macos(f: &Facts) -> Vec<Verdict> {
    let mut out = Vec::new();
    let tailspin = if !f.tool("tailspin") || !f.tool("sudo") {
        v(
            "tailspin",
            Works::No,
            "/usr/bin/tailspin or /usr/bin/sudo is missing",
        )
    } else if f.euid == 0 {
        v("tailspin", Works::Yes, "running as root")
    } else if f.sudoers_rule {
        v(
            "tailspin",
            Works::Yes,
            format!(
                "the sudoers rule in {} lets {} run `tailspin save` into its own directory",
                sudoers::target_dir().join(sudoers::FILE_NAME).display(),
                f.user
            ),
        )
    } else {
        v(
            "tailspin",
            Works::No,
            "saving a trace needs root: run `sudo rogue-hunter perms install` to add the narrow sudoers rule",
        )
    };
    let traced = tailspin.works == Works::Yes;
    out.push(tailspin);
    out.push(match (f.tool("spindump"), traced) {
        (false, _) => v("spindump", Works::No, "/usr/sbin/spindump is missing"),
        (true, true) => v("spindump", Works::Yes, "decodes the saved tailspin file"),
        (true, false) => v(
            "spindump",
            Works::No,
            "nothing to decode without a tailspin file",
        ),
    });
    out.push(if f.tool("log") {
        v(
            "unified_log",
            Works::Yes,
            "`log show` is open to every user (private fields are redacted)",
        )
    } else {
        v("unified_log", Works::No, "/usr/bin/log is missing")
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(cap_eff: u64, groups: &[&str], dmesg_restrict: bool) -> Facts {
        Facts {
            euid: if cap_eff == u64::MAX { 0 } else { 1000 },
            user: "ana".into(),
            cap_eff: Some(cap_eff),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            dmesg_restrict: Some(dmesg_restrict),
            ptrace_scope: Some(1),
            tools: ["dmesg", "journalctl", "gdb"]
                .iter()
                .map(|t| (t.to_string(), true))
                .collect(),
            sudoers_rule: false,
        }
    }

    fn works(v: &[Verdict], source: &str) -> (Works, String) {
        let x = v.iter().find(|x| x.sources.starts_with(source)).unwrap();
        (x.works, x.why.clone())
    }

    #[test]
    fn cap_eff_parses() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(parse_cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(parse_cap_eff("Name: x\n"), None);
    }

    #[test]
    fn root_gets_everything() {
        let v = assess(Platform::Linux, &facts(u64::MAX, &["root"], true));
        for s in [
            "io",
            "kernel_stacks",
            "kernel_log",
            "journal",
            "user_stacks",
        ] {
            assert_eq!(works(&v, s).0, Works::Yes, "{s}: {v:?}");
        }
    }

    #[test]
    fn a_plain_user_sees_why() {
        let v = assess(Platform::Linux, &facts(0, &["ana"], true));
        let (w, why) = works(&v, "io");
        assert_eq!(w, Works::Partly);
        assert!(
            why.contains("CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"),
            "{why}"
        );
        let (w, why) = works(&v, "kernel_stacks");
        assert_eq!(w, Works::No);
        assert!(why.contains("CAP_SYS_ADMIN"), "{why}");
        let (w, why) = works(&v, "kernel_log");
        assert_eq!(w, Works::No);
        assert!(why.contains("dmesg_restrict=1"), "{why}");
        let (w, why) = works(&v, "journal");
        assert_eq!(w, Works::Partly);
        assert!(why.contains("usermod -aG systemd-journal ana"), "{why}");
        let (w, why) = works(&v, "user_stacks");
        assert_eq!(w, Works::No);
        assert!(why.contains("ptrace_scope=1"), "{why}");
    }

    #[test]
    fn groups_and_capabilities_open_sources() {
        let caps = (1 << CAP_SYS_PTRACE) | (1 << CAP_DAC_READ_SEARCH);
        let v = assess(Platform::Linux, &facts(caps, &["systemd-journal"], false));
        assert_eq!(works(&v, "io").0, Works::Yes);
        assert_eq!(works(&v, "kernel_log").0, Works::Yes);
        assert_eq!(works(&v, "journal").0, Works::Yes);
        assert_eq!(works(&v, "user_stacks").0, Works::Yes);
        assert_eq!(works(&v, "kernel_stacks").0, Works::No);
        // dmesg restricted, but the journal group still gives journalctl -k.
        let v = assess(Platform::Linux, &facts(0, &["adm"], true));
        let (w, why) = works(&v, "kernel_log");
        assert_eq!(w, Works::Yes);
        assert!(why.contains("journalctl -k (member of adm)"), "{why}");
    }

    #[test]
    fn macos_needs_the_rule_for_tailspin() {
        let mut f = facts(0, &["staff"], false);
        f.tools = ["sudo", "tailspin", "spindump", "log"]
            .iter()
            .map(|t| (t.to_string(), true))
            .collect();
        let v = assess(Platform::MacOs, &f);
        assert_eq!(works(&v, "tailspin").0, Works::No);
        assert!(works(&v, "tailspin").1.contains("perms install"));
        assert_eq!(works(&v, "spindump").0, Works::No);
        assert_eq!(works(&v, "unified_log").0, Works::Yes);
        f.sudoers_rule = true;
        assert_eq!(
            works(&assess(Platform::MacOs, &f), "tailspin").0,
            Works::Yes
        );
        assert!(rule_names_user(&sudoers::rule("ana", 501).unwrap(), "ana"));
        assert!(!rule_names_user(&sudoers::rule("ana", 501).unwrap(), "bob"));
    }

    #[test]
    fn gathering_reads_this_process() {
        let f = Facts::gather(Platform::current());
        assert_eq!(f.euid, crate::sys::euid());
        if Platform::current() == Platform::Linux {
            assert!(f.cap_eff.is_some());
        }
        assert!(!assess(Platform::current(), &f).is_empty());
    }
}
