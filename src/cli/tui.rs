//! `rogue-hunter tui`: the live dashboard, from the daemon when one runs,
//! else from an embedded sampler until one starts (said so in the header).

use super::{CliError, Context};
use crate::ipc::client::fetch_initial_state;
use crate::tui;
use std::time::Duration;

pub(crate) fn run(ctx: &Context) -> Result<(), CliError> {
    let config = ctx.load_config()?;
    let socket = ctx.paths.socket();
    let result = match fetch_initial_state(&socket, Duration::from_secs(2)) {
        Ok(_) => tui::run_connected(socket, config),
        // No daemon yet: sample in-process, and switch to one that starts.
        Err(e) if e.is_not_running() => tui::run_auto(socket, config, false),
        Err(e) => {
            return Err(CliError::runtime(format!(
                "a daemon is listening at {} but the dashboard cannot use it: {e}",
                socket.display()
            )));
        }
    };
    Ok(result?)
}
