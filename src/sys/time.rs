//! Local time (the system's time zone rules, through `localtime_r`).

/// A Unix timestamp broken down in the local time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalTime {
    pub(crate) year: i32,
    /// 1 to 12.
    pub(crate) month: u32,
    /// 1 to 31.
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    /// 0 to 60 (a leap second).
    pub(crate) second: u32,
}

/// The local time of whole second `unix_secs`, or `None` when the C library
/// cannot represent it.
pub(crate) fn local_time(unix_secs: i64) -> Option<LocalTime> {
    let t = libc::time_t::try_from(unix_secs).ok()?;
    // SAFETY: tm is plain data (all-zero is a valid value); localtime_r reads
    // t and writes only into tm, and returns null on failure. It is the
    // reentrant variant, safe to call from any thread.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        tm
    };
    let field = |v: libc::c_int| u32::try_from(v).ok();
    Some(LocalTime {
        year: tm.tm_year.checked_add(1900)?,
        month: field(tm.tm_mon)? + 1,
        day: field(tm.tm_mday)?,
        hour: field(tm.tm_hour)?,
        minute: field(tm.tm_min)?,
        second: field(tm.tm_sec)?,
    })
}

/// The local time zone's name at `unix_secs` (`CET`, `UTC`), or its offset
/// from UTC (`+01:00`) when the C library gives no name; `None` when the C
/// library cannot represent the time.
pub(crate) fn local_zone(unix_secs: i64) -> Option<String> {
    let t = libc::time_t::try_from(unix_secs).ok()?;
    // SAFETY: as in `local_time`; tm_zone, when not null, points at a
    // NUL-terminated name the C library keeps for the life of the process.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        if !tm.tm_zone.is_null() {
            let name = std::ffi::CStr::from_ptr(tm.tm_zone).to_string_lossy();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_graphic()) {
                return Some(name.into_owned());
            }
        }
        // c_long: i64 here, i32 on 32-bit targets.
        #[allow(clippy::useless_conversion)]
        let off = i64::from(tm.tm_gmtoff);
        let sign = if off < 0 { '-' } else { '+' };
        let off = off.abs();
        Some(format!("{sign}{:02}:{:02}", off / 3600, (off / 60) % 60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zone_has_a_name_or_an_offset() {
        let z = local_zone(1_700_000_000).unwrap();
        assert!(
            !z.is_empty() && z.chars().all(|c| c.is_ascii_graphic()),
            "{z}"
        );
    }

    #[test]
    fn fields_are_in_range() {
        let t = local_time(1_700_000_000).unwrap();
        assert!((2023..=2024).contains(&t.year), "{t:?}");
        assert!((1..=12).contains(&t.month) && (1..=31).contains(&t.day));
        assert!(t.hour < 24 && t.minute < 60 && t.second <= 60);
    }
}
