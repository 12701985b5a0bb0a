//! `rogue-hunter sample`: score processes now, no daemon needed.

use super::{CliError, Context, OrRuntime, out};
use crate::collect::Sampler;
use crate::format;
use crate::model::GroupKind;
use crate::platform;
use crate::ringbuffer::RingBuffer;
use crate::schedule::Schedule;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub(crate) struct SampleArgs {
    /// Number of samples to print.
    #[arg(short = 'n', long, default_value_t = 1)]
    pub(crate) count: u64,
    /// Seconds between samples (default: [system] sample_interval).
    #[arg(short, long)]
    pub(crate) interval: Option<f64>,
    /// Processes per sample (default: [selection] top_n).
    #[arg(short, long)]
    pub(crate) top: Option<usize>,
    /// One ProcessSamples JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Rank processes, or groups of one kind: process trees, cgroups
    /// (services, containers) or apps (one executable).
    #[arg(long, value_enum, default_value_t = By::Process)]
    pub by: By,
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
    if let Some(i) = args.interval {
        config.system.sample_interval = i;
    }
    if let Some(t) = args.top {
        config.selection.top_n = t;
        if args.by.kind().is_some() {
            config.selection.top_groups = t.min(100);
        }
    }
    config
        .validate()
        .map_err(|e| CliError::usage(format!("{e} (from the command line)")))?;
    if args.count == 0 {
        return Err(CliError::usage("--count must be at least 1"));
    }
    let interval = Duration::from_secs_f64(config.system.sample_interval);
    let source = platform::native_source()?;
    let mut ring = RingBuffer::new(config.system.ring_buffer_size);
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
            let line =
                crate::json::to_string(&*samples).or_runtime(|| "cannot encode sample".into())?;
            out(&format!("{line}\n"))?;
        } else {
            let mut text = String::new();
            if i > 0 {
                text.push('\n');
            }
            text.push_str(&format!(
                "{}  {} processes  max score {:.1}  ({:.1} ms)\n",
                format::local_time(samples.timestamp_s),
                samples.process_count,
                samples.max_score,
                samples.elapsed_ms
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
