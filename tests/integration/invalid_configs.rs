//! Every file in tests/invalid_configs/ is a configuration `config validate`
//! must reject: exit 2, with stderr naming the key given by the file's first
//! line, `# expect: <dotted key>`. One file per rule or kind of error; add a
//! file to add a case.

use crate::common::Sandbox;
use std::path::{Path, PathBuf};
use std::process::Output;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/invalid_configs");

fn validate(sb: &Sandbox, file: &Path) -> Output {
    let mut c = sb.cmd();
    c.arg("--config").arg(file).args(["config", "validate"]);
    c.output().expect("run rogue-hunter")
}

fn cases() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(DIR)
        .expect("tests/invalid_configs")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_invalid_config_exits_2_naming_its_key() {
    let files = cases();
    assert!(files.len() >= 10, "only {} cases in {DIR}", files.len());
    let sb = Sandbox::new();
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read case");
        let key = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect:"))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| panic!("{}: first line must be `# expect: <key>`", file.display()));
        let o = validate(&sb, file);
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.code() != Some(2) || !err.contains(key) || !err.contains("configuration error")
        {
            failures.push(format!(
                "{}: expected exit 2 naming `{key}`, got {:?}: {}",
                file.display(),
                o.status.code(),
                err.trim()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_harness_accepts_a_valid_file() {
    let sb = Sandbox::new();
    let file = sb.path().join("ok.toml");
    std::fs::write(
        &file,
        "# expect: nothing\n[system]\nsample_interval = 0.5\n",
    )
    .expect("write");
    let o = validate(&sb, &file);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
