//! System constants: memory page size, clock ticks per second, the host name.

/// Bytes per memory page.
pub(crate) fn page_size() -> Option<u64> {
    // SAFETY: sysconf has no preconditions; it returns -1 for unknown names.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(v).ok().filter(|v| *v > 0)
}

/// Clock ticks per second (the unit of CPU times in /proc).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn clock_ticks() -> Option<u64> {
    // SAFETY: as in `page_size`.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(v).ok().filter(|v| *v > 0)
}

/// The soft open-files limit (RLIMIT_NOFILE) in force; `None` when unlimited
/// or unreadable.
pub(crate) fn open_files_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    (lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

/// This machine's network node name (`uname -n`), as the kernel holds it;
/// bytes that are not UTF-8 are replaced.
pub(crate) fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// `host_name`, read once per process: the `host` of every JSON document
/// and of the live stream's `initial_state`.
pub(crate) fn host() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(host_name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sane() {
        assert!(super::page_size().is_some_and(|p| p >= 4096 && p.is_power_of_two()));
        assert!(super::clock_ticks().is_some());
        assert!(super::open_files_limit().is_none_or(|n| n >= 3));
        assert!(!super::host_name().is_empty());
    }
}
