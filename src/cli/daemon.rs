//! `rogue-hunter daemon`: run the sampler in the foreground.

use super::{CliError, Context};
use crate::daemon::{self, DaemonError};

pub fn run(ctx: &Context) -> Result<(), CliError> {
    let config = ctx.load_config()?;
    let _log =
        crate::logging::init_daemon(&ctx.paths, &config.logging).map_err(CliError::runtime)?;
    daemon::run(&ctx.paths, config).map_err(|e| match e {
        DaemonError::Lock(e) => CliError::runtime(e.to_string()),
        other => CliError::runtime(other.to_string()),
    })
}
