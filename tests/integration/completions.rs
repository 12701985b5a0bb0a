//! Shell completion scripts complete subcommand flags in a real shell: bash's
//! completion function is sourced and called with simulated `COMP_WORDS`
//! (fish likewise where it is installed); an interactive zsh in a pty is
//! made to complete them with Tab.

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

/// Drives an interactive `zsh -f -i` in a pseudo-terminal through zsh's own
/// `zpty` module: loads compinit and the generated script, types LINE and a
/// Tab, and prints each candidate the completion system adds (`CAND:...`,
/// captured by wrapping `compadd`) between `BEGIN` and `END`. Exit 3 when the
/// zpty module is missing.
const ZSH_DRIVER: &str = r#"
zmodload zsh/zpty 2>/dev/null || { print -u2 "zsh has no zsh/zpty module"; exit 3 }
script=$1 line=$2 init=$3
cat > $init <<INIT
PROMPT='' RPROMPT=''
autoload -U compinit && compinit -u -D
source ${(q)script}
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
bindkey '^M' undefined
bindkey '^J' undefined
bindkey '^I' complete-word
compadd() {
  if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "\$@"; return \$?; fi
  typeset -a __hits
  builtin compadd -A __hits "\$@"
  local h; for h in \$__hits; do print -r -- "CAND:\$h"; done
}
rh-begin() { print -r -- BEGIN }
rh-end() { print -r -- END; exit }
compprefuncs=(rh-begin)
comppostfuncs=(rh-end)
print -r -- READY
INIT
zpty z zsh -f -i
zpty -w z "source ${(q)init}"
local out
while zpty -r z out; do [[ $out == READY* ]] && break; done
zpty -w -n z "$line"$'\t'
while zpty -r z out; do
  print -r -- ${out%$'\r'*}
  [[ $out == END* ]] && break
done
zpty -d z
"#;

/// A child killed and reaped on drop.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What an interactive zsh offers for `line` followed by Tab; `None` when
/// this zsh cannot be driven (no zpty module). Fails the test after 30 s.
fn zsh_complete(sb: &Sandbox, script: &std::path::Path, line: &str) -> Option<Vec<String>> {
    use std::io::Read;
    let driver = sb.path().join("drive.zsh");
    std::fs::write(&driver, ZSH_DRIVER).expect("write the driver");
    let child = Command::new("zsh")
        .arg("-f")
        .arg(&driver)
        .arg(script)
        .arg(line)
        .arg(sb.path().join("init.zsh"))
        .env("HOME", sb.path())
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn zsh");
    // Killed if the test fails on the way (the shell in its pty then gets
    // SIGHUP as the pty closes).
    let mut guard = Killed(child);
    let mut stdout = guard.0.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let status = crate::common::poll(
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(50),
        || guard.0.try_wait().ok().flatten(),
    )
    .unwrap_or_else(|| panic!("zsh did not complete `{line}` within 30 s"));
    let out = reader.join().expect("reader");
    let mut err = String::new();
    if let Some(mut e) = guard.0.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    if status.code() == Some(3) {
        eprintln!("SKIP: {}", err.trim());
        return None;
    }
    assert!(status.success(), "zsh: {status}\n{out}\n{err}");
    let (_, after) = out
        .split_once("BEGIN")
        .unwrap_or_else(|| panic!("zsh never started completing: {out}\n{err}"));
    assert!(after.contains("END"), "completion did not finish: {out}");
    Some(
        after
            .lines()
            .filter_map(|l| l.strip_prefix("CAND:"))
            .map(str::to_string)
            .collect(),
    )
}

#[test]
fn zsh_completes_subcommand_flags_in_an_interactive_shell() {
    if Command::new("zsh").arg("--version").output().is_err() {
        eprintln!("SKIP: zsh is not installed (.ci/run installs it)");
        return;
    }
    let sb = Sandbox::new();
    let s = script(&sb, "zsh");
    let Some(history) = zsh_complete(&sb, &s, "rogue-hunter history --") else {
        return;
    };
    for flag in ["--snapshots", "--format", "--at"] {
        assert!(
            history.iter().any(|w| w == flag),
            "history --<Tab> lacks {flag}: {history:?}"
        );
    }
    // The flags of another subcommand are not offered here.
    assert!(!history.iter().any(|w| w == "--open"), "{history:?}");
    let top = zsh_complete(&sb, &s, "rogue-hunter ").unwrap_or_default();
    assert!(top.iter().any(|w| w == "history"), "{top:?}");
}

#[test]
fn fish_completes_subcommand_flags_where_installed() {
    if Command::new("fish").arg("--version").output().is_err() {
        eprintln!("SKIP: fish is not installed");
        return;
    }
    let sb = Sandbox::new();
    let s = script(&sb, "fish");
    let prog = format!(
        "source '{}'; complete -C 'rogue-hunter history --' | string match -q -- '--format*'",
        s.display()
    );
    let o = Command::new("fish")
        .args(["--no-config", "-c", &prog])
        .output()
        .expect("fish");
    assert!(
        o.status.success(),
        "fish: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
