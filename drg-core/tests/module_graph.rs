//! drg-core's modules depend on each other one way only (`docs/architecture.md`): for every module
//! that is a directory (the crate root, `ops`, `import`, ...), the graph between its immediate
//! children (`ops` → `device` → `layers` → ...; `pth` → `state_dict`) has no cycle.
//!
//! A child depends on another when some non-test code in its files names a path into the other
//! through `crate::` or `super::` (including `use` groups such as `super::{a, b::c}`). Comment
//! lines and `#[cfg(test)]` modules are skipped: tests may reach anywhere. A module's own
//! `mod.rs` is the module itself, not one of its children, so a child naming its parent's
//! re-exports is no edge. This reads the source text (no compiler involved), which is enough for
//! the paths this crate writes; it runs in milliseconds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with its module path (`ops/host.rs` → `["ops", "host"]`;
/// `ops/mod.rs` → `["ops"]`; `lib.rs` → `[]`).
fn module_files(root: &Path, dir: &Path, out: &mut Vec<(Vec<String>, PathBuf)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            module_files(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap().with_extension("");
            let mut segs: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            if matches!(segs.last().map(String::as_str), Some("mod") | Some("lib")) {
                segs.pop();
            }
            out.push((segs, path));
        }
    }
}

/// The source without comment lines and without `#[cfg(test)]` items (a `mod tests { ... }`
/// block, cut at its matching brace).
fn non_test_code(src: &str) -> String {
    let lines: Vec<&str> = src.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
    let text = lines.join("\n");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let Some(open) = after.find('{') else { break };
        let mut depth = 0;
        let mut end = after.len();
        for (i, c) in after[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Reads `a::b::{c, d::e}` at the start of `s` into the first segments of each path it names
/// (`[a, b, c]`, `[a, b, d]`; enough to find the module).
fn paths_at(s: &str) -> Vec<Vec<String>> {
    let s = s.trim_start();
    if let Some(inner) = s.strip_prefix('{') {
        let mut depth = 1;
        let mut end = inner.len();
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        // Split the group at top-level commas.
        let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
        for (i, c) in inner[..end].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&inner[start..end]);
        return parts.into_iter().flat_map(paths_at).collect();
    }
    let ident: String = s.chars().take_while(|&c| is_ident(c)).collect();
    if ident.is_empty() || ident == "self" {
        return vec![vec![]];
    }
    let rest = &s[ident.len()..];
    match rest.strip_prefix("::") {
        Some(more) => paths_at(more).into_iter().map(|p| std::iter::once(ident.clone()).chain(p).collect()).collect(),
        None => vec![vec![ident]],
    }
}

/// The absolute module paths (with trailing item names) that `code` of module `module` names.
fn named_paths(module: &[String], code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    for keyword in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(keyword).map(|i| i + from) {
            from = at + keyword.len();
            if at > 0 && (is_ident(bytes[at - 1] as char) || bytes[at - 1] == b'$' || bytes[at - 1] == b':') {
                continue;
            }
            let mut base: Vec<String> = if keyword == "crate::" {
                Vec::new()
            } else {
                // `super` of `a/b.rs` is `a`; of `a/b/mod.rs` (module a::b) also `a`.
                module[..module.len().saturating_sub(1)].to_vec()
            };
            let mut rest = &code[from..];
            while let Some(more) = rest.strip_prefix("super::") {
                base.pop();
                rest = more;
            }
            for p in paths_at(rest) {
                found.push(base.iter().cloned().chain(p).collect());
            }
        }
    }
    found
}

/// A cycle in `edges`, if there is one (as the list of its nodes).
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|s| s == m).unwrap();
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, edges, state, stack) {
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
    for n in edges.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, edges, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// For every directory module, the edges between its immediate children.
fn child_graphs(src: &Path) -> BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> {
    let mut files = Vec::new();
    module_files(src, src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, path) in &files {
        let code = non_test_code(&std::fs::read_to_string(path).unwrap());
        for target in named_paths(module, &code) {
            // Every directory module that holds both files below it: an edge between the two
            // children they lie in.
            for depth in 0..module.len() {
                let parent = &module[..depth];
                if !modules.contains(parent) || target.len() <= depth || target[..depth] != *parent {
                    continue;
                }
                let (from, to) = (&module[depth], &target[depth]);
                let mut child = parent.to_vec();
                child.push(to.clone());
                if from != to && modules.contains(&child) {
                    graphs.entry(parent.to_vec()).or_default().entry(from.clone()).or_default().insert(to.clone());
                }
            }
        }
    }
    graphs
}

#[test]
fn no_module_depends_on_itself_through_others() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graphs = child_graphs(&src);
    // The checker sees the layering it is meant to guard (and so can fail).
    let root = &graphs[&Vec::<String>::new()];
    assert!(root["device"].contains("ops"), "device dispatches to ops: {root:?}");
    assert!(root["layers"].contains("device"), "{root:?}");
    assert!(graphs[&vec!["import".to_string()]]["pth"].contains("state_dict"));
    for (module, edges) in &graphs {
        if let Some(cycle) = find_cycle(edges) {
            panic!("circular dependency among the children of crate::{}: {}", module.join("::"), cycle.join(" -> "));
        }
    }
}

#[test]
fn the_checker_finds_a_cycle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&edges), None);
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&edges), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    // `use super::{x, y::z}` groups and `super::super::` chains resolve from the file's module.
    let m = |s: &str| s.split("::").map(String::from).collect::<Vec<_>>();
    let found = named_paths(&m("ops::composite::pool"), "use super::{index_tensor, conv1d::X};\nuse super::super::host::dims;");
    assert_eq!(found, vec![m("ops::composite::index_tensor"), m("ops::composite::conv1d::X"), m("ops::host::dims")]);
}
