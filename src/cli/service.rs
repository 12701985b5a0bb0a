//! `rogue-hunter service install|uninstall|status`: run the daemon under
//! systemd (Linux) or launchd (macOS). The files and the service-manager
//! calls live in `crate::service`; this is the command and its messages.

use super::{CliError, Context, OrRuntime, confirm, out};
use crate::config::Paths;
use crate::daemon::lock::InstanceLock;
#[cfg(target_os = "macos")]
use crate::service::launchd;
use crate::service::{self, FileChange, Manager, ManagerError, Scope, UnitSpec, systemd};
use crate::sys;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ServiceAction {
    /// Install the unit (systemd) or property list (launchd), enable and start it.
    /// Installing twice is fine; a locally changed file is reported, not overwritten.
    Install(InstallArgs),
    /// Stop, disable and remove the service; --purge also deletes its data.
    Uninstall(UninstallArgs),
    /// Where the service file is and what the service manager says about it.
    Status(ScopeArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ScopeArgs {
    /// The machine-wide service (root only): /etc/systemd/system or /Library/LaunchDaemons.
    #[arg(long)]
    pub(crate) system: bool,
}

impl ScopeArgs {
    fn scope(&self) -> Scope {
        if self.system {
            Scope::System
        } else {
            Scope::User
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct InstallArgs {
    #[command(flatten)]
    pub(crate) scope: ScopeArgs,
    /// Overwrite a service file that differs from what this version writes.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct UninstallArgs {
    #[command(flatten)]
    pub(crate) scope: ScopeArgs,
    /// Also delete the service's data and logs (asks first).
    #[arg(long)]
    pub(crate) purge: bool,
    /// Do not ask before --purge deletes data.
    #[arg(long)]
    pub(crate) yes: bool,
}

pub(crate) fn run(ctx: &Context, action: ServiceAction) -> Result<(), CliError> {
    match action {
        ServiceAction::Install(args) => install(ctx, &args),
        ServiceAction::Uninstall(args) => uninstall(ctx, &args),
        ServiceAction::Status(args) => status(ctx, &args),
    }
}

fn env_var(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// Where the service file goes, for this platform and scope.
fn unit_path(manager: Manager, scope: Scope) -> Result<PathBuf, CliError> {
    let dir = service::unit_dir(manager, scope, env_var)?;
    Ok(service::unit_file(manager, &dir))
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::User => "",
        Scope::System => " --system",
    }
}

/// The spec of the service this binary would install.
fn spec(ctx: &Context, manager: Manager, scope: Scope) -> Result<UnitSpec, CliError> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .or_runtime(|| "cannot find this program's own path".into())?;
    service::check_path("the rogue-hunter binary", &exe)?;
    let paths = service::scope_paths(scope, manager, &ctx.paths);
    for (what, p) in [
        ("data directory", &paths.data_dir),
        ("state directory", &paths.state_dir),
        ("configuration file", &paths.config_file),
    ] {
        service::check_path(what, p)?;
    }
    let user = match (scope, manager) {
        (Scope::System, Manager::Systemd) => service::invoking_user(env_var).map(|(n, _)| n),
        _ => None,
    };
    Ok(UnitSpec {
        scope,
        exe,
        paths,
        user,
        watchdog_sec: service::WATCHDOG_SEC,
    })
}

fn install(ctx: &Context, args: &InstallArgs) -> Result<(), CliError> {
    let manager = Manager::current();
    let scope = args.scope.scope();
    if scope == Scope::System {
        service::require_root("service install --system")?;
    }
    let spec = spec(ctx, manager, scope)?;
    let content = service::render(manager, &spec);
    let file = unit_path(manager, scope)?;
    // The sandbox leaves only these writable: they must exist beforehand
    // (systemd creates the system unit's own).
    if !(manager == Manager::Systemd && scope == Scope::System) {
        for dir in [&spec.paths.data_dir, &spec.paths.state_dir] {
            sys::ensure_private_dir(dir)?;
        }
    }
    let change = service::place_file(&file, &content, 0o644, args.force)?;
    let mut lines = vec![match change {
        FileChange::Created => format!("wrote {}", file.display()),
        FileChange::Unchanged => format!("{} is installed and up to date", file.display()),
        FileChange::Replaced => format!("replaced {} (--force)", file.display()),
    }];
    if let Some(user) = &spec.user {
        lines.push(format!(
            "the service runs as {user}; its data is in {} (read it with XDG_DATA_HOME=/var/lib XDG_RUNTIME_DIR=/run rogue-hunter status)",
            spec.paths.data_dir.display()
        ));
    }
    let loaded = match manager {
        Manager::Systemd => {
            let mut steps: Vec<&[&str]> = vec![&["daemon-reload"]];
            if change == FileChange::Replaced {
                steps.push(&["enable", systemd::UNIT_NAME]);
                steps.push(&["restart", systemd::UNIT_NAME]);
            } else {
                steps.push(&["enable", "--now", systemd::UNIT_NAME]);
            }
            service::systemctl_steps(service::systemctl().as_deref(), scope, &steps)
        }
        Manager::Launchd => launchd_load(scope, &file, change),
    };
    match loaded {
        Ok(done) => {
            lines.push(format!("done: {}", done.join("; ")));
            if manager == Manager::Systemd && scope == Scope::User {
                lines.push(
                    "to keep it running while you are logged out: loginctl enable-linger".into(),
                );
            }
            if let Some(pid) = InstanceLock::holder(&spec.paths.lock_file())
                && Some(pid) != main_pid(manager, scope)
            {
                lines.push(format!(
                    "note: another daemon (pid {pid}) holds {}; the service cannot record beside it: stop that one",
                    spec.paths.lock_file().display()
                ));
            }
        }
        Err(why) => {
            lines.push(format!(
                "the service manager did not take it ({why}); the file is in place: start it with\n  {}",
                service::manual_start(manager, scope, &file)
            ));
        }
    }
    out(&(lines.join("\n") + "\n"))
}

/// The service's main pid as systemd reports it.
fn main_pid(manager: Manager, scope: Scope) -> Option<u32> {
    if manager != Manager::Systemd {
        return None;
    }
    let program = service::systemctl()?;
    let args = systemd::systemctl_args(
        scope,
        &["show", "--property=MainPID", "--value", systemd::UNIT_NAME],
    );
    let r = service::manager_tool(&program).args(&args).output().ok()?;
    r.stdout_text().trim().parse().ok().filter(|p| *p != 0)
}

#[cfg(target_os = "macos")]
fn launchd_load(scope: Scope, file: &Path, change: FileChange) -> service::ManagerResult {
    let uid = sys::current_uid();
    let print = launchd::service_args("print", scope, uid);
    let loaded = service::launchctl(&print)?.success();
    let mut done = Vec::new();
    let call = |args: Vec<String>, done: &mut Vec<String>| -> Result<(), ManagerError> {
        let shown = format!("launchctl {}", args.join(" "));
        let r = service::launchctl(&args)?;
        if r.success() {
            done.push(shown);
            Ok(())
        } else {
            Err(ManagerError::failed(shown, &r))
        }
    };
    if loaded && change == FileChange::Replaced {
        call(launchd::service_args("bootout", scope, uid), &mut done)?;
    }
    if !loaded || change == FileChange::Replaced {
        call(launchd::bootstrap_args(scope, uid, file), &mut done)?;
    } else {
        call(launchd::service_args("kickstart", scope, uid), &mut done)?;
    }
    Ok(done)
}

#[cfg(not(target_os = "macos"))]
fn launchd_load(_scope: Scope, _file: &Path, _change: FileChange) -> service::ManagerResult {
    Err(ManagerError::NoLaunchctl)
}

#[cfg(target_os = "macos")]
fn launchd_unload(scope: Scope) -> service::ManagerResult {
    let args = launchd::service_args("bootout", scope, sys::current_uid());
    let r = service::launchctl(&args)?;
    let shown = format!("launchctl {}", args.join(" "));
    if r.success() {
        Ok(vec![shown])
    } else {
        Err(ManagerError::failed(shown, &r))
    }
}

#[cfg(not(target_os = "macos"))]
fn launchd_unload(_scope: Scope) -> service::ManagerResult {
    Err(ManagerError::NoLaunchctl)
}

fn purge_targets(paths: &Paths) -> Vec<PathBuf> {
    [&paths.data_dir, &paths.state_dir, &paths.runtime_dir]
        .into_iter()
        .filter(|p| p.exists())
        .cloned()
        .collect()
}

fn uninstall(ctx: &Context, args: &UninstallArgs) -> Result<(), CliError> {
    let manager = Manager::current();
    let scope = args.scope.scope();
    if scope == Scope::System {
        service::require_root("service uninstall --system")?;
    }
    let paths = service::scope_paths(scope, manager, &ctx.paths);
    let file = unit_path(manager, scope)?;
    // Ask first, so a refused --purge changes nothing at all.
    let targets = purge_targets(&paths);
    let purge = args.purge
        && !targets.is_empty()
        && confirm(
            &format!(
                "delete {} (every recorded event and log)",
                targets
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            args.yes,
        )?;
    let mut lines = Vec::new();
    if file.exists() {
        let stopped = match manager {
            Manager::Systemd => service::systemctl_steps(
                service::systemctl().as_deref(),
                scope,
                &[&["disable", "--now", systemd::UNIT_NAME]],
            ),
            Manager::Launchd => launchd_unload(scope),
        };
        match stopped {
            Ok(done) => lines.push(format!("done: {}", done.join("; "))),
            Err(why) => lines.push(format!(
                "could not stop it through the service manager ({why}); removing the file anyway"
            )),
        }
        std::fs::remove_file(&file).or_runtime(|| format!("cannot remove {}", file.display()))?;
        lines.push(format!("removed {}", file.display()));
        if manager == Manager::Systemd {
            let _ = service::systemctl_steps(
                service::systemctl().as_deref(),
                scope,
                &[&["daemon-reload"]],
            );
            let drop_in = file.with_extension("service.d");
            if drop_in.join(systemd::CAPABILITIES_DROP_IN).exists() {
                lines.push(format!(
                    "kept {} (`rogue-hunter perms uninstall --system` removes it)",
                    drop_in.join(systemd::CAPABILITIES_DROP_IN).display()
                ));
            }
        }
    } else {
        lines.push(format!(
            "not installed: no {} (nothing to stop)",
            file.display()
        ));
    }
    if args.purge {
        if !purge {
            lines.push(if targets.is_empty() {
                "no data to delete".into()
            } else {
                "data kept".into()
            });
        } else if let Some(pid) = InstanceLock::holder(&paths.lock_file()) {
            return Err(CliError::runtime(format!(
                "{}\na daemon (pid {pid}) still uses {}: stop it first; no data deleted",
                lines.join("\n"),
                paths.data_dir.display()
            )));
        } else {
            for t in &targets {
                std::fs::remove_dir_all(t)
                    .or_runtime(|| format!("cannot delete {}", t.display()))?;
                lines.push(format!("deleted {}", t.display()));
            }
        }
    }
    out(&(lines.join("\n") + "\n"))
}

fn status(ctx: &Context, args: &ScopeArgs) -> Result<(), CliError> {
    let manager = Manager::current();
    let scope = args.scope();
    let file = unit_path(manager, scope)?;
    let mut rows: Vec<(&str, String)> = Vec::new();
    let installed = match std::fs::read_to_string(&file) {
        Ok(text) => {
            let matches = spec(ctx, manager, scope)
                .map(|s| service::render(manager, &s) == text)
                .unwrap_or(false);
            if matches {
                "installed, matches this version".to_string()
            } else {
                format!(
                    "installed, differs from what this binary writes (`rogue-hunter service install{} --force` replaces it)",
                    scope_name(scope)
                )
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!(
            "not installed (`rogue-hunter service install{}`)",
            scope_name(scope)
        ),
        Err(e) => format!("unreadable: {e}"),
    };
    rows.push(("file", format!("{} — {installed}", file.display())));
    match manager {
        Manager::Systemd => match service::systemctl() {
            None => rows.push((
                "systemd",
                "systemd not available (systemctl not found in PATH)".into(),
            )),
            Some(program) => {
                let show = systemd::systemctl_args(
                    scope,
                    &[
                        "show",
                        systemd::UNIT_NAME,
                        "--property",
                        systemd::SHOW_PROPERTIES,
                    ],
                );
                match service::manager_tool(&program).args(&show).output() {
                    Ok(r) if r.success() => {
                        rows.push((
                            "systemd",
                            systemd::describe(&systemd::parse_show(&r.stdout_text())),
                        ));
                        let active =
                            systemd::systemctl_args(scope, &["is-active", systemd::UNIT_NAME]);
                        if let Ok(r) = service::manager_tool(&program).args(&active).output() {
                            let stdout = r.stdout_text();
                            let said = stdout.trim();
                            rows.push((
                                "is-active",
                                if said.is_empty() {
                                    crate::format::escape(&r.why())
                                } else {
                                    said.to_string()
                                },
                            ));
                        }
                    }
                    Ok(r) => rows.push((
                        "systemd",
                        format!(
                            "systemd not available ({})",
                            crate::format::escape(&r.why())
                        ),
                    )),
                    Err(e) => rows.push((
                        "systemd",
                        format!(
                            "systemd not available ({}: {})",
                            program.display(),
                            e.reason()
                        ),
                    )),
                }
            }
        },
        Manager::Launchd => rows.push(("launchd", launchd_status(scope))),
    }
    let paths = service::scope_paths(scope, manager, &ctx.paths);
    rows.push((
        "daemon",
        match InstanceLock::holder(&paths.lock_file()) {
            Some(pid) => format!("running (pid {pid})"),
            None => "not running".into(),
        },
    ));
    rows.push(("data", paths.data_dir.display().to_string()));
    let text: String = rows.iter().map(|(k, v)| format!("{k:<10} {v}\n")).collect();
    out(&text)
}

#[cfg(target_os = "macos")]
fn launchd_status(scope: Scope) -> String {
    let args = launchd::service_args("print", scope, sys::current_uid());
    match service::launchctl(&args) {
        Ok(r) if r.success() => launchd::describe(&launchd::parse_print(&r.stdout_text())),
        Ok(_) => "not loaded".into(),
        Err(e) => format!("launchd not available ({e})"),
    }
}

#[cfg(not(target_os = "macos"))]
fn launchd_status(_scope: Scope) -> String {
    "launchd not available (not macOS)".into()
}
