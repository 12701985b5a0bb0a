//! macOS process source: libproc, sysctl, the mach timebase and IOKit.
//!
//! Owns every system call of the macOS sampling path and nothing else: the
//! values the kernel returns are copied into the plain structs of
//! `platform::darwin`, which converts them (and is tested on every platform).
//! libproc and sysctl come from the `libc` crate's declarations; the mach
//! timebase and the few IOKit functions are declared here (no bindgen).
//!
//! Everything here is cheap, so `scan` reads every counter of every process,
//! the deep ones included, and `deepen` does nothing. Other users' processes
//! answer `EPERM` to `proc_pid_rusage` and `PROC_PIDTASKINFO` unless running as
//! root: they still appear, with what `PROC_PIDTBSDINFO` gives (identity,
//! state, command). GPU time is `accumulatedGPUTime` of the IORegistry GPU
//! clients (`AGXDeviceUserClient` on Apple Silicon), summed per creator PID.
//!
//! The machine series (`machine`): per-core ticks from `host_processor_info`,
//! page counts from `host_statistics64`, `hw.memsize`, `vm.swapusage` and
//! `vm.loadavg`, the machine's thread count from `processor_set_statistics`,
//! disk counters from each `IOBlockStorageDriver`'s `Statistics`, and
//! interface counters from the `NET_RT_IFLIST2` sysctl. `platform::darwin`
//! declares the structs (with their header layouts) and converts them.

use super::{DeviceTotals, ProcessSource, RawMachine, RawProcess, SystemInfo};
use crate::platform::darwin::{
    self, BlockStats, CoreTicks, CpuTickCounters, DarwinReading, Loadavg, ProcessorSetLoadInfo,
    RawBsdInfo, RawRusage, RawTaskInfo, Timebase, VmStatistics64, XswUsage, c_name,
};
use core_foundation::array::CFArray;
use core_foundation::base::{CFAllocatorRef, CFType, CFTypeRef, TCFType};
use core_foundation::dictionary::{CFDictionary, CFDictionaryRef, CFMutableDictionaryRef};
use core_foundation::number::CFNumber;
use core_foundation::string::{CFString, CFStringRef};
use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, c_int, c_uint, c_void};
use std::mem::{MaybeUninit, size_of};
use std::ptr;

/// IOKit's `io_object_t` / `io_iterator_t` / `io_registry_entry_t` (a mach port).
type IoObject = c_uint;
type KernReturn = c_int;
const KERN_SUCCESS: KernReturn = 0;
/// `kIOMainPortDefault` (`MACH_PORT_NULL`).
const IO_MAIN_PORT_DEFAULT: c_uint = 0;
/// `kIORegistryIterateRecursively`.
const IO_REGISTRY_ITERATE_RECURSIVELY: u32 = 1;

#[link(name = "IOKit", kind = "framework")]
unsafe extern "C" {
    fn IOServiceMatching(name: *const c_char) -> CFMutableDictionaryRef;
    /// Consumes one reference to `matching`.
    fn IOServiceGetMatchingServices(
        main_port: c_uint,
        matching: CFDictionaryRef,
        existing: *mut IoObject,
    ) -> KernReturn;
    fn IOIteratorNext(iterator: IoObject) -> IoObject;
    fn IOObjectRelease(object: IoObject) -> KernReturn;
    fn IORegistryEntryCreateIterator(
        entry: IoObject,
        plane: *const c_char,
        options: u32,
        iterator: *mut IoObject,
    ) -> KernReturn;
    fn IORegistryEntryGetRegistryEntryID(entry: IoObject, entry_id: *mut u64) -> KernReturn;
    fn IORegistryEntryCreateCFProperty(
        entry: IoObject,
        key: CFStringRef,
        allocator: CFAllocatorRef,
        options: u32,
    ) -> CFTypeRef;
}

// libSystem. Declared here: libc's declarations are deprecated in favour of
// mach2, which does not build off Apple (or libc has none).
unsafe extern "C" {
    fn mach_timebase_info(info: *mut Timebase) -> c_int;
    /// A send right to the host port (one more user reference per call).
    fn mach_host_self() -> libc::mach_port_t;
    /// This task's port (what `mach_task_self()` reads).
    static mach_task_self_: libc::mach_port_t;
    /// The kernel's page size, the unit of `host_statistics64` page counts
    /// (16 KiB on Apple Silicon even for a process with 4 KiB pages).
    static vm_kernel_page_size: libc::vm_size_t;
    fn mach_port_deallocate(task: libc::mach_port_t, name: libc::mach_port_t) -> KernReturn;
    /// `<mach/mach_host.h>`: the default processor set's name port.
    fn processor_set_default(
        host: libc::mach_port_t,
        default_set: *mut libc::mach_port_t,
    ) -> KernReturn;
    /// `<mach/processor_set.h>`; `info` is `processor_set_info_t` (`integer_t *`).
    fn processor_set_statistics(
        pset: libc::mach_port_t,
        flavor: c_int,
        info: *mut c_int,
        count: *mut libc::mach_msg_type_number_t,
    ) -> KernReturn;
}

/// `<mach/processor_info.h>` `PROCESSOR_SET_LOAD_INFO`.
const PROCESSOR_SET_LOAD_INFO: c_int = 4;

/// An IOKit object we hold a reference to; released on drop.
struct IoRef(IoObject);

impl Drop for IoRef {
    fn drop(&mut self) {
        // SAFETY: self.0 is a non-null object this guard owns one reference to.
        unsafe {
            IOObjectRelease(self.0);
        }
    }
}

impl IoRef {
    /// The next object of an IOKit iterator, `None` at the end.
    fn next_of(iterator: &IoRef) -> Option<IoRef> {
        // SAFETY: iterator.0 is a live iterator we own; the returned object (if
        // any) carries a reference that the new guard releases.
        let object = unsafe { IOIteratorNext(iterator.0) };
        (object != 0).then_some(IoRef(object))
    }

    /// One registry property, `None` when absent.
    fn property(&self, key: &CFString) -> Option<CFType> {
        // SAFETY: self.0 is a live registry entry, key a valid CFString; a null
        // allocator is kCFAllocatorDefault; options 0.
        let value = unsafe {
            IORegistryEntryCreateCFProperty(self.0, key.as_concrete_TypeRef(), ptr::null(), 0)
        };
        if value.is_null() {
            return None;
        }
        // SAFETY: a "Create" function: we own the returned reference, which
        // CFType releases on drop.
        Some(unsafe { CFType::wrap_under_create_rule(value) })
    }
}

/// Wrap a borrowed CF value from a container (get rule), `None` if null.
fn borrowed(value: *const c_void) -> Option<CFType> {
    if value.is_null() {
        return None;
    }
    // SAFETY: value is a live CF object owned by a container we hold; the get
    // rule retains it for the CFType's lifetime.
    Some(unsafe { CFType::wrap_under_get_rule(value) })
}

/// Accumulated GPU time per PID from the IORegistry: every descendant of every
/// `IOAccelerator` that has an `IOUserClientCreator` ("pid N, name") and an
/// `AppUsage` array of dictionaries with `accumulatedGPUTime` (ns). Empty when
/// the machine has no such clients (Intel GPUs, VMs).
fn gpu_time_by_pid() -> HashMap<u32, u64> {
    let creator_key = CFString::from_static_string("IOUserClientCreator");
    let usage_key = CFString::from_static_string("AppUsage");
    let time_key = CFString::from_static_string("accumulatedGPUTime");
    let mut clients: Vec<(String, Vec<u64>)> = Vec::new();

    // SAFETY: the argument is a NUL-terminated class name.
    let matching = unsafe { IOServiceMatching(c"IOAccelerator".as_ptr()) };
    if matching.is_null() {
        return HashMap::new();
    }
    let mut iterator: IoObject = 0;
    // SAFETY: matching is a fresh dictionary whose reference this call consumes;
    // iterator is a valid out-pointer.
    let kr = unsafe {
        IOServiceGetMatchingServices(IO_MAIN_PORT_DEFAULT, matching.cast_const(), &mut iterator)
    };
    if kr != KERN_SUCCESS || iterator == 0 {
        return HashMap::new();
    }
    let accelerators = IoRef(iterator);
    while let Some(accelerator) = IoRef::next_of(&accelerators) {
        let mut children: IoObject = 0;
        // SAFETY: accelerator is a live registry entry; the plane name is
        // NUL-terminated; children is a valid out-pointer.
        let kr = unsafe {
            IORegistryEntryCreateIterator(
                accelerator.0,
                c"IOService".as_ptr(),
                IO_REGISTRY_ITERATE_RECURSIVELY,
                &mut children,
            )
        };
        if kr != KERN_SUCCESS || children == 0 {
            continue;
        }
        let children = IoRef(children);
        while let Some(child) = IoRef::next_of(&children) {
            let Some(creator) = child
                .property(&creator_key)
                .and_then(|v| v.downcast::<CFString>())
            else {
                continue;
            };
            let Some(usage) = child
                .property(&usage_key)
                .and_then(|v| v.downcast::<CFArray>())
            else {
                continue;
            };
            let times = usage
                .get_all_values()
                .into_iter()
                .filter_map(borrowed)
                .filter_map(|entry| entry.downcast::<CFDictionary>())
                .filter_map(|dict| {
                    let value = dict.find(time_key.as_CFTypeRef())?;
                    let number = borrowed(*value)?.downcast::<CFNumber>()?;
                    number.to_i64().and_then(|n| u64::try_from(n).ok())
                })
                .collect();
            clients.push((creator.to_string(), times));
        }
    }
    darwin::gpu_time_by_pid(clients.iter().map(|(c, t)| (c.as_str(), t.as_slice())))
}

/// Read one fixed-size value with `sysctl`.
///
/// # Safety
/// `T` must be plain data valid for every bit pattern (integers, `timeval`).
unsafe fn sysctl_value<T>(mib: &mut [c_int]) -> Option<T> {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>();
    // SAFETY: mib is valid for its length; value is writable for len bytes;
    // no new value is set.
    let rc = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            mib.len() as c_uint,
            value.as_mut_ptr().cast(),
            &mut len,
            ptr::null_mut(),
            0,
        )
    };
    // SAFETY: zero-initialised and (on success) filled by the kernel; T is
    // valid for any bit pattern (caller's contract).
    (rc == 0 && len == size_of::<T>()).then(|| unsafe { value.assume_init() })
}

/// Read one `int` with `sysctlbyname`.
fn sysctl_int_by_name(name: &std::ffi::CStr) -> Option<c_int> {
    let mut value: c_int = 0;
    let mut len = size_of::<c_int>();
    // SAFETY: name is NUL-terminated; value is writable for len bytes; no new
    // value is set.
    let rc = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            (&mut value as *mut c_int).cast(),
            &mut len,
            ptr::null_mut(),
            0,
        )
    };
    (rc == 0 && len == size_of::<c_int>()).then_some(value)
}

fn query_timebase() -> Timebase {
    let mut tb = Timebase { numer: 0, denom: 0 };
    // SAFETY: tb has the layout of struct mach_timebase_info (asserted in
    // darwin's tests) and is writable.
    let rc = unsafe { mach_timebase_info(&mut tb) };
    if rc != 0 || tb.numer == 0 || tb.denom == 0 {
        return Timebase::NANOSECONDS;
    }
    tb
}

fn bsd_info(pid: c_int) -> Option<libc::proc_bsdinfo> {
    let mut info = MaybeUninit::<libc::proc_bsdinfo>::zeroed();
    let size = size_of::<libc::proc_bsdinfo>() as c_int;
    // SAFETY: info is writable for size bytes, which bounds what the kernel writes.
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            info.as_mut_ptr().cast(),
            size,
        )
    };
    // SAFETY: a zeroed C struct of integers and char arrays is valid for any
    // bytes, and on success the kernel filled it.
    (n == size).then(|| unsafe { info.assume_init() })
}

fn task_info(pid: c_int) -> Option<libc::proc_taskinfo> {
    let mut info = MaybeUninit::<libc::proc_taskinfo>::zeroed();
    let size = size_of::<libc::proc_taskinfo>() as c_int;
    // SAFETY: info is writable for size bytes, which bounds what the kernel writes.
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTASKINFO,
            0,
            info.as_mut_ptr().cast(),
            size,
        )
    };
    // SAFETY: a zeroed C struct of integers is valid for any bytes.
    (n == size).then(|| unsafe { info.assume_init() })
}

fn rusage(pid: c_int) -> Option<libc::rusage_info_v4> {
    let mut info = MaybeUninit::<libc::rusage_info_v4>::zeroed();
    // SAFETY: RUSAGE_INFO_V4 makes the kernel write one rusage_info_v4, which
    // info has room for (libproc takes it as `rusage_info_t *`).
    let rc = unsafe { libc::proc_pid_rusage(pid, libc::RUSAGE_INFO_V4, info.as_mut_ptr().cast()) };
    // SAFETY: a zeroed C struct of integers is valid for any bytes.
    (rc == 0).then(|| unsafe { info.assume_init() })
}

fn pid_path(pid: c_int, buf: &mut [u8]) -> Option<String> {
    // SAFETY: buf is writable for its length, which bounds what is written.
    let n = unsafe { libc::proc_pidpath(pid, buf.as_mut_ptr().cast(), buf.len() as u32) };
    let n = usize::try_from(n).ok().filter(|&n| n > 0)?;
    Some(c_name(buf.get(..n)?))
}

fn to_bytes<const N: usize>(chars: &[c_char; N]) -> [u8; N] {
    chars.map(|c| c as u8)
}

fn raw_bsd(b: &libc::proc_bsdinfo) -> RawBsdInfo {
    RawBsdInfo {
        status: b.pbi_status,
        comm: c_name(&to_bytes(&b.pbi_comm)),
        name: c_name(&to_bytes(&b.pbi_name)),
        start_tvsec: b.pbi_start_tvsec,
        start_tvusec: b.pbi_start_tvusec,
        ppid: b.pbi_ppid,
        uid: b.pbi_uid,
    }
}

fn raw_task(t: &libc::proc_taskinfo) -> RawTaskInfo {
    RawTaskInfo {
        resident_size: t.pti_resident_size,
        total_user: t.pti_total_user,
        total_system: t.pti_total_system,
        faults: t.pti_faults,
        pageins: t.pti_pageins,
        messages_sent: t.pti_messages_sent,
        messages_received: t.pti_messages_received,
        syscalls_mach: t.pti_syscalls_mach,
        syscalls_unix: t.pti_syscalls_unix,
        csw: t.pti_csw,
        threadnum: t.pti_threadnum,
        numrunning: t.pti_numrunning,
        priority: t.pti_priority,
    }
}

fn raw_rusage(r: &libc::rusage_info_v4) -> RawRusage {
    RawRusage {
        user_time: r.ri_user_time,
        system_time: r.ri_system_time,
        child_user_time: r.ri_child_user_time,
        child_system_time: r.ri_child_system_time,
        pkg_idle_wkups: r.ri_pkg_idle_wkups,
        interrupt_wkups: r.ri_interrupt_wkups,
        pageins: r.ri_pageins,
        phys_footprint: r.ri_phys_footprint,
        diskio_bytesread: r.ri_diskio_bytesread,
        diskio_byteswritten: r.ri_diskio_byteswritten,
        cpu_time_qos_user_interactive: r.ri_cpu_time_qos_user_interactive,
        lifetime_max_phys_footprint: r.ri_lifetime_max_phys_footprint,
        instructions: r.ri_instructions,
        cycles: r.ri_cycles,
        billed_energy: r.ri_billed_energy,
        runnable_time: r.ri_runnable_time,
    }
}

/// Re-list the block storage drivers at least this often (readings): disks
/// come and go rarely.
const DISKS_REFRESH_READS: u64 = 60;

/// What the machine series keeps between readings: the host and processor-set
/// ports (taken once, released on drop), the widened CPU ticks, the disk
/// drivers and the routing-sysctl buffer, so a reading allocates little.
struct MachineReader {
    host: libc::mach_port_t,
    /// The default processor set's name port, `None` when refused.
    pset: Option<libc::mach_port_t>,
    page_size: u64,
    mem_total: Option<u64>,
    ticks: CpuTickCounters,
    core_buf: Vec<CoreTicks>,
    /// The block storage drivers and their IORegistry entry IDs.
    disks: Vec<(IoRef, u64)>,
    /// What each disk and interface moved while it was there.
    disk_totals: DeviceTotals<4>,
    net_totals: DeviceTotals<2>,
    reads: u64,
    net_buf: Vec<u8>,
}

impl MachineReader {
    fn new() -> MachineReader {
        // SAFETY: no arguments; returns a send right this reader owns.
        let host = unsafe { mach_host_self() };
        let mut pset: libc::mach_port_t = 0;
        // SAFETY: host is a valid host port; pset is a valid out-pointer.
        let kr = unsafe { processor_set_default(host, &mut pset) };
        // SAFETY: reading a libSystem global set at start-up.
        let page_size = u64::try_from(unsafe { vm_kernel_page_size }).unwrap_or(0);
        // SAFETY: hw.memsize is a 64-bit integer.
        let mem_total: Option<u64> = unsafe { sysctl_value(&mut [libc::CTL_HW, libc::HW_MEMSIZE]) };
        MachineReader {
            host,
            pset: (kr == KERN_SUCCESS && pset != 0).then_some(pset),
            page_size,
            mem_total,
            ticks: CpuTickCounters::default(),
            core_buf: Vec::new(),
            disks: Vec::new(),
            disk_totals: DeviceTotals::new(),
            net_totals: DeviceTotals::new(),
            reads: 0,
            net_buf: Vec::new(),
        }
    }

    /// Each core's ticks into `core_buf` (empty when refused).
    fn core_ticks(&mut self) {
        self.core_buf.clear();
        let mut count: libc::natural_t = 0;
        let mut info: libc::processor_info_array_t = ptr::null_mut();
        let mut info_count: libc::mach_msg_type_number_t = 0;
        // SAFETY: host is a valid host port; the out-pointers are valid. On
        // success the kernel maps `info_count` integer_t's into this task,
        // which are deallocated below.
        let kr = unsafe {
            libc::host_processor_info(
                self.host,
                libc::PROCESSOR_CPU_LOAD_INFO,
                &mut count,
                &mut info,
                &mut info_count,
            )
        };
        if kr != KERN_SUCCESS || info.is_null() {
            return;
        }
        let ints = info_count as usize;
        let cores = (count as usize).min(ints / darwin::CPU_STATES);
        {
            // SAFETY: info points to `ints` integer_t's (4 bytes each, the
            // kernel's array of processor_cpu_load_info, 4 natural_t's per
            // core); the slice ends before the region is deallocated.
            let values = unsafe { std::slice::from_raw_parts(info.cast::<u32>(), ints) };
            self.core_buf.extend(
                values
                    .chunks_exact(darwin::CPU_STATES)
                    .take(cores)
                    .map(|c| [c[0], c[1], c[2], c[3]]),
            );
        }
        // SAFETY: the region host_processor_info mapped into this task, of
        // info_count integer_t's; not used after this.
        unsafe {
            libc::vm_deallocate(
                mach_task_self_,
                info as libc::vm_address_t,
                ints * size_of::<c_int>(),
            );
        }
    }

    fn vm_statistics(&self) -> Option<VmStatistics64> {
        let mut vm = VmStatistics64::default();
        let mut count: libc::mach_msg_type_number_t = darwin::HOST_VM_INFO64_COUNT;
        // SAFETY: vm has the layout of vm_statistics64 up to REV1 (asserted in
        // darwin's tests) and is writable for `count` integer_t's, which
        // bounds what the kernel writes.
        let kr = unsafe {
            libc::host_statistics64(
                self.host,
                libc::HOST_VM_INFO64,
                (&mut vm as *mut VmStatistics64).cast(),
                &mut count,
            )
        };
        (kr == KERN_SUCCESS).then_some(vm)
    }

    fn processor_set_load(&self) -> Option<ProcessorSetLoadInfo> {
        let pset = self.pset?;
        let mut info = ProcessorSetLoadInfo::default();
        let mut count: libc::mach_msg_type_number_t = darwin::PROCESSOR_SET_LOAD_INFO_COUNT;
        // SAFETY: pset is the default set's name port; info is writable for
        // `count` integer_t's (four, its size).
        let kr = unsafe {
            processor_set_statistics(
                pset,
                PROCESSOR_SET_LOAD_INFO,
                (&mut info as *mut ProcessorSetLoadInfo).cast(),
                &mut count,
            )
        };
        (kr == KERN_SUCCESS).then_some(info)
    }

    fn list_disks(&mut self) {
        self.disks.clear();
        // SAFETY: the argument is a NUL-terminated class name.
        let matching = unsafe { IOServiceMatching(c"IOBlockStorageDriver".as_ptr()) };
        if matching.is_null() {
            return;
        }
        let mut iterator: IoObject = 0;
        // SAFETY: matching is a fresh dictionary whose reference this call
        // consumes; iterator is a valid out-pointer.
        let kr = unsafe {
            IOServiceGetMatchingServices(IO_MAIN_PORT_DEFAULT, matching.cast_const(), &mut iterator)
        };
        if kr != KERN_SUCCESS || iterator == 0 {
            return;
        }
        let drivers = IoRef(iterator);
        while let Some(driver) = IoRef::next_of(&drivers) {
            let mut id = 0u64;
            // SAFETY: driver is a valid registry entry; id a valid out-pointer.
            let kr = unsafe { IORegistryEntryGetRegistryEntryID(driver.0, &mut id) };
            // Without its ID a driver cannot be told from another after the
            // next listing: left out rather than risk adding another's counters.
            if kr == KERN_SUCCESS {
                self.disks.push((driver, id));
            }
        }
    }

    /// Every driver's `Statistics` dictionary. (CF strings are not `Send`, so
    /// the keys are made per reading rather than kept.)
    fn block_stats(&self) -> Vec<BlockStats> {
        let stats_key = CFString::from_static_string("Statistics");
        let keys = [
            CFString::from_static_string("Bytes (Read)"),
            CFString::from_static_string("Bytes (Write)"),
            CFString::from_static_string("Operations (Read)"),
            CFString::from_static_string("Operations (Write)"),
        ];
        let one = |(driver, id): &(IoRef, u64)| -> Option<BlockStats> {
            let stats = driver.property(&stats_key)?.downcast::<CFDictionary>()?;
            let get = |key: &CFString| -> Option<u64> {
                let value = stats.find(key.as_CFTypeRef())?;
                let number = borrowed(*value)?.downcast::<CFNumber>()?;
                number.to_i64().and_then(|n| u64::try_from(n).ok())
            };
            let [rb, wb, r, w] = &keys;
            Some(BlockStats {
                id: *id,
                read_bytes: get(rb),
                write_bytes: get(wb),
                reads: get(r),
                writes: get(w),
            })
        };
        self.disks.iter().filter_map(one).collect()
    }

    /// The `NET_RT_IFLIST2` messages, read into the kept `net_buf` (grown
    /// when the kernel has more to say); `None` when refused.
    fn interface_list(&mut self) -> Option<&[u8]> {
        let mut mib = [libc::CTL_NET, libc::PF_ROUTE, 0, 0, libc::NET_RT_IFLIST2, 0];
        for _ in 0..3 {
            if !self.net_buf.is_empty() {
                let mut len = self.net_buf.len();
                // SAFETY: mib is valid for its length; net_buf is writable for
                // len bytes and the kernel writes at most len; no new value is set.
                let rc = unsafe {
                    libc::sysctl(
                        mib.as_mut_ptr(),
                        mib.len() as c_uint,
                        self.net_buf.as_mut_ptr().cast(),
                        &mut len,
                        ptr::null_mut(),
                        0,
                    )
                };
                if rc == 0 {
                    return self.net_buf.get(..len);
                }
                if std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOMEM) {
                    return None;
                }
            }
            // Too small (or the first reading): ask the size, with room for
            // interfaces that appear meanwhile.
            let mut need = 0usize;
            // SAFETY: a null buffer asks only for the size.
            let rc = unsafe {
                libc::sysctl(
                    mib.as_mut_ptr(),
                    mib.len() as c_uint,
                    ptr::null_mut(),
                    &mut need,
                    ptr::null_mut(),
                    0,
                )
            };
            if rc != 0 || need == 0 {
                return None;
            }
            self.net_buf.resize(need + need / 4 + 1024, 0);
        }
        None
    }

    fn read(&mut self) -> Option<RawMachine> {
        if self.reads.is_multiple_of(DISKS_REFRESH_READS) {
            self.list_disks();
        }
        self.reads += 1;
        let mut m = RawMachine::default();
        self.core_ticks();
        (m.cpu, m.cores) = self.ticks.update(&self.core_buf);
        let vm = self.vm_statistics();
        // SAFETY: vm.swapusage is a struct xsw_usage of plain integers.
        let swap: Option<XswUsage> =
            unsafe { sysctl_value(&mut [libc::CTL_VM, libc::VM_SWAPUSAGE]) };
        m.mem = darwin::mem_counters(self.mem_total, vm.as_ref(), self.page_size, swap.as_ref());
        // SAFETY: vm.loadavg is a struct loadavg of plain integers.
        let load: Option<Loadavg> = unsafe { sysctl_value(&mut [libc::CTL_VM, libc::VM_LOADAVG]) };
        let set = self.processor_set_load();
        m.load = load.and_then(|l| darwin::load_avg(&l, set.as_ref()));
        let stats = self.block_stats();
        m.disk = darwin::disk_counters(stats, &mut self.disk_totals);
        // The list borrows the reader: its totals are taken out meanwhile.
        let mut net_totals = std::mem::take(&mut self.net_totals);
        m.net = self
            .interface_list()
            .and_then(|list| darwin::parse_iflist2(list, &mut net_totals));
        self.net_totals = net_totals;
        (m.cpu.is_some() || m.mem.is_some() || m.load.is_some()).then_some(m)
    }
}

impl Drop for MachineReader {
    fn drop(&mut self) {
        for port in [Some(self.host), self.pset].into_iter().flatten() {
            // SAFETY: a send right this reader owns one reference to.
            unsafe {
                mach_port_deallocate(mach_task_self_, port);
            }
        }
    }
}

/// Reads libproc, sysctl and IOKit for `collect`.
pub(crate) struct MacSource {
    timebase: Timebase,
    cpu_count: usize,
    boot_time_ms: u64,
    pids: Vec<c_int>,
    /// Command per PID, with the start time it belongs to (PIDs are reused).
    commands: HashMap<u32, (u64, String)>,
    /// `KERN_PROCARGS2` buffer, `kern.argmax` bytes.
    args_buf: Vec<u8>,
    path_buf: Vec<u8>,
    machine: MachineReader,
}

impl MacSource {
    pub(crate) fn new() -> Result<MacSource, super::SourceError> {
        // SAFETY: kern.boottime is a struct timeval, plain integers.
        let boot: libc::timeval =
            unsafe { sysctl_value(&mut [libc::CTL_KERN, libc::KERN_BOOTTIME]) }.ok_or_else(
                || super::SourceError::Sysctl {
                    name: "kern.boottime",
                    source: std::io::Error::last_os_error(),
                },
            )?;
        let boot_time_ms = u64::try_from(boot.tv_sec).unwrap_or(0) * 1000
            + u64::try_from(boot.tv_usec).unwrap_or(0) / 1000;
        let cpu_count = sysctl_int_by_name(c"hw.logicalcpu")
            .or_else(|| sysctl_int_by_name(c"hw.ncpu"))
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0)
            .unwrap_or(1);
        // SAFETY: kern.argmax is an int.
        let argmax: c_int =
            unsafe { sysctl_value(&mut [libc::CTL_KERN, libc::KERN_ARGMAX]) }.unwrap_or(256 * 1024);
        Ok(MacSource {
            timebase: query_timebase(),
            cpu_count,
            boot_time_ms,
            pids: Vec::new(),
            commands: HashMap::new(),
            args_buf: vec![0; usize::try_from(argmax).unwrap_or(256 * 1024).max(4096)],
            path_buf: vec![0; libc::PROC_PIDPATHINFO_MAXSIZE as usize],
            machine: MachineReader::new(),
        })
    }

    /// Every PID, into `self.pids`.
    fn list_pids(&mut self) {
        self.pids.clear();
        for _ in 0..4 {
            // SAFETY: a null buffer of size 0 asks only for the count.
            let count = unsafe { libc::proc_listallpids(ptr::null_mut(), 0) };
            let Ok(count) = usize::try_from(count) else {
                return;
            };
            let capacity = count + 64;
            self.pids.resize(capacity, 0);
            let bytes = c_int::try_from(capacity * size_of::<c_int>()).unwrap_or(c_int::MAX);
            // SAFETY: the buffer holds `capacity` pids, `bytes` bytes.
            let got = unsafe { libc::proc_listallpids(self.pids.as_mut_ptr().cast(), bytes) };
            let Ok(got) = usize::try_from(got) else {
                self.pids.clear();
                return;
            };
            if got < capacity {
                self.pids.truncate(got);
                return;
            }
            // Filled to the brim: processes appeared meanwhile; ask again.
        }
    }

    /// The arguments of `pid` (`KERN_PROCARGS2`), own processes or root only.
    fn args(&mut self, pid: c_int) -> Option<String> {
        let mut mib = [libc::CTL_KERN, libc::KERN_PROCARGS2, pid];
        let mut len = self.args_buf.len();
        // SAFETY: mib is valid for 3 entries; args_buf is writable for len
        // bytes and the kernel writes at most len; no new value is set.
        let rc = unsafe {
            libc::sysctl(
                mib.as_mut_ptr(),
                mib.len() as c_uint,
                self.args_buf.as_mut_ptr().cast(),
                &mut len,
                ptr::null_mut(),
                0,
            )
        };
        if rc != 0 {
            return None;
        }
        darwin::parse_procargs2(self.args_buf.get(..len)?)
    }

    fn command(&mut self, pid: c_int, start_ms: u64, bsd: &RawBsdInfo) -> String {
        let key = pid as u32;
        if let Some((start, command)) = self.commands.get(&key)
            && *start == start_ms
        {
            return command.clone();
        }
        let args = self.args(pid);
        let path = pid_path(pid, &mut self.path_buf);
        let command = darwin::choose_command(key, args, path, bsd);
        self.commands.insert(key, (start_ms, command.clone()));
        command
    }
}

impl ProcessSource for MacSource {
    fn system(&mut self) -> SystemInfo {
        // SAFETY: hw.memsize is a 64-bit integer.
        let mem: Option<u64> = unsafe { sysctl_value(&mut [libc::CTL_HW, libc::HW_MEMSIZE]) };
        SystemInfo {
            cpu_count: self.cpu_count,
            mem_total_bytes: mem.filter(|&m| m > 0),
            boot_time_ms: self.boot_time_ms,
        }
    }

    fn scan(&mut self, out: &mut Vec<RawProcess>) {
        out.clear();
        let now = crate::unix_now();
        self.list_pids();
        let gpu = gpu_time_by_pid();
        let pids = std::mem::take(&mut self.pids);
        let mut alive = HashSet::with_capacity(pids.len());
        for &pid in &pids {
            if pid < 0 {
                continue;
            }
            // Without bsdinfo there is no start time, so no identity: the
            // process exited between listing and reading.
            let Some(bsd) = bsd_info(pid) else {
                continue;
            };
            let bsd = raw_bsd(&bsd);
            let start_ms = darwin::start_time_ms(&bsd);
            let command = self.command(pid, start_ms, &bsd);
            let key = pid as u32;
            alive.insert(key);
            let reading = DarwinReading {
                pid: key,
                command,
                rusage: rusage(pid).as_ref().map(raw_rusage),
                task: task_info(pid).as_ref().map(raw_task),
                gpu_time_ns: gpu.get(&key).copied(),
                bsd,
            };
            out.push(darwin::to_raw_process(reading, self.timebase, now));
        }
        self.commands.retain(|pid, _| alive.contains(pid));
        self.pids = pids;
    }

    fn deepen(&mut self, _raw: &mut RawProcess, _now: f64) {
        // `scan` already read every counter: nothing is expensive here.
    }

    fn machine(&mut self) -> Option<RawMachine> {
        self.machine.read()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn libc_structs_have_the_kernel_sizes() {
        assert_eq!(std::mem::size_of::<libc::rusage_info_v4>(), 296);
        assert_eq!(std::mem::size_of::<libc::proc_taskinfo>(), 96);
        assert_eq!(std::mem::size_of::<libc::proc_bsdinfo>(), 136);
    }
}
