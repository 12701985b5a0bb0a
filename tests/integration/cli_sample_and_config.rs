//! The `sample` and `config` commands as a user and a script see them: exit
//! codes, JSON that holds to the schema for every process, errors that name
//! the file and key, layers that override each other.

use crate::common::Sandbox;
use serde_json::Value;
use std::process::Output;

fn run(mut c: std::process::Command) -> Output {
    c.output().expect("run rogue-hunter")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

use rogue_hunter::model::METRICS;

/// Check one ProcessScore object against DESIGN §3.
fn check_process(p: &Value) -> Result<(), String> {
    let obj = p.as_object().ok_or("process is not an object")?;
    let int = |k: &str| {
        obj.get(k)
            .and_then(Value::as_u64)
            .ok_or(format!("{k} not an unsigned integer"))
    };
    int("pid")?;
    int("start_time_ms")?;
    obj.get("command")
        .and_then(Value::as_str)
        .ok_or("command not a string")?;
    obj.get("captured_at_s")
        .and_then(Value::as_f64)
        .ok_or("captured_at_s not a number")?;
    for m in METRICS.iter().map(|i| i.name) {
        match obj.get(m) {
            None => return Err(format!("{m} missing")),
            Some(Value::Null) => {}
            Some(v) => {
                let f = |k: &str| {
                    v.get(k)
                        .and_then(Value::as_f64)
                        .ok_or(format!("{m}.{k} not a number"))
                };
                let (c, lo, hi) = (f("current")?, f("low")?, f("high")?);
                if !(lo <= c && c <= hi) {
                    return Err(format!("{m}: low {lo} <= current {c} <= high {hi} fails"));
                }
                if c < 0.0 {
                    return Err(format!("{m} negative: {c}"));
                }
            }
        }
    }
    // Linux cannot measure these: they must be null, never a fake zero.
    for m in [
        "mach_msgs",
        "instructions",
        "cycles",
        "ipc",
        "energy",
        "qos_interactive",
    ] {
        if !obj[m].is_null() {
            return Err(format!("{m} should be null on Linux"));
        }
    }
    let score = obj.get("score").and_then(Value::as_f64).ok_or("score")?;
    if !(0.0..=100.0).contains(&score) {
        return Err(format!("score {score} out of range"));
    }
    let one_of = |k: &str, allowed: &[&str]| -> Result<(), String> {
        let v = obj
            .get(k)
            .and_then(Value::as_str)
            .ok_or(format!("{k} not a string"))?;
        if allowed.contains(&v) {
            Ok(())
        } else {
            Err(format!("{k} = {v}"))
        }
    };
    one_of("band", &["low", "medium", "elevated", "high", "critical"])?;
    one_of(
        "dominant_resource",
        &["cpu", "gpu", "memory", "disk", "wakeups"],
    )?;
    one_of(
        "state",
        &[
            "running",
            "sleeping",
            "disk_sleep",
            "stopped",
            "zombie",
            "idle",
            "dead",
            "unknown",
        ],
    )?;
    for k in [
        "cpu_share",
        "gpu_share",
        "mem_share",
        "disk_share",
        "wakeups_share",
    ] {
        match obj.get(k) {
            Some(Value::Null) => {}
            Some(v) if v.as_f64().is_some_and(|x| x >= 0.0) => {}
            other => return Err(format!("{k} = {other:?}")),
        }
    }
    obj.get("disproportionality")
        .and_then(Value::as_f64)
        .ok_or("disproportionality")?;
    if !(obj["priority"].is_null() || obj["priority"].is_i64()) {
        return Err("priority".into());
    }
    if !(obj["cgroup"].is_null() || obj["cgroup"].is_string()) {
        return Err("cgroup".into());
    }
    if !(obj["uid"].is_null()
        || obj["uid"]
            .as_u64()
            .is_some_and(|u| u <= u64::from(u32::MAX)))
    {
        return Err("uid".into());
    }
    match obj.get("cpu_time_s") {
        Some(Value::Null) => {}
        Some(v) if v.as_f64().is_some_and(|x| x >= 0.0) => {}
        other => return Err(format!("cpu_time_s = {other:?}")),
    }
    Ok(())
}

#[test]
fn sample_json_holds_to_the_schema_for_every_process() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args([
        "sample",
        "--json",
        "--count",
        "2",
        "--interval",
        "0.3",
        "--top",
        "1000",
    ]);
    let o = run(c);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "one line per sample");
    for line in lines {
        let v: Value = serde_json::from_str(line).expect("valid JSON");
        let count = v["process_count"].as_u64().expect("process_count");
        let rogues = v["rogues"].as_array().expect("rogues");
        assert_eq!(
            rogues.len() as u64,
            count,
            "--top 1000 covers every process"
        );
        assert!(count > 5);
        assert!(v["timestamp_s"].as_f64().is_some() && v["elapsed_ms"].as_f64().is_some());
        assert_eq!(v["max_score"].as_f64(), rogues[0]["score"].as_f64());
        let mut last = f64::INFINITY;
        for p in rogues {
            check_process(p).unwrap_or_else(|e| panic!("{e}: {p}"));
            let s = p["score"].as_f64().unwrap_or(0.0);
            assert!(s <= last, "sorted worst first");
            last = s;
        }
        // This process is alive and readable: its CPU rate is measured.
        assert!(rogues.iter().any(|p| !p["cpu"].is_null()));
        // Owners and CPU times are read for every process (a process that
        // exits mid-scan may miss its owner).
        let owned = rogues.iter().filter(|p| p["uid"].is_u64()).count();
        assert!(
            owned * 10 >= rogues.len() * 9,
            "{owned} of {} owned",
            rogues.len()
        );
        assert!(rogues.iter().all(|p| p["cpu_time_s"].is_f64()));
        if let Some(init) = rogues.iter().find(|p| p["pid"] == 1) {
            assert_eq!(init["uid"], 0, "init is root's: {init}");
        }
        let me = rogues
            .iter()
            .find(|p| {
                p["command"]
                    .as_str()
                    .is_some_and(|c| c.contains("sample --json --count 2"))
            })
            .expect("the sampler lists itself");
        assert_eq!(
            me["uid"].as_u64(),
            Some(u64::from(rogue_hunter::sys::current_uid())),
            "the sampler runs as this user: {me}"
        );
    }
}

#[test]
fn sample_table_is_aligned_and_escapes_names() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args(["sample", "--top", "5"]);
    let o = run(c);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let header = out.lines().nth(1).expect("header");
    assert!(header.contains("PID") && header.contains("SCORE") && header.contains("COMMAND"));
    assert_eq!(out.lines().count(), 2 + 5);
    assert!(!out.contains('\x1b'));
}

#[test]
fn sample_works_unprivileged_with_denied_files_as_null() {
    if rogue_hunter::sys::current_uid() != 0 {
        return; // already unprivileged: the schema test covers it
    }
    let sb = Sandbox::new();
    std::fs::set_permissions(
        sb.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let mut c = sb.cmd();
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    cmd.arg(c.get_program());
    cmd.args(["sample", "--json", "--top", "1000"]);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    c = cmd;
    let o = run(c);
    let (out, err) = text(&o);
    assert!(o.status.success(), "as nobody: {err}");
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    let rogues = v["rogues"].as_array().expect("rogues");
    // PID 1 belongs to root: its io file is denied, so disk is unknown, not 0,
    // and the process is still listed.
    let init = rogues.iter().find(|p| p["pid"] == 1).expect("pid 1 listed");
    assert!(init["disk_io"].is_null(), "{init}");
    assert!(!init["mem"].is_null());
}

#[test]
fn unknown_key_exits_2_naming_file_line_and_key() {
    let sb = Sandbox::new();
    let path = sb.write_config("[system]\nsample_interval = 0.5\nring_bufer_size = 10\n");
    for args in [vec!["config", "validate"], vec!["sample"]] {
        let mut c = sb.cmd();
        c.args(&args);
        let o = run(c);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(
            err.contains("line 3") && err.contains("system.ring_bufer_size"),
            "{err}"
        );
    }
}

#[test]
fn bad_value_and_bad_env_exit_2_naming_the_key() {
    let sb = Sandbox::new();
    sb.write_config("[bands]\nmedium = 80.0\n");
    let mut c = sb.cmd();
    c.args(["config", "validate"]);
    let o = run(c);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("bands.elevated"), "{err}");

    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args(["config", "validate"])
        .env("ROGUE_HUNTER_SYSTEM__SAMPLE_INTERVAL", "fast");
    let o = run(c);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.to_lowercase().contains("sample_interval"), "{err}");
}

#[test]
fn layers_defaults_file_env_and_flags() {
    let sb = Sandbox::new();
    let sys = sb.path().join("etc.toml");
    std::fs::write(
        &sys,
        "[system]\nring_buffer_size = 11\nheartbeat_samples = 5\n",
    )
    .expect("write");
    sb.write_config("[system]\nring_buffer_size = 22\n");
    let mut c = sb.cmd();
    c.args(["config", "show"])
        .env("ROGUE_HUNTER_SYSTEM_CONFIG", &sys)
        .env("ROGUE_HUNTER_SELECTION__TOP_N", "7");
    let o = run(c);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: toml::Value = toml::from_str(&out).expect("show prints TOML");
    assert_eq!(
        v["system"]["ring_buffer_size"].as_integer(),
        Some(22),
        "user beats /etc"
    );
    assert_eq!(
        v["system"]["heartbeat_samples"].as_integer(),
        Some(5),
        "/etc beats defaults"
    );
    assert_eq!(
        v["selection"]["top_n"].as_integer(),
        Some(7),
        "env beats files"
    );

    // A flag beats the environment.
    let mut c = sb.cmd();
    c.args(["sample", "--json", "--top", "3"])
        .env("ROGUE_HUNTER_SELECTION__TOP_N", "7");
    let o = run(c);
    let (out, _) = text(&o);
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(v["rogues"].as_array().map(Vec::len), Some(3));
}

#[test]
fn explicit_config_flag_must_exist() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args(["--config", "/nonexistent/rh.toml", "config", "show"]);
    let o = run(c);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("/nonexistent/rh.toml"), "{err}");
}

#[test]
fn config_path_reset_and_edit() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args(["config", "path"]);
    let (out, _) = text(&run(c));
    assert_eq!(out.trim(), sb.config_file().display().to_string());

    sb.write_config("[system]\nring_buffer_size = 5\n");
    let mut c = sb.cmd();
    c.args(["config", "reset"]);
    let o = run(c);
    assert!(o.status.success());
    let now = std::fs::read_to_string(sb.config_file()).expect("reset file");
    assert!(now.contains("ring_buffer_size = 900"));
    let backups: Vec<_> = std::fs::read_dir(sb.config_file().parent().expect("dir"))
        .expect("ls")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".bak-"))
        .collect();
    assert_eq!(backups.len(), 1, "the old file is kept");

    // An editor that leaves the file valid.
    let mut c = sb.cmd();
    c.args(["config", "edit"]).env("VISUAL", "true");
    let o = run(c);
    assert!(o.status.success(), "{:?}", text(&o));

    // An editor that breaks it: exit 2, the key named, the file kept.
    let bad = sb.path().join("bad.toml");
    std::fs::write(&bad, "[tui]\ncolor_high = \"mauve-ish\"\n").expect("write");
    let mut c = sb.cmd();
    c.args(["config", "edit"])
        .env("VISUAL", format!("cp {}", bad.display()));
    let o = run(c);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("tui.color_high"), "{err}");
    assert!(
        std::fs::read_to_string(sb.config_file())
            .expect("kept")
            .contains("mauve")
    );
}

#[test]
fn usage_errors_exit_2() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args(["sample", "--count", "zero"]);
    assert_eq!(run(c).status.code(), Some(2));
    let mut c = sb.cmd();
    c.args(["sample", "--interval", "0.001"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(2));
    // The flag as typed, not the configuration key behind it.
    let err = text(&o).1;
    assert!(
        err.contains("--interval 0.001") && !err.contains("system.sample_interval"),
        "{err}"
    );
}

#[test]
fn query_commands_before_anything_was_recorded() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args(["events", "--json"]);
    let o = run(c);
    assert!(o.status.success(), "{:?}", text(&o));
    let v = serde_json::from_slice::<Value>(&o.stdout).expect("one JSON document");
    assert_eq!(v["events"], serde_json::json!([]), "{v}");
    let mut c = sb.cmd();
    c.args(["history", "--format", "json"]);
    let o = run(c);
    assert!(o.status.success(), "{:?}", text(&o));
    let mut c = sb.cmd();
    c.args(["status", "--json"]);
    let o = run(c);
    assert_eq!(
        o.status.code(),
        Some(3),
        "not running is exit 3: {:?}",
        text(&o)
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("status json");
    assert_eq!(v["running"], false);
    // One event that does not exist is an error naming what to do.
    let mut c = sb.cmd();
    c.args(["events", "show", "7"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("rogue-hunter"), "{:?}", text(&o));
}

/// Start the spinner pinned to `core` before it runs (see `common::pin_to_core`).
fn spawn_spinner_on_core(core: usize) -> crate::common::Hog {
    crate::common::spawn_hog_with("cpu", |c| crate::common::pin_to_core(c, core))
}

/// utime + stime of `pid` in clock ticks, from /proc/PID/stat.
fn cpu_ticks_of(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The `system` object of each line of `sample --json` over `count` 1 s intervals.
fn machine_series(sb: &Sandbox, count: u32) -> Vec<Value> {
    let mut c = sb.cmd();
    c.args(["sample", "--json", "--interval", "1", "--top", "1"])
        .args(["--count", &count.to_string()]);
    let o = run(c);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    out.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("valid JSON");
            v["system"].clone()
        })
        .collect()
}

#[test]
fn sample_json_carries_the_machine_series_and_sees_a_spinner() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    let cores = std::fs::read_to_string("/proc/stat")
        .expect("/proc/stat")
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    let before = machine_series(&sb, 2);
    assert_eq!(before.len(), 2);
    for s in &before {
        assert!(s.is_object(), "system present: {s}");
        assert_eq!(s["cpu_count"].as_u64(), Some(cores as u64), "{s}");
        assert_eq!(s["cores"].as_array().map(Vec::len), Some(cores), "{s}");
        let cpu = &s["cpu"];
        let sum: f64 = [
            "user", "nice", "system", "iowait", "irq", "softirq", "steal", "idle",
        ]
        .iter()
        .map(|k| cpu[*k].as_f64().expect("cpu kind"))
        .sum();
        assert!((sum - 100.0).abs() < 1.0, "kinds sum to 100: {cpu}");
        assert!(s["interval_s"].as_f64().is_some_and(|i| i > 0.5), "{s}");
        let mem = &s["memory"];
        assert!(mem["total_bytes"].as_u64().is_some_and(|t| t > 0), "{mem}");
        assert!(mem["available_bytes"].as_u64() <= mem["total_bytes"].as_u64());
        assert!(s["load"]["threads"].as_u64().is_some_and(|t| t > 0), "{s}");
        assert!(s["processes"].as_u64().is_some_and(|p| p > 5));
        // Every process's thread count is readable on Linux: the sum, at
        // least one thread a process.
        assert!(
            s["threads"].as_u64() >= s["processes"].as_u64(),
            "threads summed: {s}"
        );
        assert!(
            s["stress"]
                .as_f64()
                .is_some_and(|v| (0.0..=100.0).contains(&v))
        );
        if std::path::Path::new("/proc/pressure/cpu").exists() {
            assert!(s["pressure"]["cpu"]["some_avg10"].as_f64().is_some(), "{s}");
        }
    }
    let core0 = |s: &Value| s["cores"][0]["idle"].as_f64().map(|idle| 100.0 - idle);
    let idle_busy = before.iter().filter_map(core0).fold(f64::NAN, f64::min);

    let hog = spawn_spinner_on_core(0);
    // The series is read only once the spinner spins: a loaded machine can
    // take a while to start the test binary again.
    let spinning = crate::common::poll(
        std::time::Duration::from_secs(30),
        std::time::Duration::ZERO,
        || {
            let a = cpu_ticks_of(hog.pid())?;
            std::thread::sleep(std::time::Duration::from_millis(300));
            // 300 ms at 100 Hz: 30 ticks when spinning the whole time.
            (cpu_ticks_of(hog.pid())?.saturating_sub(a) >= 20).then_some(())
        },
    );
    assert!(
        spinning.is_some(),
        "the spinner {} did not start spinning within 30 s",
        hog.pid()
    );
    let during = machine_series(&sb, 3);
    drop(hog);
    let busy: Vec<f64> = during.iter().filter_map(core0).collect();
    let user0: Vec<f64> = during
        .iter()
        .filter_map(|s| s["cores"][0]["user"].as_f64())
        .collect();
    assert_eq!(busy.len(), 3, "{during:?}");
    // The spinner keeps core 0 busy in user mode for the whole interval.
    assert!(
        busy.iter().all(|b| *b >= 90.0),
        "core 0 busy with a spinner pinned to it: {busy:?} (before: {idle_busy})"
    );
    // Most of it in user mode (a test beside this one can take some of the
    // core in the kernel, or the hypervisor some as steal).
    assert!(
        user0.iter().zip(&busy).all(|(u, b)| *u >= 0.7 * b),
        "user time: {user0:?} of busy {busy:?}"
    );
    let total: Vec<f64> = during
        .iter()
        .filter_map(|s| s["cpu"]["idle"].as_f64().map(|i| 100.0 - i))
        .collect();
    assert!(
        total.iter().all(|t| *t >= 90.0 / cores as f64),
        "all cores together at least one core's worth: {total:?}"
    );
    // Rising: unless the machine was already that busy before (other work
    // on a shared machine), core 0 is busier with the spinner.
    if idle_busy < 80.0 {
        assert!(
            busy.iter().all(|b| *b > idle_busy),
            "{idle_busy} → {busy:?}"
        );
    }
}

#[test]
fn errors_name_what_was_typed_and_exit_codes_keep_their_meaning() {
    let sb = Sandbox::new();
    let code_and_err = |args: &[&str], env: Option<(&str, &str)>| {
        let mut c = sb.cmd();
        c.args(args);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let o = run(c);
        (o.status.code(), text(&o).1)
    };
    let (code, err) = code_and_err(&["sample", "--top", "0"], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--top 0") && !err.contains("selection.top_n"),
        "{err}"
    );
    let (code, err) = code_and_err(&["sample", "--interval", "-1"], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--interval -1"), "{err}");
    let (code, err) = code_and_err(&["history", "--snapshots", "--hours", "-1"], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--hours -1") && err.contains("above 0"),
        "{err}"
    );
    // --hours is the snapshot listing's window; the recording's is --from.
    let (code, err) = code_and_err(&["history", "--hours", "6"], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--snapshots"), "{err}");
    let (code, err) = code_and_err(&["events", "--since", "soon"], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--since") && err.contains("`soon`"), "{err}");
    let var = "ROGUE_HUNTER_SYSTEM__SAMPLE_INTERVAL";
    let (code, err) = code_and_err(&["sample"], Some((var, "abc")));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("{var}=abc")), "{err}");
    assert_eq!(err.matches("ROGUE_HUNTER_").count(), 1, "named once: {err}");
    // stdin is /dev/null here: no terminal.
    let (code, err) = code_and_err(&["tui"], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("needs a terminal") && err.contains("rogue-hunter sample"),
        "{err}"
    );
    let (code, _) = code_and_err(&["status"], None);
    assert_eq!(code, Some(3), "status without a daemon");
    let (code, err) = code_and_err(&["events", "--limit", "0"], None);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = code_and_err(&["events", "--fields", "id,nope"], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("`nope`") && err.contains("status"), "{err}");
}

/// Two network namespaces joined by a veth pair, removed (with the pair,
/// wherever its ends went) on drop.
struct VethPair {
    ns: [String; 2],
    ends: [String; 2],
}

impl VethPair {
    /// `None` where network namespaces cannot be made (not root, no `ip`).
    fn create() -> Option<VethPair> {
        let tag = std::process::id() % 100_000;
        let pair = VethPair {
            ns: [format!("rh-a-{tag}"), format!("rh-b-{tag}")],
            ends: [format!("rha{tag}"), format!("rhb{tag}")],
        };
        let ip = |args: &[&str]| {
            std::process::Command::new("ip")
                .args(args)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let [na, nb] = &pair.ns;
        let [a, b] = &pair.ends;
        let ok = ip(&["netns", "add", na])
            && ip(&["netns", "add", nb])
            && ip(&[
                "-n", na, "link", "add", a, "type", "veth", "peer", "name", b, "netns", nb,
            ])
            && ip(&["-n", na, "addr", "add", "10.231.7.1/24", "dev", a])
            && ip(&["-n", nb, "addr", "add", "10.231.7.2/24", "dev", b])
            && ip(&["-n", na, "link", "set", a, "up"])
            && ip(&["-n", nb, "link", "set", b, "up"]);
        ok.then_some(pair)
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        for end in &self.ends {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", end])
                .stderr(std::process::Stdio::null())
                .status();
        }
        for ns in &self.ns {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .status();
        }
    }
}

/// A running `sample`, killed and reaped on drop unless its output was taken.
struct Sampler(Option<std::process::Child>);

impl Sampler {
    fn output(mut self) -> Output {
        let child = self.0.take().expect("the sampler runs");
        child.wait_with_output().expect("sample output")
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Run `f` on a thread inside the network namespace `ns` (a thread's network
/// namespace is its own).
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(&path).expect("netns file");
        // SAFETY: a valid descriptor of a network namespace; affects this
        // thread only.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("thread in the namespace")
}

#[test]
fn an_interface_moved_in_with_traffic_behind_it_is_no_spike_in_the_machine_series() {
    use std::time::Duration;
    let _m = crate::common::machine();
    if rogue_hunter::sys::current_uid() != 0 {
        eprintln!("skipped: needs root for network namespaces");
        return;
    }
    let Some(pair) = VethPair::create() else {
        eprintln!("skipped: cannot make network namespaces here (ip netns)");
        return;
    };
    // 256 MiB across the pair, both ends outside this namespace.
    const BYTES: usize = 256 << 20;
    let listener = in_netns(&pair.ns[1], || {
        std::net::TcpListener::bind("10.231.7.2:0").expect("listen in b")
    });
    let port = listener.local_addr().expect("port").port();
    // Accepts with a deadline, so a failed connect leaves no thread behind.
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let reader = std::thread::spawn(move || {
        let mut s = crate::common::poll(Duration::from_secs(30), Duration::from_millis(10), || {
            listener.accept().ok().map(|(s, _)| s)
        })
        .expect("a connection from a within 30 s");
        s.set_nonblocking(false).expect("blocking stream");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        std::io::copy(&mut s, &mut std::io::sink()).expect("read")
    });
    in_netns(&pair.ns[0], move || {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(("10.231.7.2", port)).expect("connect from a");
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..BYTES >> 20 {
            s.write_all(&chunk).expect("send");
        }
    });
    assert_eq!(reader.join().expect("reader"), BYTES as u64);
    // Sample while end a moves into this namespace with its counters: once
    // two samples are out, so the interface was not there at the first.
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args(["sample", "--json", "--interval", "0.5", "--top", "1"])
        .args(["--count", "8"])
        .stdout(std::process::Stdio::piped());
    let mut sampler = Sampler(Some(c.spawn().expect("sample")));
    let stdout = sampler
        .0
        .as_mut()
        .and_then(|c| c.stdout.take())
        .expect("stdout");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = Vec::new();
    while out.len() < 2 {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => out.push(line),
            Err(e) => panic!("two samples within 30 s: {e}; got {out:?}"),
        }
    }
    let me = std::process::id().to_string();
    let (ns, end) = (&pair.ns[0], &pair.ends[0]);
    let moved = std::process::Command::new("ip")
        .args(["-n", ns, "link", "set", end, "netns", &me])
        .status()
        .expect("ip link set netns");
    assert!(moved.success(), "moving the interface in");
    let listed = std::fs::read_to_string("/proc/net/dev").expect("/proc/net/dev");
    assert!(listed.contains(end.as_str()), "{listed}");
    // The rest of the samples (the reader ends when the sampler does).
    out.extend(lines.iter());
    let o = sampler.output();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tx: Vec<Option<f64>> = out
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["system"]["net"]["tx_bytes_per_s"].as_f64())
        .collect();
    assert_eq!(tx.len(), 8, "{out:?}");
    // Its 256 MiB of lifetime traffic would read as 512 MiB/s for one
    // interval; whatever else the machine sends meanwhile stays far below
    // half that.
    let measured: Vec<f64> = tx.iter().flatten().copied().collect();
    assert!(measured.len() >= 6, "net rates measured: {tx:?}");
    assert!(
        measured.iter().all(|&r| r < 256.0 * 1048576.0),
        "a spike of the moved interface's lifetime counters: {tx:?}"
    );
    drop(pair);
}
