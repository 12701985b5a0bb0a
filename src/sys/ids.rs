//! User and group ids of this process, and their names from the system
//! databases.

use std::ffi::{CStr, CString};

/// Buffer for one password or group database entry (names, home, shell,
/// members). 16 KiB is far more than any real entry.
const ENTRY_BUF: usize = 16 * 1024;

/// The real user id of this process.
pub fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// The effective user id.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The uid of user `name` (from the password database).
pub fn lookup_user(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; ENTRY_BUF];
    // SAFETY: pwd is plain data filled by getpwnam_r; cname is NUL-terminated
    // and lives across the call; buf outlives the call and its length is
    // passed; result points to pwd or is null.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        (rc == 0 && !result.is_null()).then_some(pwd.pw_uid)
    }
}

/// The name of the user with `uid`.
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; ENTRY_BUF];
    // SAFETY: as in `lookup_user`; pw_name points into buf when found, and is
    // read (copied out) before buf is dropped.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        Some(CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned())
    }
}

/// The name of the group with `gid`.
pub fn group_name(gid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; ENTRY_BUF];
    // SAFETY: grp is plain data filled by getgrgid_r; buf outlives the call
    // and its length is passed; gr_name points into buf when found, and is
    // read (copied out) before buf is dropped.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrgid_r(gid, &mut grp, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc != 0 || result.is_null() || grp.gr_name.is_null() {
            return None;
        }
        Some(CStr::from_ptr(grp.gr_name).to_string_lossy().into_owned())
    }
}

/// Names of this process's groups (effective and supplementary), sorted,
/// without duplicates. Groups without a name are left out.
pub fn group_names() -> Vec<String> {
    let mut gids: Vec<u32> = rustix::process::getgroups()
        .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default();
    gids.push(rustix::process::getegid().as_raw());
    let mut names: Vec<String> = gids.into_iter().filter_map(group_name).collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_agree_with_the_databases() {
        assert_eq!(lookup_user("root"), Some(0));
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(lookup_user("no such user, surely"), None);
        assert_eq!(lookup_user("nul\0inside"), None);
        // "root" on Linux, "wheel" on macOS.
        assert!(group_name(0).is_some());
        // SAFETY: getuid/geteuid have no preconditions.
        let (uid, euid_raw) = unsafe { (libc::getuid(), libc::geteuid()) };
        assert_eq!(current_uid(), uid);
        assert_eq!(euid(), euid_raw);
        let names = group_names();
        assert!(!names.is_empty());
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    }
}
