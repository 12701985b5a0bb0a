//! `rogue-hunter daemon`: run the sampler in the foreground.

use super::{CliError, Context};
use crate::daemon;

pub(crate) fn run(ctx: &Context) -> Result<(), CliError> {
    let config = ctx.load_config()?;
    let _log = crate::logging::init_daemon(&ctx.paths, &config.logging)?;
    Ok(daemon::run(&ctx.paths, config)?)
}
