//! `rogue-hunter sample`: score processes now, no daemon needed.

use super::{CliError, Context, out};
use crate::collect::Sampler;
use crate::format;
use crate::model::GroupKind;
use crate::platform;
use crate::ringbuffer::RingBuffer;
use crate::schedule::Schedule;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub(crate) struct SampleArgs {
    /// Number of samples to print (at least 1).
    #[arg(short = 'n', long, value_name = "N", default_value_t = 1,
          allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) count: u64,
    /// Seconds between samples, and the window each rate is measured over
    /// (default: [system] sample_interval, at least 1 s for one sample).
    #[arg(short, long, value_name = "S", allow_negative_numbers = true)]
    pub(crate) interval: Option<f64>,
    /// Processes per sample, 1 to 1000 (default: [selection] top_n).
    #[arg(short, long, value_name = "N", allow_negative_numbers = true)]
    pub(crate) top: Option<i64>,
    /// One JSON object per sample, one per line (NDJSON).
    #[arg(long)]
    pub json: bool,
    /// Rank processes, or groups of one kind: process trees, cgroups
    /// (services, containers) or apps (one executable).
    #[arg(long, value_enum, default_value_t = By::Process)]
    pub by: By,
}

/// The shortest rate window of `sample` without `--interval`, in seconds.
pub(crate) const DEFAULT_MIN_WINDOW_S: f64 = 1.0;

/// One `sample --json` line: the sample and the window its rates cover.
#[derive(serde::Serialize)]
struct SampleLine<'a> {
    /// Seconds between the two readings each rate (and CPU) is measured over.
    rate_window_s: f64,
    #[serde(flatten)]
    samples: &'a crate::model::ProcessSamples,
}

/// A configuration check that failed on a value given by a flag, told with
/// the flag as typed (`--top 0: ...`), not the configuration key behind it.
fn flag_error(e: crate::config::ConfigError, args: &SampleArgs) -> CliError {
    if let crate::config::ConfigError::Invalid { key, message } = &e {
        let flag = match key.as_str() {
            "selection.top_n" | "selection.top_groups" => args.top.map(|t| format!("--top {t}")),
            "system.sample_interval" => args.interval.map(|i| format!("--interval {i}")),
            _ => None,
        };
        if let Some(flag) = flag {
            return CliError::usage(format!("{flag}: {message}"));
        }
    }
    CliError::from(e)
}

/// What `sample` ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Process,
    Tree,
    Cgroup,
    App,
}

impl By {
    fn kind(self) -> Option<GroupKind> {
        match self {
            By::Process => None,
            By::Tree => Some(GroupKind::Tree),
            By::Cgroup => Some(GroupKind::Cgroup),
            By::App => Some(GroupKind::App),
        }
    }
}

pub(crate) fn run(ctx: &Context, args: SampleArgs) -> Result<(), CliError> {
    let mut config = ctx.load_config()?;
    match args.interval {
        Some(i) => config.system.sample_interval = i,
        // Rates need two readings: without --interval they are taken at
        // least a second apart, so one sample is not a 1/3 s glimpse.
        None => {
            config.system.sample_interval = config.system.sample_interval.max(DEFAULT_MIN_WINDOW_S)
        }
    }
    if let Some(t) = args.top {
        let t = usize::try_from(t)
            .map_err(|_| CliError::usage(format!("--top {t}: must be between 1 and 1000")))?;
        config.selection.top_n = t;
        if args.by.kind().is_some() {
            config.selection.top_groups = t.min(100);
        }
    }
    config.validate().map_err(|e| flag_error(e, &args))?;
    let interval = Duration::from_secs_f64(config.system.sample_interval);
    let source = platform::native_source()?;
    // Only the ranges are used: nothing is captured from this window.
    let mut ring = RingBuffer::new(config.system.ring_buffer_size).keeping_whole(1);
    let mut sampler = Sampler::new(source, config);
    // The first round primes the counters; rates need two readings.
    sampler.sample(crate::unix_now());
    let epoch = Instant::now();
    let mut schedule = Schedule::new(interval, interval);
    for i in 0..args.count {
        // Wait for the next tick; a slow reader skips ticks rather than getting
        // a burst of samples taken back to back.
        loop {
            let now = epoch.elapsed();
            if schedule.tick(now).is_some() {
                break;
            }
            std::thread::sleep(schedule.until_due(now));
        }
        // The ring buffer widens each metric's low/high over the samples so far.
        let samples = ring.push(sampler.sample(crate::unix_now()));
        // Grouped: only that kind's groups.
        let samples = match args.by.kind() {
            Some(kind) => {
                let mut s = (*samples).clone();
                s.groups.retain(|g| g.kind == kind);
                std::sync::Arc::new(s)
            }
            None => samples,
        };
        if args.json {
            super::output::print(
                "sample",
                &SampleLine {
                    rate_window_s: interval.as_secs_f64(),
                    samples: &samples,
                },
            )?;
        } else {
            let mut text = String::new();
            if i > 0 {
                text.push('\n');
            }
            text.push_str(&format!(
                "{}  {} processes  max score {:.1}  ({:.1} ms)  rates over {:.1} s; \
                 CPU% of one core (100 = a full core), MEM resident bytes\n",
                format::local_time(samples.timestamp_s),
                samples.process_count,
                samples.max_score,
                samples.elapsed_ms,
                interval.as_secs_f64()
            ));
            match args.by.kind() {
                Some(kind) => text.push_str(&format::groups_table(&samples, kind, 48)),
                None => text.push_str(&format::samples_table(&samples, 48)),
            }
            out(&text)?;
        }
    }
    Ok(())
}
