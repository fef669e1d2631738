//! Keeps ARCHITECTURE.md true (rust-analyzer's `tidy.rs` habit): the direction of
//! dependencies it writes down is read from the document itself and checked against
//! every `use` and every `crate::`/`super::`/`self::` path in `src/`. A module that
//! imports against it, a top-level module the document does not place, an import of
//! the CSV backend's insides from outside the store, or two files of one folder that
//! import each other, fails the test with the file and the path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top first, as the fenced block after `<!-- tidy:layers -->` says.
fn layers(architecture: &str) -> BTreeMap<String, usize> {
    let start = architecture.find("<!-- tidy:layers -->").expect("ARCHITECTURE.md has a <!-- tidy:layers --> block");
    let block = &architecture[start..];
    let body = block.split("```").nth(1).expect("a fenced block follows the marker");
    let lines: Vec<&str> = body.lines().map(str::trim).filter(|l| !l.is_empty() && *l != "text").collect();
    let mut out = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        for module in line.split_whitespace() {
            out.insert(module.to_string(), lines.len() - i);
        }
    }
    out
}

/// Modules outside `store` allowed into `store::csv`, from `<!-- tidy:csv-insiders -->`.
fn csv_insiders(architecture: &str) -> BTreeSet<String> {
    let start = architecture.find("<!-- tidy:csv-insiders -->").expect("a <!-- tidy:csv-insiders --> line");
    let line = architecture[start..].lines().nth(1).unwrap_or("");
    line.trim_matches(|c| c == '`' || c == ' ').split_whitespace().map(|s| s.trim_matches('`').to_string()).collect()
}

/// Every source file as (module path like `store/csv/writer`, file).
fn sources(root: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root.join("src")).unwrap().with_extension("");
                let rel = rel.to_string_lossy().replace('\\', "/");
                let module = rel.strip_suffix("/mod").unwrap_or(&rel).to_string();
                let module = if module == "lib" || module == "main" { String::new() } else { module };
                out.insert(module, path);
            }
        }
    }
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(path: &str) -> Vec<String> {
    let path = path.trim();
    let Some(open) = path.find('{') else { return vec![path.to_string()] };
    let close = path.rfind('}').unwrap_or(path.len());
    let (prefix, inner) = (&path[..open], &path[open + 1..close]);
    let mut parts = Vec::new();
    let (mut depth, mut current) = (0, String::new());
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts.iter().filter(|p| !p.trim().is_empty()).flat_map(|p| expand(p)).map(|p| format!("{prefix}{p}")).collect()
}

/// The code of a file without comments and without its `#[cfg(test)]` tail.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The module paths a file refers to, resolved to modules that exist.
fn references(module: &str, file: &Path, modules: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let code = code_of(&std::fs::read_to_string(file).unwrap());
    let mut paths = Vec::new();
    let mut lines = code.lines();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        let t = t
            .strip_prefix("pub ")
            .or_else(|| t.split_once(") ").filter(|(p, _)| p.starts_with("pub(")).map(|(_, r)| r))
            .unwrap_or(t);
        let Some(statement) = t.strip_prefix("use ") else { continue };
        let mut statement = statement.to_string();
        while !statement.contains(';') {
            match lines.next() {
                Some(more) => statement.push_str(more),
                None => break,
            }
        }
        paths.extend(expand(statement.split(';').next().unwrap_or("")));
    }
    let text = code;
    for anchor in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(anchor) {
            let at = from + i;
            from = at + anchor.len();
            let boundary = at == 0 || !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
            if !boundary {
                continue;
            }
            let end = text[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(text.len(), |e| at + e);
            paths.push(text[at..end].to_string());
        }
    }
    let own: Vec<&str> = if module.is_empty() { Vec::new() } else { module.split('/').collect() };
    let mut out = BTreeSet::new();
    for path in paths {
        let segments: Vec<String> =
            path.split("::").map(|s| s.split(" as ").next().unwrap_or("").trim().to_string()).collect();
        let (mut base, mut rest): (Vec<String>, &[String]) = match segments.first().map(String::as_str) {
            Some("crate") => (Vec::new(), &segments[1..]),
            // In `a/b/c.rs` and in `a/b/c/mod.rs` alike, `self` is `a::b::c` and `super`
            // is `a::b`.
            Some("self") => (own.iter().map(|s| s.to_string()).collect(), &segments[1..]),
            Some("super") => {
                (own[..own.len().saturating_sub(1)].iter().map(|s| s.to_string()).collect(), &segments[1..])
            }
            _ => continue,
        };
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        let full: Vec<String> = base.into_iter().chain(rest.iter().cloned()).filter(|s| !s.is_empty()).collect();
        let target = (1..=full.len()).rev().map(|n| full[..n].join("/")).find(|m| modules.contains_key(m));
        if let Some(target) = target
            && target != module
        {
            out.insert(target);
        }
    }
    out
}

fn top(module: &str) -> &str {
    module.split('/').next().unwrap_or("")
}

fn parent(module: &str) -> &str {
    module.rsplit_once('/').map_or("", |(p, _)| p)
}

#[test]
fn imports_follow_the_direction_architecture_md_writes_down() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let layers = layers(&architecture);
    let insiders = csv_insiders(&architecture);
    let modules = sources(root);
    let mut wrong = Vec::new();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &modules {
        if module.is_empty() {
            continue; // lib.rs and main.rs declare the modules
        }
        let Some(&from_layer) = layers.get(top(module)) else {
            wrong.push(format!("src/{module}: the top-level module {} has no place in ARCHITECTURE.md", top(module)));
            continue;
        };
        let refs = references(module, file, &modules);
        for target in &refs {
            let to = top(target);
            if to != top(module) {
                match layers.get(to) {
                    Some(&to_layer) if to_layer < from_layer => {}
                    _ => wrong.push(format!("{}: imports {target}, against the direction", file.display())),
                }
            }
            if target.starts_with("store/csv") && top(module) != "store" && !insiders.contains(top(module)) {
                wrong.push(format!(
                    "{}: reaches into the CSV backend ({target}); go through store::Storage",
                    file.display()
                ));
            }
        }
        graph.insert(module.clone(), refs);
    }
    // Two files of one folder (not its mod.rs) that import each other.
    let is_leaf = |m: &str| !modules[m].ends_with("mod.rs");
    for (a, targets) in &graph {
        for b in targets {
            let siblings = parent(a) == parent(b) && is_leaf(a) && is_leaf(b);
            if siblings && a < b && graph.get(b).is_some_and(|t| t.contains(a)) {
                wrong.push(format!("src/{a}.rs and src/{b}.rs import each other"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against ARCHITECTURE.md:\n{}", wrong.join("\n"));
    // The check itself sees what it should: a known edge is found.
    assert!(graph["api/records"].contains("service/records"), "the tidy check reads imports");
}

#[test]
fn no_source_file_is_over_600_lines_without_saying_why() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut long = Vec::new();
    for file in sources(root).values() {
        let text = std::fs::read_to_string(file).unwrap();
        let lines = text.lines().count();
        let explained = text.lines().take(15).any(|l| l.contains("Why this file is long:"));
        if lines > 600 && !explained {
            long.push(format!("{} has {lines} lines", file.display()));
        }
    }
    assert!(
        long.is_empty(),
        "split these, or say at the top why not (\"Why this file is long:\"):\n{}",
        long.join("\n")
    );
}

/// Every document a source or doc cites (a capitalised markdown file name, or a path
/// under docs) is in the repository: a clone has nothing else to follow.
#[test]
fn every_document_a_comment_cites_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "web/src", "tests", "bench", "ops", "docs"] {
        collect(&root.join(dir), &mut files);
    }
    for top in ["README.md", "ARCHITECTURE.md", "CHANGELOG.md", "BENCHMARKS.md", "config.yaml", "web/README.md"] {
        files.push(root.join(top));
    }
    let mut missing = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for cited in cited_documents(&text) {
            let here = file.parent().unwrap().join(&cited);
            if !root.join(&cited).exists() && !root.join("docs").join(&cited).exists() && !here.exists() {
                missing.push(format!("{}: {cited}", file.strip_prefix(root).unwrap().display()));
            }
        }
    }
    assert!(missing.is_empty(), "documents cited but not in the repository:\n{}", missing.join("\n"));
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("node_modules") && !path.ends_with("dist") && !path.ends_with("screenshots") {
                collect(&path, out);
            }
        } else if path.extension().is_some_and(|e| {
            ["rs", "js", "jsx", "mjs", "md", "sh", "py", "toml", "yaml"].contains(&e.to_str().unwrap_or(""))
        }) {
            out.push(path);
        }
    }
}

/// The markdown files a text cites: capitalised names, and paths under docs (the way
/// documents are cited here).
fn cited_documents(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let is_name = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'/' || c == b'.';
    let mut i = 0;
    while let Some(found) = text[i..].find(".md") {
        let end = i + found + 3;
        let mut start = i + found;
        while start > 0 && is_name(bytes[start - 1]) {
            start -= 1;
        }
        let token = text[start..end].trim_start_matches("./").trim_start_matches('/');
        let after_ok = end >= bytes.len() || !bytes[end].is_ascii_alphanumeric();
        let stem = token.trim_end_matches(".md");
        let upper = stem
            .rsplit('/')
            .next()
            .is_some_and(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        if after_ok && !stem.is_empty() && (upper || token.starts_with("docs/")) && !token.starts_with("..") {
            out.insert(token.to_string());
        }
        i = end;
    }
    out
}

/// docs/configuration.md names every key config.yaml shows.
#[test]
fn the_configuration_reference_names_every_key() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let yaml = std::fs::read_to_string(root.join("config.yaml")).unwrap();
    let reference = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut missing = Vec::new();
    for line in yaml.lines() {
        let code = line.split(" #").next().unwrap_or("");
        let trimmed = code.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('-') {
            continue;
        }
        let Some((key, _)) = trimmed.split_once(':') else { continue };
        let indent = code.len() - trimmed.len();
        path.retain(|(i, _)| *i < indent);
        path.push((indent, key.to_string()));
        // Job names under cron.jobs are examples, not keys.
        if path.len() == 3 && path[0].1 == "cron" && path[1].1 == "jobs" {
            continue;
        }
        let dotted = path.iter().map(|(_, k)| k.as_str()).collect::<Vec<_>>().join(".");
        if !reference.contains(&format!("`{dotted}`")) {
            missing.push(dotted);
        }
    }
    assert!(missing.is_empty(), "docs/configuration.md lacks: {missing:?}");
}

/// docs/data-files.md names every file and every column the server knows.
#[test]
fn the_data_files_reference_names_every_column() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reference = std::fs::read_to_string(root.join("docs/data-files.md")).unwrap();
    let mut missing = Vec::new();
    for table in taskboard::domain::TableKind::ALL {
        let spec = table.spec();
        let Some(section) = reference.split("\n## ").find(|s| s.starts_with(&format!("`{}`", spec.file_name))) else {
            missing.push(spec.file_name.to_string());
            continue;
        };
        for column in spec.columns {
            if !section.contains(&format!("`{}`", column.name)) {
                missing.push(format!("{}: {}", spec.file_name, column.name));
            }
        }
    }
    assert!(missing.is_empty(), "docs/data-files.md lacks: {missing:?}");
}
