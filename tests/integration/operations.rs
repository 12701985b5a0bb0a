//! Operating rogue-hunter day to day, as a user would: installing it as a
//! service (into an isolated $XDG_CONFIG_HOME, checked by systemd-analyze when
//! present), the permission report and rules, shell completions and the man
//! page, and a daemon with its metrics endpoint scraped (and parsed with a
//! real exposition parser) while a spinning process runs, telling a fake
//! systemd that it is ready and alive.

use crate::common::{Sandbox, poll, spawn_hog};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn run(mut c: Command) -> Output {
    c.output().expect("run rogue-hunter")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn is_root() -> bool {
    rogue_hunter::sys::euid() == 0
}

/// Run `c` as user nobody (when we are root; else as ourselves, already
/// unprivileged).
fn as_nobody(c: Command) -> Command {
    if !is_root() {
        return c;
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(c.get_program())
        .args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.stdin(Stdio::null());
    cmd
}

fn unit_path(sb: &Sandbox) -> PathBuf {
    sb.path().join("config/systemd/user/rogue-hunter.service")
}

/// `systemd-analyze --user verify` the unit, when systemd-analyze is here.
fn verify_unit(sb: &Sandbox, unit: &Path) {
    let Some(analyze) = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
    else {
        eprintln!("systemd-analyze not installed: unit not verified");
        return;
    };
    let o = Command::new(analyze)
        .args(["--user", "--man=no", "verify"])
        .arg(unit)
        .env("XDG_RUNTIME_DIR", sb.path().join("run"))
        .env("HOME", sb.path())
        .env("XDG_CONFIG_HOME", sb.path().join("config"))
        .output()
        .expect("systemd-analyze");
    let (out, err) = text(&o);
    assert!(
        o.status.success(),
        "systemd-analyze verify failed: {out}{err}"
    );
    assert!(err.trim().is_empty(), "systemd-analyze warned: {err}");
}

#[test]
fn user_service_installs_idempotently_keeps_local_changes_and_uninstalls() {
    let sb = Sandbox::new();
    std::fs::set_permissions(
        sb.path().join("run"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .ok();
    let cmd = |args: &[&str], systemctl: &str| {
        let mut c = sb.cmd();
        c.args(args).env("ROGUE_HUNTER_SYSTEMCTL", systemctl);
        c
    };
    // No systemd reachable: the file is still written, with how to start it.
    let o = run(cmd(&["service", "install"], "/nonexistent/systemctl"));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let unit = unit_path(&sb);
    assert!(out.contains(&format!("wrote {}", unit.display())), "{out}");
    assert!(
        out.contains(
            "systemctl --user daemon-reload && systemctl --user enable --now rogue-hunter.service"
        ),
        "{out}"
    );
    let content = std::fs::read_to_string(&unit).expect("unit written");
    let bin = crate::common::bin().canonicalize().expect("bin");
    assert!(
        content.contains(&format!("ExecStart=\"{}\" daemon", bin.display())),
        "{content}"
    );
    assert!(content.contains("Type=notify") && content.contains("WatchdogSec=30"));
    let data = sb.path().join("data/rogue-hunter");
    assert!(
        content.contains(&format!("-\"{}\"", data.display())),
        "{content}"
    );
    assert!(data.is_dir() && sb.path().join("state/rogue-hunter").is_dir());
    verify_unit(&sb, &unit);

    // Twice is fine.
    let o = run(cmd(&["service", "install"], "/nonexistent/systemctl"));
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0));
    assert!(out.contains("is installed and up to date"), "{out}");

    // A local change is reported, not clobbered.
    let edited = content.replace("RestartSec=5", "RestartSec=7");
    std::fs::write(&unit, &edited).expect("edit");
    let o = run(cmd(&["service", "install"], "/nonexistent/systemctl"));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains(&unit.display().to_string()) && err.contains("--force"),
        "{err}"
    );
    assert!(
        err.contains("- RestartSec=7") && err.contains("+ RestartSec=5"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&unit).expect("unit"), edited);
    let o = run(cmd(&["service", "status"], "/nonexistent/systemctl"));
    let (out, _) = text(&o);
    assert!(
        out.contains("differs from what this binary writes"),
        "{out}"
    );
    assert!(out.contains("systemd not available"), "{out}");

    // --force replaces it and (with a systemctl that says yes) restarts it.
    let o = run(cmd(&["service", "install", "--force"], "/bin/true"));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("replaced"), "{out}");
    assert!(
        out.contains("systemctl --user enable rogue-hunter.service; systemctl --user restart rogue-hunter.service"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&unit).expect("unit"), content);
    let o = run(cmd(&["service", "status"], "/nonexistent/systemctl"));
    assert!(
        text(&o).0.contains("matches this version"),
        "{:?}",
        text(&o)
    );

    // --purge asks; without a terminal it refuses and changes nothing.
    let o = run(cmd(&["service", "uninstall", "--purge"], "/bin/true"));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("--yes"), "{err}");
    assert!(unit.exists() && data.exists());
    let o = run(cmd(
        &["service", "uninstall", "--purge", "--yes"],
        "/bin/true",
    ));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("systemctl --user disable --now rogue-hunter.service"),
        "{out}"
    );
    assert!(
        out.contains(&format!("removed {}", unit.display())),
        "{out}"
    );
    assert!(!unit.exists() && !data.exists());
    let o = run(cmd(&["service", "uninstall"], "/bin/true"));
    assert!(text(&o).0.contains("not installed"));
}

#[test]
fn machine_wide_rules_need_root_and_land_where_told() {
    let sb = Sandbox::new();
    let units = sb.path().join("units");
    let cmd = |args: &[&str]| {
        let mut c = sb.cmd();
        c.args(args)
            .env("ROGUE_HUNTER_SYSTEMD_DIR", &units)
            .env("ROGUE_HUNTER_SYSTEMCTL", "/nonexistent/systemctl");
        c
    };
    for args in [
        &["service", "install", "--system"][..],
        &["perms", "install", "--system"],
        &["perms", "uninstall", "--system"],
    ] {
        let o = run(as_nobody(cmd(args)));
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {out}{err}");
        assert!(err.contains("needs root") && err.contains("sudo"), "{err}");
    }
    assert!(!units.exists(), "nothing written unprivileged");
    // Linux offers the capability route instead of sudo.
    let o = run(cmd(&["perms", "install"]));
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("never uses sudo") && err.contains("CAP_SYS_PTRACE"),
        "{err}"
    );
    if !is_root() {
        return;
    }
    let o = run(cmd(&["service", "install", "--system"]));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let unit = std::fs::read_to_string(units.join("rogue-hunter.service")).expect("system unit");
    assert!(
        unit.contains("StateDirectory=rogue-hunter") && unit.contains("WantedBy=multi-user.target")
    );
    let o = run(cmd(&["perms", "install", "--system"]));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let drop_in = units.join("rogue-hunter.service.d/forensics-capabilities.conf");
    let text_in = std::fs::read_to_string(&drop_in).expect("drop-in");
    assert!(text_in.contains("AmbientCapabilities=CAP_SYS_PTRACE CAP_DAC_READ_SEARCH"));
    assert!(
        out.contains("systemctl daemon-reload && systemctl try-restart"),
        "{out}"
    );
    let o = run(cmd(&["perms", "uninstall", "--system"]));
    assert_eq!(o.status.code(), Some(0));
    assert!(!drop_in.exists());
    let o = run(cmd(&["service", "uninstall", "--system"]));
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(!units.join("rogue-hunter.service").exists());
}

#[test]
fn perms_status_says_which_sources_work_and_why() {
    let sb = Sandbox::new();
    let mut c = sb.cmd();
    c.args(["perms", "status"]);
    let o = run(as_nobody(c));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for source in [
        "kernel_stacks",
        "io, fd_count, smaps_rollup",
        "kernel_log",
        "journal",
        "user_stacks",
    ] {
        assert!(out.contains(source), "{source}: {out}");
    }
    let stacks = out
        .lines()
        .find(|l| l.contains("kernel_stacks"))
        .expect("row");
    assert!(
        stacks.contains(" no ") && stacks.contains("CAP_SYS_ADMIN"),
        "{stacks}"
    );
    let io = out
        .lines()
        .find(|l| l.contains("io, fd_count"))
        .expect("row");
    assert!(
        io.contains("partly") && io.contains("your own processes only"),
        "{io}"
    );
    let mut c = sb.cmd();
    c.args(["perms", "status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&run(c).stdout).expect("json");
    assert!(v["sources"].as_array().is_some_and(|a| a.len() >= 5), "{v}");
}

#[test]
fn completions_and_man_pages_cover_the_commands() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let mut c = sb.cmd();
        c.args(["completions", shell]);
        let o = run(c);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{shell}: {err}");
        for sub in [
            "sample",
            "daemon",
            "events",
            "service",
            "perms",
            "completions",
            "man",
        ] {
            assert!(out.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let mut c = sb.cmd();
    c.args(["completions", "tcsh"]);
    assert_eq!(run(c).status.code(), Some(2));
    let mut c = sb.cmd();
    c.arg("man");
    let (out, _) = text(&run(c));
    assert!(out.contains(".TH rogue-hunter 1"), "{out}");
    let dir = sb.path().join("man");
    let mut c = sb.cmd();
    c.args(["man", "--dir"]).arg(&dir);
    assert!(run(c).status.success());
    for page in [
        "rogue-hunter.1",
        "rogue-hunter-service.1",
        "rogue-hunter-perms.1",
    ] {
        assert!(dir.join(page).exists(), "{page}");
    }
}

fn promtool() -> Option<&'static Path> {
    let p = Path::new("/usr/bin/promtool");
    p.exists().then_some(p)
}

#[test]
fn shipped_alert_rules_load_and_fire_when_promtool_is_installed() {
    let Some(promtool) = promtool() else {
        eprintln!("promtool not installed: alert rules not checked");
        return;
    };
    let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib");
    for args in [
        ["check", "rules", "prometheus-alerts.yml"],
        ["test", "rules", "prometheus-alerts.test.yml"],
    ] {
        let o = Command::new(promtool)
            .args(args)
            .current_dir(&contrib)
            .output()
            .expect("promtool");
        assert!(o.status.success(), "promtool {args:?}: {:?}", text(&o));
    }
    let dashboard =
        std::fs::read_to_string(contrib.join("grafana-dashboard.json")).expect("dashboard");
    let v: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard is JSON");
    assert!(v["panels"].as_array().is_some_and(|p| !p.is_empty()));
}

/// GET /metrics with a plain TcpStream.
fn scrape(addr: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

#[test]
fn metrics_endpoint_shows_a_spinning_hog_and_systemd_hears_ready_and_watchdog() {
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config("[metrics]\nenabled = true\nlisten = \"127.0.0.1:0\"\ntop_n = 5\n");
    let notify_path = sb.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let hog = spawn_hog("cpu");
    let mut c = sb.cmd();
    c.arg("daemon")
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut daemon = crate::common::KillOnDrop(c.spawn().expect("daemon"));
    let stderr = daemon.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut said = Vec::new();
    let addr = poll(Duration::from_secs(10), Duration::from_millis(10), || {
        let line = rx.recv_timeout(Duration::from_millis(100)).ok()?;
        said.push(line.clone());
        let at = line.find("http://")? + "http://".len();
        line[at..].split("/metrics").next().map(str::to_string)
    })
    .unwrap_or_else(|| panic!("daemon never said where metrics are: {said:?}"));

    // systemd's side: READY=1 after the first sample, then watchdog pings.
    let mut heard = String::new();
    let got_both = poll(Duration::from_secs(10), Duration::from_millis(1), || {
        let mut buf = [0u8; 512];
        if let Ok(n) = notify.recv(&mut buf) {
            heard.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        (heard.contains("READY=1") && heard.contains("WATCHDOG=1")).then_some(())
    });
    assert!(got_both.is_some(), "notify socket heard: {heard:?}");

    let pid = hog.pid().to_string();
    let mut last = String::new();
    let found = poll(Duration::from_secs(20), Duration::from_millis(300), || {
        last = scrape(&addr)?;
        let parsed =
            prometheus_parse::Scrape::parse(last.lines().map(|l| Ok(l.to_string()))).ok()?;
        parsed.samples.into_iter().find(|s| {
            s.metric == "rogue_hunter_rogue_score" && s.labels.get("pid") == Some(pid.as_str())
        })
    });
    let sample = found.unwrap_or_else(|| panic!("hog pid {pid} never exported:\n{last}"));
    assert_eq!(sample.labels.get("dominant"), Some("cpu"), "{sample:?}");
    let command = sample.labels.get("command").expect("command label");
    assert!(command.chars().count() <= 64, "{command}");
    let exe = std::env::current_exe().expect("exe");
    let exe_name = exe
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    // The label is cut to 64 characters, so a long checkout path leaves
    // only the start of the test binary's name (`integration-…`).
    assert!(
        command.contains(&exe_name[..exe_name.len().min(12)]),
        "{command}"
    );
    match sample.value {
        prometheus_parse::Value::Gauge(v) => assert!(v > 30.0, "a spinning hog scores: {v}"),
        other => panic!("score is not a gauge: {other:?}"),
    }
    let parsed =
        prometheus_parse::Scrape::parse(last.lines().map(|l| Ok(l.to_string()))).expect("parse");
    let names: std::collections::BTreeSet<&str> =
        parsed.samples.iter().map(|s| s.metric.as_str()).collect();
    for m in [
        "rogue_hunter_rogue_cpu_percent",
        "rogue_hunter_rogue_share",
        "rogue_hunter_samples_total",
        "rogue_hunter_sample_lateness_seconds",
        "rogue_hunter_writer_queue_depth",
        "rogue_hunter_database_bytes",
        "rogue_hunter_events_opened_total",
        "rogue_hunter_forensic_captures_total",
    ] {
        assert!(names.contains(m), "{m} missing from {names:?}");
    }
    if let Some(promtool) = promtool() {
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(last.as_bytes())
            .expect("feed promtool");
        let o = child.wait_with_output().expect("promtool");
        assert!(o.status.success(), "promtool check metrics: {:?}", text(&o));
    }
    let scores = parsed
        .samples
        .iter()
        .filter(|s| s.metric == "rogue_hunter_rogue_score")
        .count();
    assert!(scores <= 5, "top_n bounds the series: {scores}");

    // A clean stop says so to systemd.
    // SAFETY: kill with a valid pid and signal number.
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let stopping = poll(Duration::from_secs(10), Duration::from_millis(1), || {
        let mut buf = [0u8; 512];
        let n = notify.recv(&mut buf).ok()?;
        String::from_utf8_lossy(&buf[..n])
            .contains("STOPPING=1")
            .then_some(())
    });
    assert!(stopping.is_some(), "no STOPPING=1");
    let status = daemon.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    drop(hog);
}
