//! The crate's module graph has no cycles: between top-level modules, and
//! between the sibling files of one module (a parent and its own children may
//! refer to each other; that is how Rust modules are built). Read from the
//! `crate::`/`super::` paths in `src/`, ignoring `#[cfg(test)]` code, so the
//! check costs nothing at build time and fails the moment a cycle appears.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `src/storage/query.rs` → ["storage", "query"]; `src/model/mod.rs` → ["model"].
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts
        .last()
        .is_some_and(|l| l == "mod" || l == "lib" || l == "main")
    {
        parts.pop();
    }
    parts
}

/// The file's text without its `#[cfg(test)]` items (a test module, or a
/// test-only function), found by brace matching.
fn without_tests(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        // The item ends at its matching close brace, or at `;` for `mod x;`.
        let open = after.find('{');
        let semi = after.find(';');
        match (open, semi) {
            (Some(o), Some(s)) if s < o => rest = &after[s + 1..],
            (Some(o), _) => {
                let mut depth = 0usize;
                let mut end = after.len();
                for (i, c) in after[o..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = o + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &after[end..];
            }
            _ => rest = "",
        }
    }
    out.push_str(rest);
    out
}

/// Module paths this text refers to (`crate::a::b…`, `super::x`), resolved
/// against the known modules (longest known prefix).
fn references(text: &str, me: &[String], known: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut resolve = |mut path: Vec<String>| {
        while !path.is_empty() {
            if known.contains(&path) {
                found.insert(path);
                return;
            }
            path.pop();
        }
    };
    for (start, word) in [("crate::", 0usize), ("super::", 1)] {
        let mut from = 0;
        while let Some(i) = text[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0 && text[..at].ends_with(|c: char| ident(c) || c == ':') {
                continue;
            }
            // Segments after the prefix: a::b::{c, d} → a, b (then stop).
            let mut segs = Vec::new();
            let mut s = &text[from..];
            loop {
                let n = s.find(|c: char| !ident(c)).unwrap_or(s.len());
                if n == 0 {
                    break;
                }
                segs.push(s[..n].to_string());
                if !s[n..].starts_with("::") {
                    break;
                }
                s = &s[n + 2..];
            }
            let base: Vec<String> = if word == 0 {
                Vec::new()
            } else {
                // `super` of a file module is its parent.
                me[..me.len().saturating_sub(1)].to_vec()
            };
            let mut path = base;
            path.extend(segs);
            resolve(path);
        }
    }
    found
}

/// A cycle in `graph`, if any (depth-first search).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let i = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut cycle = stack[i..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, graph, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn no_module_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: Vec<(Vec<String>, PathBuf)> = files
        .iter()
        .map(|f| (module_path(&src, f), f.clone()))
        .filter(|(m, _)| !m.is_empty() && m.last().is_some_and(|l| l != "tests"))
        .collect();
    let known: BTreeSet<Vec<String>> = modules.iter().map(|(m, _)| m.clone()).collect();
    // Top-level graph, and one sibling graph per parent module.
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut siblings: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (me, file) in &modules {
        let text = without_tests(&std::fs::read_to_string(file).expect("read source"));
        for to in references(&text, me, &known) {
            if to[0] != me[0] {
                top.entry(me[0].clone()).or_default().insert(to[0].clone());
                continue;
            }
            // Same top-level module: compare at the first level where they differ.
            let common = me.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common < me.len() && common < to.len() {
                siblings
                    .entry(me[..common].to_vec())
                    .or_default()
                    .entry(me[common].clone())
                    .or_default()
                    .insert(to[common].clone());
            }
        }
    }
    assert!(top.len() > 5, "found too few modules: {top:?}");
    let mut cycles = Vec::new();
    for (scope, graph) in std::iter::once((String::from("crate"), &top))
        .chain(siblings.iter().map(|(p, g)| (p.join("::"), g)))
    {
        // Break each cycle found by dropping its first edge, to list them all.
        let mut g = graph.clone();
        while let Some(cycle) = find_cycle(&g) {
            cycles.push(format!("{scope}: {}", cycle.join(" -> ")));
            if let Some(edges) = g.get_mut(&cycle[0]) {
                edges.remove(&cycle[1]);
            }
        }
    }
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}
