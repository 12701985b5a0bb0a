//! `rogue-hunter perms install|uninstall|status`: the narrow rules that let an
//! unprivileged daemon take forensics it otherwise could not, and an honest
//! report of which sources work now. Logic in `crate::perms`.

use super::{CliError, Context, OrRuntime, out};
use crate::perms::{self, Facts, Platform, sudoers};
use crate::service::{self, Manager, Scope, systemd};
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum PermsAction {
    /// Add the rule (root): macOS, a sudoers drop-in for `tailspin save`; Linux,
    /// with --system, capabilities for the system service (never sudo).
    Install(RuleArgs),
    /// Remove the rule (root).
    Uninstall(RuleArgs),
    /// Which forensic sources work for the current user, and why.
    Status(PermsStatusArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct RuleArgs {
    /// Linux: the capabilities drop-in for the system service.
    #[arg(long)]
    pub(crate) system: bool,
    /// macOS: the user whose daemon may run tailspin (default: $SUDO_USER).
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct PermsStatusArgs {
    /// Print one JSON document (the verdicts under `sources`) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(ctx: &Context, action: PermsAction) -> Result<(), CliError> {
    let _ = ctx;
    match action {
        PermsAction::Install(a) => match Platform::current() {
            Platform::MacOs => macos_install(&a),
            Platform::Linux => linux_rule(&a, true),
        },
        PermsAction::Uninstall(a) => match Platform::current() {
            Platform::MacOs => macos_uninstall(&a),
            Platform::Linux => linux_rule(&a, false),
        },
        PermsAction::Status(a) => status(&a),
    }
}

fn status(args: &PermsStatusArgs) -> Result<(), CliError> {
    let platform = Platform::current();
    let facts = Facts::gather(platform);
    let verdicts = perms::assess(platform, &facts);
    if args.json {
        let v = serde_json::json!({
            "user": facts.user,
            "euid": facts.euid,
            "cap_eff": facts.cap_eff.map(|c| format!("{c:016x}")),
            "groups": facts.groups,
            "sources": verdicts,
        });
        return super::output::print("perms status", &v);
    }
    let mut text = format!(
        "forensic sources for {} (uid {}{}):\n",
        facts.user,
        facts.euid,
        facts
            .cap_eff
            .map(|c| format!(", CapEff {c:016x}"))
            .unwrap_or_default()
    );
    let width = verdicts.iter().map(|v| v.sources.len()).max().unwrap_or(0);
    for v in &verdicts {
        text.push_str(&format!(
            "  {:<width$}  {:<6}  {}\n",
            v.sources,
            v.works.as_str(),
            v.why
        ));
    }
    match platform {
        Platform::Linux => {
            if let Ok(dir) =
                service::unit_dir(Manager::Systemd, Scope::System, |k| std::env::var_os(k))
            {
                let drop_in = drop_in_path(&dir);
                text.push_str(&format!(
                    "system service capabilities: {}\n",
                    if drop_in.exists() {
                        format!(
                            "{} (applies to `service install --system`)",
                            drop_in.display()
                        )
                    } else {
                        "none (`sudo rogue-hunter perms install --system` adds them)".into()
                    }
                ));
            }
        }
        Platform::MacOs => {
            let f = sudoers::target_dir().join(sudoers::FILE_NAME);
            text.push_str(&format!(
                "sudoers rule: {}\n",
                if f.exists() {
                    f.display().to_string()
                } else {
                    "none (`sudo rogue-hunter perms install` adds it)".into()
                }
            ));
        }
    }
    out(&text)
}

fn drop_in_path(unit_dir: &std::path::Path) -> PathBuf {
    unit_dir
        .join(format!("{}.d", systemd::UNIT_NAME))
        .join(systemd::CAPABILITIES_DROP_IN)
}

/// The user a macOS rule is for: --user, else $SUDO_USER.
fn rule_user(args: &RuleArgs) -> Result<(String, u32), CliError> {
    let name = match &args.user {
        Some(n) => n.clone(),
        None => match service::invoking_user(|k| std::env::var_os(k)) {
            Some((n, _)) => n,
            None => {
                return Err(CliError::usage(
                    "whose daemon is the rule for? Run it with sudo from that account, or name it with --user NAME",
                ));
            }
        },
    };
    let uid = crate::sys::lookup_user(&name).ok_or_else(|| {
        CliError::usage(format!(
            "no user named \"{}\"",
            crate::format::escape(&name)
        ))
    })?;
    Ok((name, uid))
}

fn macos_install(args: &RuleArgs) -> Result<(), CliError> {
    if args.system {
        return Err(CliError::usage(
            "--system is the Linux capability route; on macOS the rule is per user: drop --system",
        ));
    }
    service::require_root("perms install")?;
    let (user, uid) = rule_user(args)?;
    let text = sudoers::rule(&user, uid)?;
    let visudo = sudoers::visudo().ok_or_else(|| {
        CliError::runtime(
            "visudo not found: refusing to install a sudoers rule that cannot be checked",
        )
    })?;
    let dir = sudoers::target_dir();
    let done = sudoers::install(&dir, &text, &visudo)?;
    let file = dir.join(sudoers::FILE_NAME);
    out(&format!(
        "{} {} (checked with visudo):\n  {}\n{user}'s daemon can now save tailspin traces into {}\n",
        match done {
            sudoers::Installed::Created => "wrote",
            sudoers::Installed::Unchanged => "already in place:",
            sudoers::Installed::Replaced => "replaced",
        },
        file.display(),
        text.lines().last().unwrap_or_default(),
        sudoers::tailspin_dir_for(uid).display()
    ))
}

fn macos_uninstall(args: &RuleArgs) -> Result<(), CliError> {
    if args.system {
        return Err(CliError::usage(
            "--system is the Linux capability route: drop --system",
        ));
    }
    service::require_root("perms uninstall")?;
    let file = sudoers::target_dir().join(sudoers::FILE_NAME);
    match std::fs::remove_file(&file) {
        Ok(()) => out(&format!("removed {}\n", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            out(&format!("not installed: no {}\n", file.display()))
        }
        Err(e) => Err(e).or_runtime(|| format!("cannot remove {}", file.display())),
    }
}

const LINUX_ROUTE: &str = "On Linux rogue-hunter never uses sudo. What an unprivileged daemon cannot read \
(other users' /proc io, fd and smaps_rollup) opens up with two capabilities, given only to the \
system service:\n  sudo rogue-hunter service install --system\n  sudo rogue-hunter perms install --system\n\
This adds AmbientCapabilities=CAP_SYS_PTRACE CAP_DAC_READ_SEARCH (and the same CapabilityBoundingSet) \
in a drop-in next to the unit. Kernel stacks still need root (CAP_SYS_ADMIN); the journal needs the \
systemd-journal group. `rogue-hunter perms status` shows what works now.";

fn linux_rule(args: &RuleArgs, install: bool) -> Result<(), CliError> {
    if args.user.is_some() {
        return Err(CliError::usage("--user is for the macOS sudoers rule"));
    }
    if !args.system {
        return if install {
            Err(CliError::usage(LINUX_ROUTE))
        } else {
            out(
                "nothing to remove: Linux uses no per-user rule (`perms uninstall --system` removes the service's capabilities)\n",
            )
        };
    }
    service::require_root(if install {
        "perms install --system"
    } else {
        "perms uninstall --system"
    })?;
    let dir = service::unit_dir(Manager::Systemd, Scope::System, |k| std::env::var_os(k))?;
    let unit = service::unit_file(Manager::Systemd, &dir);
    let drop_in = drop_in_path(&dir);
    let mut lines = Vec::new();
    if install {
        let change = service::place_file(&drop_in, &systemd::capabilities_drop_in(), 0o644, true)?;
        lines.push(match change {
            service::FileChange::Unchanged => format!("{} is in place", drop_in.display()),
            _ => format!("wrote {}", drop_in.display()),
        });
        if !unit.exists() {
            lines.push(format!(
                "note: the system service is not installed ({} is missing): `sudo rogue-hunter service install --system`",
                unit.display()
            ));
        }
    } else {
        match std::fs::remove_file(&drop_in) {
            Ok(()) => lines.push(format!("removed {}", drop_in.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                lines.push(format!("not installed: no {}", drop_in.display()))
            }
            Err(e) => {
                return Err(e).or_runtime(|| format!("cannot remove {}", drop_in.display()));
            }
        }
        if let Some(parent) = drop_in.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
    match service::systemctl_steps(
        service::systemctl().as_deref(),
        Scope::System,
        &[&["daemon-reload"], &["try-restart", systemd::UNIT_NAME]],
    ) {
        Ok(done) => lines.push(format!("done: {}", done.join("; "))),
        Err(why) => lines.push(format!(
            "systemd did not take it ({why}): run `systemctl daemon-reload && systemctl try-restart {}`",
            systemd::UNIT_NAME
        )),
    }
    out(&(lines.join("\n") + "\n"))
}
