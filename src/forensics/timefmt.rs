//! Calendar arithmetic for the log sources: parse the timestamps tools print
//! (`dmesg --time-format iso`, `log show --style ndjson`) to Unix seconds and
//! format Unix seconds for `log show --start`. Pure, no time zone database.

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let d = i64::from(d);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of `days_from_civil`).
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(s: &str, n: usize) -> Option<(i64, &str)> {
    let head = s.get(..n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &s[n..]))
}

fn skip_char(s: &str, c: char) -> Option<&str> {
    s.strip_prefix(c)
}

/// Parse `YYYY-MM-DD[T ]HH:MM:SS[.,frac][Z|±HH:MM|±HHMM]` to Unix seconds. A
/// timestamp without an offset is taken as UTC.
pub(crate) fn parse_timestamp(text: &str) -> Option<f64> {
    let s = text.trim();
    let (year, s) = digits(s, 4)?;
    let s = skip_char(s, '-')?;
    let (month, s) = digits(s, 2)?;
    let s = skip_char(s, '-')?;
    let (day, s) = digits(s, 2)?;
    let s = s.strip_prefix('T').or_else(|| s.strip_prefix(' '))?;
    let (hour, s) = digits(s, 2)?;
    let s = skip_char(s, ':')?;
    let (minute, s) = digits(s, 2)?;
    let s = skip_char(s, ':')?;
    let (second, mut s) = digits(s, 2)?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut frac = 0.0;
    if let Some(rest) = s.strip_prefix('.').or_else(|| s.strip_prefix(',')) {
        let n = rest.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        frac = format!("0.{}", &rest[..n]).parse().ok()?;
        s = &rest[n..];
    }
    let offset_secs = match s.chars().next() {
        None => 0,
        Some('Z') if s.len() == 1 => 0,
        Some(sign @ ('+' | '-')) => {
            let rest = &s[1..];
            let (h, rest) = digits(rest, 2)?;
            let rest = rest.strip_prefix(':').unwrap_or(rest);
            let (m, rest) = digits(rest, 2)?;
            if !rest.is_empty() {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if sign == '-' { -secs } else { secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(secs as f64 + frac)
}

/// Unix seconds → `YYYY-MM-DD HH:MM:SS+0000` (UTC), the form `log show
/// --start/--end` accepts (macOS only).
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn format_utc(unix_secs: f64) -> String {
    let secs = unix_secs.floor() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}+0000",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for z in [-1000, -1, 0, 1, 11_016, 11_017, 20_000, 60_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn parses_the_shapes_tools_print() {
        // dmesg --time-format iso
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20,250000+00:00"),
            Some(1_700_000_000.25)
        );
        // log show --style ndjson
        assert_eq!(
            parse_timestamp("2023-11-14 14:13:20.500000-0800"),
            Some(1_700_000_000.5)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20Z"),
            Some(1_700_000_000.0)
        );
        assert_eq!(
            parse_timestamp("2023-11-14 22:13:20"),
            Some(1_700_000_000.0)
        );
        for bad in [
            "",
            "yesterday",
            "2023-13-01T00:00:00Z",
            "2023-11-14T22:13",
            "2023-11-14T22:13:20+1",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_utc_for_log_show() {
        assert_eq!(format_utc(1_700_000_000.9), "2023-11-14 22:13:20+0000");
        assert_eq!(
            parse_timestamp(&format_utc(1_700_000_000.0)),
            Some(1_700_000_000.0)
        );
    }
}
