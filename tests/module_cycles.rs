//! The library's top-level modules import each other without cycles, in
//! both crates (`peerlink-core` in `core/src`, `peerlink` in `src`): a
//! module's dependencies can be read, tested and moved on their own.
//!
//! A module is a file or folder directly under the crate's `src/`; an edge
//! is any `crate::<module>` path in its code (comments and tests aside: a
//! test may reach anywhere).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with the top-level module it belongs to.
fn files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(dir).unwrap();
                let first = rel.components().next().unwrap().as_os_str();
                let module = first.to_string_lossy().trim_end_matches(".rs").to_string();
                out.push((module, path));
            }
        }
    }
    out
}

/// The code of a file without comments and without its test module (a
/// `#[cfg(test)]` line followed by `mod`, to the end of the file: the
/// house style puts it last). Other test-only items are kept, which can
/// only add edges.
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let next = lines.get(i + 1).map_or("", |l| l.trim_start());
        if line.trim_start().starts_with("#[cfg(test)]") && next.starts_with("mod ") {
            break;
        }
        let line = line.split("//").next().unwrap_or("");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Module -> the modules it names through `crate::`.
fn graph(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let all = files(dir);
    let modules: BTreeSet<String> = all.iter().map(|(m, _)| m.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, path) in &all {
        let deps = graph.entry(module.clone()).or_default();
        let code = code(path);
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name != *module && modules.contains(&name) {
                deps.insert(name);
            }
        }
        // `use crate::{a, b::c}` groups.
        for (i, _) in code.match_indices("crate::{") {
            let rest = &code[i + "crate::{".len()..];
            let group = rest.split('}').next().unwrap_or("");
            for item in group.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name != *module && modules.contains(&name) {
                    deps.insert(name);
                }
            }
        }
    }
    graph.remove("lib");
    for deps in graph.values_mut() {
        deps.remove("lib");
    }
    graph
}

/// A cycle through the graph, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

fn check(crate_src: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(crate_src);
    let graph = graph(&dir);
    assert!(graph.len() > 3, "{crate_src}: found only {graph:?}");
    if let Some(cycle) = cycle(&graph) {
        panic!("{crate_src}: module cycle {}", cycle.join(" -> "));
    }
}

/// `peerlink`'s modules form no cycle.
#[test]
fn shell_modules_are_acyclic() {
    check("src");
}

/// `peerlink-core`'s modules form no cycle.
#[test]
fn core_modules_are_acyclic() {
    check("core/src");
}

/// The checker finds a planted cycle.
#[test]
fn a_planted_cycle_is_found() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    graph.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
    graph.insert("c".to_string(), BTreeSet::new());
    assert_eq!(cycle(&graph), None);
}
