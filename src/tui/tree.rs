//! The tree view's order: each process under its parent, siblings in the
//! table's sort order, with every subtree's summed CPU and memory (what a
//! folded row shows). Pure: built from the rows' PIDs and parent PIDs.

use crate::model::{ProcessKey, ProcessScore};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

/// One visible line of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeLine {
    /// Index into the processes given to `build`.
    pub index: usize,
    /// 0 for a root.
    pub depth: usize,
    /// Processes below it (shown or folded away).
    pub descendants: usize,
    /// Its subtree is folded: the descendants are not listed.
    pub folded: bool,
    /// Percent of one core, itself and every descendant (`None` when none
    /// measured it).
    pub subtree_cpu: Option<f64>,
    /// Resident bytes, itself and every descendant (shared pages counted once
    /// per process).
    pub subtree_mem: Option<f64>,
    /// It is the last of its siblings (for the branch drawing).
    pub last: bool,
}

fn add(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x + y),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The tree of `procs`: a process whose parent is not among them is a root.
/// `cmp` orders siblings; `folded` hides the subtrees of those processes.
pub fn build(
    procs: &[ProcessScore],
    folded: &HashSet<ProcessKey>,
    cmp: impl Fn(&ProcessScore, &ProcessScore) -> Ordering,
) -> Vec<TreeLine> {
    let by_pid: HashMap<u32, usize> = procs.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); procs.len()];
    let mut roots = Vec::new();
    for (i, p) in procs.iter().enumerate() {
        match p.ppid.and_then(|pp| by_pid.get(&pp)) {
            Some(&parent) if parent != i => children[parent].push(i),
            _ => roots.push(i),
        }
    }
    let order = |v: &mut Vec<usize>| v.sort_by(|&a, &b| cmp(&procs[a], &procs[b]));
    order(&mut roots);
    for c in &mut children {
        order(c);
    }
    // Subtree sums, children before parents (iterative post-order). A parent
    // cycle (PIDs reused mid-scan) has no root and is never reached: such
    // processes are added as roots below.
    let mut sums: Vec<(usize, Option<f64>, Option<f64>)> = procs
        .iter()
        .map(|p| (0, p.cpu.map(|m| m.current), p.mem.map(|m| m.current)))
        .collect();
    let mut reached = vec![false; procs.len()];
    let mut post = Vec::with_capacity(procs.len());
    let mut stack: Vec<(usize, bool)> = roots.iter().rev().map(|&r| (r, false)).collect();
    while let Some((i, done)) = stack.pop() {
        if done {
            post.push(i);
            continue;
        }
        if reached[i] {
            continue;
        }
        reached[i] = true;
        stack.push((i, true));
        for &c in children[i].iter().rev() {
            stack.push((c, false));
        }
    }
    for (i, r) in reached.iter().enumerate() {
        if !r {
            roots.push(i);
            children[i].clear();
            post.push(i);
        }
    }
    for &i in &post {
        let (mut n, mut cpu, mut mem) = (0, sums[i].1, sums[i].2);
        for &c in &children[i] {
            n += 1 + sums[c].0;
            cpu = add(cpu, sums[c].1);
            mem = add(mem, sums[c].2);
        }
        sums[i] = (n, cpu, mem);
    }
    let mut out = Vec::new();
    let mut stack: Vec<(usize, usize, bool)> = Vec::new();
    for (k, &r) in roots.iter().enumerate().rev() {
        stack.push((r, 0, k + 1 == roots.len()));
    }
    let mut seen = vec![false; procs.len()];
    while let Some((i, depth, last)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let is_folded = !children[i].is_empty() && folded.contains(&procs[i].key());
        out.push(TreeLine {
            index: i,
            depth,
            descendants: sums[i].0,
            folded: is_folded,
            subtree_cpu: sums[i].1,
            subtree_mem: sums[i].2,
            last,
        });
        if !is_folded {
            let n = children[i].len();
            for (k, &c) in children[i].iter().enumerate().rev() {
                stack.push((c, depth + 1, k + 1 == n));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MetricValue;

    fn p(pid: u32, ppid: Option<u32>, cpu: f64) -> ProcessScore {
        let mut p = ProcessScore::new(pid, u64::from(pid), format!("p{pid}"), 0.0);
        p.ppid = ppid;
        p.cpu = Some(MetricValue {
            current: cpu,
            low: cpu,
            high: cpu,
        });
        p
    }

    fn by_pid(a: &ProcessScore, b: &ProcessScore) -> Ordering {
        a.pid.cmp(&b.pid)
    }

    #[test]
    fn children_under_parents_with_subtree_sums() {
        let procs = vec![
            p(30, Some(10), 5.0),
            p(10, Some(1), 1.0),
            p(1, None, 0.0),
            p(20, Some(10), 2.0),
            p(99, Some(12345), 7.0),
        ];
        let lines = build(&procs, &HashSet::new(), by_pid);
        let shown: Vec<(u32, usize)> = lines
            .iter()
            .map(|l| (procs[l.index].pid, l.depth))
            .collect();
        assert_eq!(shown, vec![(1, 0), (10, 1), (20, 2), (30, 2), (99, 0)]);
        assert_eq!(lines[1].descendants, 2);
        assert_eq!(lines[1].subtree_cpu, Some(8.0));
        assert_eq!(lines[0].subtree_cpu, Some(8.0));
        assert!(lines[3].last && !lines[2].last);
    }

    #[test]
    fn folding_hides_the_subtree_and_cycles_do_not_hang() {
        let procs = vec![p(1, None, 0.0), p(10, Some(1), 1.0), p(20, Some(10), 2.0)];
        let folded: HashSet<ProcessKey> = [procs[1].key()].into();
        let lines = build(&procs, &folded, by_pid);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].folded);
        assert_eq!(lines[1].subtree_cpu, Some(3.0));
        // 5 → 6 → 5: no root; both still listed, once each.
        let cycle = vec![p(5, Some(6), 1.0), p(6, Some(5), 1.0)];
        let lines = build(&cycle, &HashSet::new(), by_pid);
        assert_eq!(lines.len(), 2);
    }
}
