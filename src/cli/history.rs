//! `rogue-hunter history`: every recorded snapshot over a time window.

use super::{CliError, Context, OrRuntime, out};
use crate::format::{self, Align};
use crate::model::METRICS;
use crate::storage::{StorageError, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum HistoryFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {
    /// How far back, in hours.
    #[arg(long, default_value_t = 24.0)]
    pub(crate) hours: f64,
    #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
    pub(crate) format: HistoryFormat,
}

pub(crate) fn run(ctx: &Context, args: HistoryArgs) -> Result<(), CliError> {
    if !(args.hours.is_finite() && args.hours > 0.0) {
        return Err(CliError::usage(format!(
            "--hours {} must be above 0",
            args.hours
        )));
    }
    // No database yet means nothing recorded yet, not a failure.
    let rows = match Store::open_read_only(&ctx.paths.database()) {
        Ok(store) => store.history(crate::unix_now() - args.hours * 3600.0)?,
        Err(StorageError::Missing { .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    match args.format {
        HistoryFormat::Json => {
            let text = crate::json::to_string_pretty(&rows)
                .or_runtime(|| "cannot encode history".into())?;
            out(&format!("{text}\n"))
        }
        HistoryFormat::Csv => {
            // One column per metric of the model's table (its current value).
            let mut t = String::from(
                "captured_at,event_id,pid,command,snapshot_type,score,band,dominant_resource",
            );
            for info in METRICS {
                t.push(',');
                t.push_str(info.name);
            }
            t.push('\n');
            for r in &rows {
                let p = &r.snapshot.process;
                t.push_str(&format!(
                    "{},{},{},{},{},{},{},{}",
                    r.snapshot.captured_at_s,
                    r.event_id,
                    r.pid,
                    format::csv_field(&r.command),
                    r.snapshot.snapshot_type,
                    r.snapshot.score,
                    r.snapshot.band,
                    p.dominant_resource,
                ));
                for m in p.metrics() {
                    t.push(',');
                    if let Some(v) = m {
                        t.push_str(&v.current.to_string());
                    }
                }
                t.push('\n');
            }
            out(&t)
        }
        HistoryFormat::Table => {
            if rows.is_empty() {
                return out(&format!("no snapshots in the last {} hours\n", args.hours));
            }
            let headers = [
                ("TIME", Align::Left),
                ("EVENT", Align::Right),
                ("PID", Align::Right),
                ("TYPE", Align::Left),
                ("SCORE", Align::Right),
                ("BAND", Align::Left),
                ("DOMINANT", Align::Left),
                ("COMMAND", Align::Left),
            ];
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        format::local_time(r.snapshot.captured_at_s),
                        r.event_id.to_string(),
                        r.pid.to_string(),
                        r.snapshot.snapshot_type.to_string(),
                        format!("{:.1}", r.snapshot.score),
                        r.snapshot.band.to_string(),
                        format::dominant_value(&r.snapshot.process),
                        format::truncate(&format::escape(&r.command), 40),
                    ]
                })
                .collect();
            out(&format::table(&headers, &table))
        }
    }
}
