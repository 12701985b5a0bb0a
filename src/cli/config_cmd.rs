//! `rogue-hunter config show|path|validate|reset|edit`.

use super::{CliError, Context, OrRuntime, out};
use crate::config;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigAction {
    /// Print the effective configuration (all layers merged) as TOML.
    Show,
    /// Print the path of the user configuration file.
    Path,
    /// Check the configuration files and environment; exit 2 on error.
    Validate,
    /// Write the defaults to the user file (the old file is kept as a backup).
    Reset,
    /// Open the user file in $VISUAL or $EDITOR, then validate it.
    Edit,
}

pub(crate) fn run(ctx: &Context, action: ConfigAction) -> Result<(), CliError> {
    let file = &ctx.sources.user_file;
    match action {
        ConfigAction::Show => out(&ctx.load_config()?.to_toml()),
        ConfigAction::Path => out(&format!("{}\n", file.display())),
        ConfigAction::Validate => {
            ctx.load_config()?;
            let mut read = Vec::new();
            if let Some(s) = &ctx.sources.system_file
                && s.exists()
            {
                read.push(s.display().to_string());
            }
            if file.exists() {
                read.push(file.display().to_string());
            }
            let what = if read.is_empty() {
                "built-in defaults (no config file)".to_string()
            } else {
                read.join(", ")
            };
            out(&format!("configuration ok: {what}\n"))
        }
        ConfigAction::Reset => {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)
                    .or_runtime(|| format!("cannot create {}", dir.display()))?;
            }
            let mut note = String::new();
            if file.exists() {
                let backup = file.with_extension(format!("toml.bak-{}", crate::unix_now() as u64));
                std::fs::rename(file, &backup)
                    .or_runtime(|| format!("cannot back up {}", file.display()))?;
                note = format!(" (previous file kept as {})", backup.display());
            }
            std::fs::write(file, config::default_file_text())
                .or_runtime(|| format!("cannot write {}", file.display()))?;
            out(&format!("wrote defaults to {}{note}\n", file.display()))
        }
        ConfigAction::Edit => edit(ctx),
    }
}

fn edit(ctx: &Context) -> Result<(), CliError> {
    let file = &ctx.sources.user_file;
    if !file.exists() {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)
                .or_runtime(|| format!("cannot create {}", dir.display()))?;
        }
        std::fs::write(file, config::default_file_text())
            .or_runtime(|| format!("cannot write {}", file.display()))?;
    }
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|v| !v.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".to_string());
    // Split "code -w" into program and arguments; never through a shell.
    let mut words = editor.split_whitespace();
    let program = words.next().unwrap_or("vi");
    let status = std::process::Command::new(program)
        .args(words)
        .arg(file)
        .status()
        .or_runtime(|| format!("cannot start editor `{program}`"))?;
    if !status.success() {
        return Err(CliError::runtime(format!(
            "editor `{program}` exited with {status}"
        )));
    }
    match config::load(&ctx.sources) {
        Ok(_) => out(&format!("{} saved and valid\n", file.display())),
        Err(e) => Err(CliError::usage(format!(
            "configuration error: {e}\nthe file was saved as you left it; run `rogue-hunter config edit` again to fix it"
        ))),
    }
}
