//! The times `history` accepts, parsed without a clock: RFC 3339
//! (`2026-12-01T03:00:00Z`, `…+01:00`), a local clock time `HH:MM[:SS]`
//! (today, or yesterday when that is still to come), `today`/`yesterday
//! HH:MM[:SS]`, relative times (`3h ago`, `90s ago`, `-90s`, `-1h30m`),
//! `now`, and `@UNIX` seconds. `resolve` turns one into Unix seconds given
//! the time now and the local time of day now.

/// A parsed time, not yet tied to a clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeSpec {
    /// Unix seconds.
    Unix(f64),
    /// This many seconds before now.
    Ago(f64),
    /// A local clock time `days_back` days ago (`explicit`: the day was named).
    Clock {
        days_back: u32,
        seconds_of_day: f64,
        explicit: bool,
    },
}

impl TimeSpec {
    /// Unix seconds, given `now` and the local seconds since midnight now.
    /// Local clock times assume no DST change since that midnight.
    pub fn resolve(self, now: f64, local_seconds_of_day: f64) -> f64 {
        match self {
            TimeSpec::Unix(t) => t,
            TimeSpec::Ago(s) => now - s,
            TimeSpec::Clock {
                days_back,
                seconds_of_day,
                explicit,
            } => {
                let midnight = now - local_seconds_of_day;
                let t = midnight - f64::from(days_back) * 86400.0 + seconds_of_day;
                if !explicit && t > now { t - 86400.0 } else { t }
            }
        }
    }
}

/// A span like `90s`, `10m`, `2h`, `3d`, `1h30m`, `1.5h` → seconds.
pub fn parse_span(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(n) = t.parse::<f64>() {
        return (n.is_finite() && n >= 0.0).then_some(n);
    }
    let mut total = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let unit_end = rest[num_end..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .map_or(rest.len(), |i| num_end + i);
        let n: f64 = rest[..num_end].parse().ok()?;
        let mult = match rest[num_end..unit_end].trim() {
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            "w" | "week" | "weeks" => 7.0 * 86400.0,
            _ => return None,
        };
        total += n * mult;
        rest = rest[unit_end..].trim_start();
    }
    total.is_finite().then_some(total)
}

fn clock(text: &str) -> Option<f64> {
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let num = |s: &str, max: u32| -> Option<u32> {
        (s.len() == 2 || s.len() == 1)
            .then(|| s.parse::<u32>().ok())
            .flatten()
            .filter(|&v| v <= max)
    };
    let h = num(parts[0], 23)?;
    let m = num(parts[1], 59)?;
    let s: f64 = match parts.get(2) {
        None => 0.0,
        Some(sec) => {
            let whole = sec.split('.').next()?;
            num(whole, 60)?;
            sec.parse().ok().filter(|v: &f64| *v < 61.0)?
        }
    };
    Some(f64::from(h * 3600 + m * 60) + s)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn rfc3339(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let y: i64 = text.get(0..4)?.parse().ok()?;
    let mo: u32 = text
        .get(5..7)?
        .parse()
        .ok()
        .filter(|m| (1..=12).contains(m))?;
    let d: u32 = text
        .get(8..10)?
        .parse()
        .ok()
        .filter(|d| (1..=31).contains(d))?;
    let rest = text.get(11..)?;
    let zone_at = rest.find(['Z', 'z', '+', '-'])?;
    let secs = clock(&rest[..zone_at]).filter(|_| rest[..zone_at].matches(':').count() == 2)?;
    let zone = &rest[zone_at..];
    let offset = match zone {
        "Z" | "z" => 0.0,
        _ => {
            let sign = if zone.starts_with('-') { -1.0 } else { 1.0 };
            let hm = clock(&zone[1..]).filter(|_| zone.len() == 6)?;
            sign * hm
        }
    };
    Some(days_from_civil(y, mo, d) as f64 * 86400.0 + secs - offset)
}

/// Parse a time as `history --at/--from/--to` take it.
pub fn parse_time(text: &str) -> Result<TimeSpec, String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let err = || {
        format!(
            "`{text}` is not a time (examples: 2026-12-01T03:00:00Z, 03:00, 03:00:15, \
             yesterday 03:00, 3h ago, -90s, now)"
        )
    };
    if lower == "now" {
        return Ok(TimeSpec::Ago(0.0));
    }
    if let Some(unix) = lower.strip_prefix('@') {
        return unix
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(TimeSpec::Unix)
            .ok_or_else(err);
    }
    if let Some(span) = lower.strip_suffix("ago") {
        return parse_span(span).map(TimeSpec::Ago).ok_or_else(err);
    }
    if let Some(span) = lower.strip_prefix('-') {
        return parse_span(span).map(TimeSpec::Ago).ok_or_else(err);
    }
    for (word, days_back) in [("today", 0), ("yesterday", 1)] {
        if let Some(rest) = lower.strip_prefix(word) {
            let rest = rest.trim();
            let seconds_of_day = if rest.is_empty() {
                Some(0.0)
            } else {
                clock(rest)
            };
            return seconds_of_day
                .map(|seconds_of_day| TimeSpec::Clock {
                    days_back,
                    seconds_of_day,
                    explicit: true,
                })
                .ok_or_else(err);
        }
    }
    if let Some(seconds_of_day) = clock(&lower) {
        return Ok(TimeSpec::Clock {
            days_back: 0,
            seconds_of_day,
            explicit: false,
        });
    }
    rfc3339(t).map(TimeSpec::Unix).ok_or_else(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_764_558_000.0; // 2025-12-01T03:00:00Z
    // Local 10:00:00 now.
    const SOD: f64 = 36_000.0;

    fn at(text: &str) -> f64 {
        parse_time(text).expect(text).resolve(NOW, SOD)
    }

    #[test]
    fn rfc3339_with_zones() {
        assert_eq!(at("2025-12-01T03:00:00Z"), NOW);
        assert_eq!(at("2025-12-01 03:00:00z"), NOW);
        assert_eq!(at("2025-12-01T04:00:00+01:00"), NOW);
        assert_eq!(at("2025-12-01T02:30:00-00:30"), NOW);
        assert_eq!(at("2025-12-01T03:00:00.5Z"), NOW + 0.5);
        assert_eq!(at("1970-01-01T00:00:00Z"), 0.0);
        assert_eq!(at("2000-03-01T00:00:00Z"), 951_868_800.0);
        for bad in [
            "2025-13-01T03:00:00Z",
            "2025-12-01T03:00Z",
            "2025-12-01T03:00:00",
            "2025-12-01T25:00:00Z",
            "2025-12-01T03:00:00+1:00",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn local_clock_times() {
        let midnight = NOW - SOD;
        assert_eq!(at("03:00"), midnight + 3.0 * 3600.0);
        assert_eq!(at("09:59:30"), NOW - 30.0);
        assert_eq!(at("9:05"), midnight + 9.0 * 3600.0 + 300.0);
        // Later today has not happened yet: yesterday's.
        assert_eq!(at("11:00"), midnight - 86400.0 + 11.0 * 3600.0);
        assert_eq!(at("yesterday 03:00"), midnight - 86400.0 + 3.0 * 3600.0);
        assert_eq!(at("Yesterday 23:59:59"), midnight - 1.0);
        assert_eq!(at("today 11:00"), midnight + 11.0 * 3600.0);
        assert_eq!(at("today"), midnight);
        for bad in [
            "24:00",
            "10:60",
            "3",
            "1:2:3:4",
            "yesterday 3pm",
            "10:00:61",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relative_times() {
        assert_eq!(at("3h ago"), NOW - 10800.0);
        assert_eq!(at("90s ago"), NOW - 90.0);
        assert_eq!(at("-90s"), NOW - 90.0);
        assert_eq!(at("-1h30m"), NOW - 5400.0);
        assert_eq!(at("2 days ago"), NOW - 172_800.0);
        assert_eq!(at("now"), NOW);
        assert_eq!(at("@1000.5"), 1000.5);
        for bad in ["3x ago", "ago", "-", "-5q", "soon", "", "@x"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn spans() {
        assert_eq!(parse_span("10m"), Some(600.0));
        assert_eq!(parse_span("1.5h"), Some(5400.0));
        assert_eq!(parse_span("1h 30m"), Some(5400.0));
        assert_eq!(parse_span("45"), Some(45.0));
        assert_eq!(parse_span("-5"), None);
        assert_eq!(parse_span("5 parsecs"), None);
    }
}
