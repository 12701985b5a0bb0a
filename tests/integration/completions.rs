//! Shell completion scripts complete subcommand flags in a real shell: bash's
//! completion function is sourced and called with simulated `COMP_WORDS`
//! (zsh and fish likewise where they are installed).

use crate::common::Sandbox;
use std::process::Command;

fn script(sb: &Sandbox, shell: &str) -> std::path::PathBuf {
    let o = sb
        .cmd()
        .args(["completions", shell])
        .output()
        .expect("completions");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let path = sb.path().join(format!("completion.{shell}"));
    std::fs::write(&path, &o.stdout).expect("write script");
    path
}

/// What bash's completion function offers for `words` (the last one is the
/// word being completed).
fn bash_complete(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prog = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; _rogue__hunter rogue-hunter '{}' '{}'; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let o = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &prog])
        .output()
        .expect("bash");
    assert!(
        o.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_subcommand_flags() {
    let sb = Sandbox::new();
    let s = script(&sb, "bash");
    let top = bash_complete(&s, &["rogue-hunter", ""]);
    assert!(top.iter().any(|w| w == "history"), "{top:?}");
    let history = bash_complete(&s, &["rogue-hunter", "history", "--"]);
    assert!(
        history.iter().any(|w| w == "--format"),
        "history --<Tab>: {history:?}"
    );
    let stalls = bash_complete(&s, &["rogue-hunter", "stalls", "--"]);
    assert!(
        stalls.iter().any(|w| w == "--since"),
        "stalls --<Tab>: {stalls:?}"
    );
    let show = bash_complete(&s, &["rogue-hunter", "events", "show", "--"]);
    assert!(
        show.iter().any(|w| w == "--forensics"),
        "events show --<Tab>: {show:?}"
    );
}

#[test]
fn zsh_and_fish_scripts_load_where_installed() {
    let sb = Sandbox::new();
    for (shell, args) in [
        ("zsh", vec!["-f", "-c"]),
        ("fish", vec!["--no-config", "-c"]),
    ] {
        if Command::new(shell).arg("--version").output().is_err() {
            eprintln!("SKIP: {shell} is not installed");
            continue;
        }
        let s = script(&sb, shell);
        let prog = match shell {
            "zsh" => format!(
                "autoload -U compinit; compinit -u; source '{}'",
                s.display()
            ),
            _ => format!(
                "source '{}'; complete -C 'rogue-hunter history --' | string match -q -- '--format*'",
                s.display()
            ),
        };
        let mut full = args.clone();
        full.push(&prog);
        let o = Command::new(shell).args(&full).output().expect("shell");
        assert!(
            o.status.success(),
            "{shell}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
