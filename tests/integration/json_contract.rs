//! The script contract: every command's `--json` output, taken from a real
//! daemon that recorded a real event and a real stall, validates against its
//! schema in docs/schema/ (draft 2020-12, `boon`); each document is one line;
//! `status` exits 3 without a daemon; the README's jq examples run.

use crate::common::{Daemon, Sandbox, poll, spawn_hog};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

const FAST: &str = "[bands]\nexit_stability_samples = 3\nevent_cooldown_seconds = 0.0\n";

/// The schemas under docs/schema/, compiled once, addressed by file name.
struct Contract {
    schemas: boon::Schemas,
    compiler: boon::Compiler,
}

const BASE: &str = "https://rogue-hunter.invalid/schema/";

impl Contract {
    fn load() -> Contract {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema");
        let mut compiler = boon::Compiler::new();
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("docs/schema") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("read schema");
            let v: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(v["$id"], format!("{BASE}{name}"), "{name}: $id");
            compiler.add_resource(&format!("{BASE}{name}"), v).unwrap();
            names.push(name);
        }
        let mut c = Contract {
            schemas: boon::Schemas::new(),
            compiler,
        };
        // Every schema compiles, referenced or not.
        for name in names {
            c.index(&name);
        }
        c
    }

    fn index(&mut self, schema: &str) -> boon::SchemaIndex {
        self.compiler
            .compile(&format!("{BASE}{schema}"), &mut self.schemas)
            .unwrap_or_else(|e| panic!("{schema}: {e:#}"))
    }

    fn check(&mut self, schema: &str, v: &Value) -> Result<(), String> {
        let i = self.index(schema);
        self.schemas.validate(v, i).map_err(|e| format!("{e:#}"))
    }

    /// `o` succeeded (or exited `code`) with exactly one JSON document on one
    /// line, valid against `schema`; the document.
    fn document(&mut self, what: &str, o: &Output, code: i32, schema: &str) -> Value {
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{what}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            out.ends_with('\n') && out.matches('\n').count() == 1,
            "{what}: one document on one line, got {} lines",
            out.lines().count()
        );
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{what}: {e}"));
        self.check(schema, &v)
            .unwrap_or_else(|e| panic!("{what} against docs/schema/{schema}: {e}"));
        v
    }
}

/// The first line of the daemon's live stream at `socket` and the first
/// `sample` line after it, each parsed. Fails the test after 10 s.
fn stream_lines(socket: &Path) -> (Value, Value) {
    use std::io::BufRead;
    let s = std::os::unix::net::UnixStream::connect(socket)
        .unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut r = std::io::BufReader::new(s);
    let mut next = || {
        let mut line = String::new();
        r.read_line(&mut line)
            .unwrap_or_else(|e| panic!("read from {}: {e}", socket.display()));
        assert!(line.ends_with('\n'), "a whole line, got {line:?}");
        serde_json::from_str::<Value>(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let first = next();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v = next();
        if v["type"] == "sample" {
            return (first, v);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sample line within 10 s"
        );
    }
}

fn run(sb: &Sandbox, args: &[&str]) -> Output {
    sb.cmd().args(args).output().expect("run rogue-hunter")
}

fn list(sb: &Sandbox, args: &[&str], key: &str) -> Vec<Value> {
    let o = run(sb, args);
    crate::common::json_list(&o.stdout, key)
}

#[test]
fn the_schemas_refuse_what_breaks_the_contract() {
    let mut c = Contract::load();
    let ok = serde_json::json!({"schema_version": 2, "host": "h", "events": []});
    c.check("events.json", &ok).unwrap();
    for bad in [
        serde_json::json!({"host": "h", "events": []}),
        serde_json::json!({"schema_version": 2, "events": []}),
        serde_json::json!({"schema_version": 2, "host": "h"}),
        serde_json::json!({"schema_version": 2, "host": "h", "events": [{"id": 1}]}),
        serde_json::json!([]),
    ] {
        assert!(c.check("events.json", &bad).is_err(), "{bad} passed");
    }
    // perms status: sources are an array of names, not one joined string.
    let perms = |sources: Value| {
        serde_json::json!({"schema_version": 2, "host": "h", "user": "u", "euid": 0,
            "cap_eff": null, "groups": [],
            "sources": [{"sources": sources, "works": "yes", "why": "w"}]})
    };
    c.check(
        "perms-status.json",
        &perms(serde_json::json!(["io", "fd_count"])),
    )
    .unwrap();
    assert!(
        c.check(
            "perms-status.json",
            &perms(serde_json::json!("io, fd_count"))
        )
        .is_err()
    );
}

#[test]
fn every_command_s_json_holds_to_its_schema() {
    let _m = crate::common::machine();
    let mut c = Contract::load();
    let sb = Sandbox::new();
    sb.write_config(FAST);

    // Without a daemon: status says so with exit 3, still one valid document.
    let v = c.document(
        "status (down)",
        &run(&sb, &["status", "--json"]),
        3,
        "status.json",
    );
    assert_eq!(v["running"], false);

    let daemon = Daemon::start_quiet(&sb);
    let hog = spawn_hog("cpu");
    let event = poll(Duration::from_secs(30), Duration::from_millis(300), || {
        list(&sb, &["events", "--json"], "events")
            .into_iter()
            .find(|e| crate::common::event_is_about(e, hog.pid()))
    })
    .expect("an event about the spinner (its own or its tree's) within 30 s");
    // A 3 s SIGSTOP of the daemon is a scheduling stall.
    daemon.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(3));
    daemon.signal(libc::SIGCONT);
    let stall = poll(Duration::from_secs(15), Duration::from_millis(300), || {
        list(&sb, &["stalls", "--json"], "stalls")
            .into_iter()
            .next()
    })
    .expect("a stall recorded within 15 s of a 3 s SIGSTOP");
    // A recorded second a little in the past (the open block is written
    // every 5 s).
    let at = poll(Duration::from_secs(15), Duration::from_millis(500), || {
        let o = run(&sb, &["history", "--at", "-2s", "--json"]);
        o.status.success().then_some(o)
    })
    .expect("a recorded second within 15 s");
    c.document("history --at", &at, 0, "history-at.json");

    let o = run(
        &sb,
        &[
            "sample",
            "--json",
            "--count",
            "2",
            "--interval",
            "0.3",
            "--top",
            "5",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.lines().count(), 2, "NDJSON: one line per sample");
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        c.check("sample.json", &v)
            .unwrap_or_else(|e| panic!("sample line: {e}"));
    }
    let o = run(&sb, &["sample", "--json", "--by", "tree", "--top", "3"]);
    c.document("sample --by tree", &o, 0, "sample.json");

    let v = c.document("status", &run(&sb, &["status", "--json"]), 0, "status.json");
    assert_eq!(v["running"], true);
    let status = v.clone();

    // The live stream's handshake carries the same envelope; the lines after
    // it belong to it and do not repeat it.
    let (first, later) = stream_lines(&sb.path().join("run/rogue-hunter/daemon.sock"));
    c.check("stream-initial-state.json", &first)
        .unwrap_or_else(|e| panic!("initial_state against its schema: {e}"));
    assert_eq!(first["type"], "initial_state");
    assert_eq!(first["schema_version"], status["schema_version"]);
    assert_eq!(first["host"], status["host"]);
    assert_eq!(later["type"], "sample", "{later}");
    assert!(later.get("schema_version").is_none() && later.get("host").is_none());
    assert!(
        v["sample_count"].is_u64(),
        "a count is an integer: {}",
        v["sample_count"]
    );

    let v = c.document("events", &run(&sb, &["events", "--json"]), 0, "events.json");
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "open" || e["status"] == e["close_reason"]),
        "{v}"
    );
    let o = run(
        &sb,
        &[
            "events",
            "--json",
            "--fields",
            "status,id,pid",
            "--since",
            "10m",
        ],
    );
    let v = c.document("events --fields", &o, 0, "events-fields.json");
    let first = &v["events"][0];
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "pid", "status"], "{first}");
    // The same fields in a table, in the order asked.
    let o = run(&sb, &["events", "--fields", "status,id"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.starts_with("STATUS  ID") || text.starts_with("STATUS"),
        "{text}"
    );

    let id = event["id"].as_i64().unwrap().to_string();
    let o = run(&sb, &["events", "show", &id, "--json", "--forensics"]);
    let v = c.document("events show", &o, 0, "events-show.json");
    assert!(v["status"].is_string() && v["snapshots"].is_array(), "{v}");

    c.document("stalls", &run(&sb, &["stalls", "--json"]), 0, "stalls.json");
    let sid = stall["id"].as_i64().unwrap().to_string();
    c.document(
        "stalls show",
        &run(&sb, &["stalls", "show", &sid, "--json"]),
        0,
        "stalls-show.json",
    );

    let o = run(&sb, &["history", "--json", "--since", "2m"]);
    let v = c.document("history", &o, 0, "history.json");
    assert!(
        !v["samples"].as_array().unwrap().is_empty(),
        "seconds recorded"
    );
    let o = run(
        &sb,
        &[
            "history",
            "--json",
            "--from",
            "-2m",
            "--until",
            "now",
            "--fields",
            "pid,score,cpu",
        ],
    );
    let v = c.document("history --fields", &o, 0, "history-fields.json");
    let p = &v["samples"][0]["rogues"][0];
    let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["cpu", "pid", "score"], "{p}");
    let o = run(&sb, &["history", "--snapshots", "--json"]);
    c.document("history --snapshots", &o, 0, "history-snapshots.json");

    let o = run(&sb, &["perms", "status", "--json"]);
    let v = c.document("perms status", &o, 0, "perms-status.json");
    assert!(v["sources"][0]["sources"].is_array(), "{v}");
    drop(hog);
    drop(daemon);
}

/// The shell examples under "Scripting with jq" in the README: each line
/// that starts with `rogue-hunter` in a ```sh block.
fn readme_jq_examples() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme
        .split("\n## Scripting with jq")
        .nth(1)
        .expect("README has a \"Scripting with jq\" section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut examples = Vec::new();
    let mut in_block = false;
    for line in section.lines() {
        if line.starts_with("```") {
            in_block = !in_block && line.trim() == "```sh";
            continue;
        }
        if in_block && line.starts_with("rogue-hunter ") {
            examples.push(line.to_string());
        }
    }
    examples
}

fn bin_dir() -> PathBuf {
    crate::common::bin()
        .parent()
        .expect("the binary's directory")
        .to_path_buf()
}

#[test]
fn the_readme_jq_examples_run() {
    if std::process::Command::new("jq")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED the_readme_jq_examples_run: jq is not installed (.ci/run installs it)");
        return;
    }
    let _m = crate::common::machine();
    let sb = Sandbox::new();
    sb.write_config(FAST);
    let examples = readme_jq_examples();
    assert!(examples.len() >= 4, "{examples:?}");
    // The examples that read the recording need a daemon with something in it.
    let daemon = Daemon::start_quiet(&sb);
    let hog = spawn_hog("cpu");
    poll(Duration::from_secs(30), Duration::from_millis(300), || {
        list(&sb, &["events", "--json"], "events")
            .into_iter()
            .next()
    })
    .expect("an event within 30 s");
    std::thread::sleep(Duration::from_secs(6));
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for example in &examples {
        // Our own README text, run the way a reader pastes it.
        let c = sb.cmd();
        let o = std::process::Command::new("bash")
            .args(["-o", "pipefail", "-c", example])
            .envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .env("PATH", &path)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("bash");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && !out.trim().is_empty() && !out.contains("null\n"),
            "README example failed: {example}\nstdout: {out}\nstderr: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    drop(hog);
    drop(daemon);
}
