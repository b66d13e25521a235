//! The invariants ARCHITECTURE.md states, each checked here against the code as it is (the
//! manifests through `cargo metadata`, the sources as text). A rule broken by a change fails
//! the test that names it; ARCHITECTURE.md links each invariant to its test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace root (this package is the root package).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One workspace package as `cargo metadata --no-deps` describes it.
struct Package {
    name: String,
    dir: PathBuf,
    /// (dependency package name, kind: "normal", "dev" or "build", name in code).
    deps: Vec<(String, String, String)>,
    /// `package.metadata.cargo-machete.ignored`: dependencies used without being named in
    /// code (cargo machete reads the same key).
    ignored: Vec<String>,
}

fn packages() -> Vec<Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let manifest = PathBuf::from(p["manifest_path"].as_str().expect("manifest path"));
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|d| {
                    let name = d["name"].as_str().expect("name").to_string();
                    let kind = d["kind"].as_str().unwrap_or("normal").to_string();
                    let in_code = d["rename"].as_str().unwrap_or(&name).replace('-', "_");
                    (name, kind, in_code)
                })
                .collect();
            let ignored = p["metadata"]["cargo-machete"]["ignored"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            Package {
                name: p["name"].as_str().expect("name").to_string(),
                dir: manifest.parent().expect("manifest folder").to_path_buf(),
                deps,
                ignored,
            }
        })
        .collect()
}

/// Every `.rs` file under `dir` (recursively), sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// `text` without comments (line, doc and block) and without the items marked
/// `#[cfg(test)]`: the code a library build compiles. String literals are kept.
fn library_code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            out.push(c as char);
            if c == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1] as char);
                i += 2;
                continue;
            }
            if c == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if text[i..].starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if text[i..].starts_with("/*") {
            let end = text[i + 2..]
                .find("*/")
                .map_or(bytes.len(), |e| i + 2 + e + 2);
            i = end;
            continue;
        }
        if text[i..].starts_with("#[cfg(test)]") {
            // Skip the attribute and the item it marks (up to its matching closing brace, or
            // its semicolon for a `mod tests;` or a `use`).
            i += "#[cfg(test)]".len();
            let mut depth = 0usize;
            let mut in_str = false;
            while i < bytes.len() {
                let b = bytes[i];
                if in_str {
                    if b == b'\\' {
                        i += 1;
                    } else if b == b'"' {
                        in_str = false;
                    }
                } else if b == b'"' {
                    in_str = true;
                } else if b == b'{' {
                    depth += 1;
                } else if b == b'}' {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                } else if b == b';' && depth == 0 {
                    i += 1;
                    break;
                }
                i += 1;
            }
            continue;
        }
        if c == b'"' && !text[..i].ends_with('\'') {
            in_string = true;
        }
        // Keep char boundaries: copy a whole UTF-8 character.
        let len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + len]);
        i += len;
    }
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The fitbench crates each crate may depend on (normal dependencies). Dependencies point one
/// way: core ← trainer crates ← harness ← cli, and core ← report ← render ← lnn ← harness;
/// trainer crates know nothing of each other, of reports or of the harness.
const ALLOWED: &[(&str, &[&str])] = &[
    ("fitbench-core", &[]),
    ("fitbench-lsq", &["fitbench-core"]),
    ("fitbench-analytic", &["fitbench-core"]),
    ("fitbench-classic", &["fitbench-core"]),
    ("fitbench-sgd", &["fitbench-core"]),
    ("fitbench-report", &["fitbench-core"]),
    // The process boundary: the protocol's client side (core) and its flat parameter layout
    // and Rust example client (classic's engine).
    ("fitbench-external", &["fitbench-core", "fitbench-classic"]),
    ("fitbench-render", &["fitbench-core", "fitbench-report"]),
    (
        "fitbench-lnn",
        &["fitbench-core", "fitbench-report", "fitbench-render"],
    ),
    (
        "fitbench-harness",
        &[
            "fitbench-core",
            "fitbench-lsq",
            "fitbench-analytic",
            "fitbench-classic",
            "fitbench-sgd",
            "fitbench-report",
            "fitbench-render",
            "fitbench-lnn",
            "fitbench-external",
        ],
    ),
    (
        "fitbench-cli",
        &[
            "fitbench-core",
            "fitbench-harness",
            "fitbench-report",
            "fitbench-render",
            "fitbench-lnn",
        ],
    ),
];

/// Invariant: dependencies between fitbench's crates point one way ([`ALLOWED`]); a crate
/// outside the table (an example, a new crate) may use the libraries but nothing may depend
/// on it or on the binary.
#[test]
fn crate_dependencies_point_one_way() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut broken = Vec::new();
    for p in packages() {
        for (dep, kind, _) in &p.deps {
            if !dep.starts_with("fitbench-") || kind != "normal" {
                continue;
            }
            if dep == "fitbench-cli" {
                broken.push(format!("{} depends on the binary crate {dep}", p.name));
            }
            if let Some(ok) = allowed.get(p.name.as_str())
                && !ok.contains(&dep.as_str())
            {
                broken.push(format!("{} depends on {dep}", p.name));
            }
        }
    }
    assert!(broken.is_empty(), "dependency rules broken: {broken:?}");
}

/// Invariant: burn is a dependency of `fitbench-sgd` only; clap, indicatif and anyhow of the
/// binary only (library crates return their own `thiserror` enums).
#[test]
fn burn_only_in_sgd_and_cli_crates_only_in_the_binary() {
    let only: &[(&str, &[&str])] = &[
        ("burn", &["fitbench-sgd"]),
        ("clap", &["fitbench-cli"]),
        ("indicatif", &["fitbench-cli"]),
        ("anyhow", &["fitbench-cli"]),
    ];
    let mut broken = Vec::new();
    for p in packages() {
        for (dep, kind, _) in &p.deps {
            for (name, owners) in only {
                if dep == name && kind != "dev" && !owners.contains(&p.name.as_str()) {
                    broken.push(format!("{} depends on {dep}", p.name));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{broken:?}");
}

/// Invariant: no unused dependency. Like `cargo machete`: a dependency must be named in the
/// package's code (`name::` or `use name`) unless listed, with its reason, under
/// `[package.metadata.cargo-machete] ignored`.
#[test]
fn every_dependency_is_used() {
    let mut unused = Vec::new();
    for p in packages() {
        let mut code = String::new();
        for sub in ["src", "tests", "benches", "examples", "build.rs"] {
            let path = p.dir.join(sub);
            if path.is_file() {
                code.push_str(&read(&path));
            }
            // The root package's folders are its own, not its members'.
            for f in rust_files(&path) {
                code.push_str(&read(&f));
            }
        }
        for (dep, kind, in_code) in &p.deps {
            if p.ignored.contains(dep) {
                continue;
            }
            let named = code.contains(&format!("{in_code}::"))
                || code.contains(&format!("use {in_code}"))
                || code.contains(&format!("extern crate {in_code}"));
            if !named {
                unused.push(format!("{} ({kind}) → {dep}", p.name));
            }
        }
    }
    assert!(
        unused.is_empty(),
        "dependencies never named in code: {unused:?}"
    );
}

/// The top-level modules of a crate's `src` and the modules each one names
/// (`crate::m`, `use crate::{m, …}`), library code only.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for f in rust_files(src) {
        let rel = f.strip_prefix(src).expect("under src");
        let first = rel
            .components()
            .next()
            .map(|c| {
                c.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            .unwrap_or_default();
        if first == "lib" || first == "main" {
            continue;
        }
        modules.entry(first).or_default().push(f);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, files) in &modules {
        let mut uses = BTreeSet::new();
        for f in files {
            let code = library_code(&read(f));
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                let targets: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                    // `crate::{a, b::c, d as e}`: the top level of the group.
                    let end = group.find('}').unwrap_or(group.len());
                    group[..end]
                        .split(',')
                        .map(|t| t.trim().split("::").next().unwrap_or("").trim())
                        .collect()
                } else {
                    vec![
                        rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                            .next()
                            .unwrap_or(""),
                    ]
                };
                for t in targets {
                    if t != module && names.contains(t) {
                        uses.insert(t.to_string());
                    }
                }
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

/// A cycle of `graph`, if there is one (as a path that returns to its start).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = path.iter().position(|p| p == next).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, graph, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if state.get(node.as_str()).copied().unwrap_or(0) == 0
            && let Some(c) = visit(node, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

/// Invariant: no module cycles inside a crate (the import graph of `use crate::…` between
/// top-level modules is acyclic).
#[test]
fn no_module_cycles_in_any_crate() {
    let mut cycles = Vec::new();
    for p in packages() {
        let src = p.dir.join("src");
        if let Some(c) = find_cycle(&module_graph(&src)) {
            cycles.push(format!("{}: {}", p.name, c.join(" → ")));
        }
    }
    assert!(cycles.is_empty(), "module cycles: {cycles:?}");
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_the_stripper_drops_tests_and_comments() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(find_cycle(&g).map(|c| c.len()), Some(4));
    let code = "use crate::x; // crate::y\n#[cfg(test)]\nmod tests { use crate::z; fn f() { \"}\"; } }\nfn g() {}";
    let kept = library_code(code);
    assert!(kept.contains("crate::x") && kept.contains("fn g"), "{kept}");
    assert!(
        !kept.contains("crate::y") && !kept.contains("crate::z"),
        "{kept}"
    );
}

/// Files that may read the clock, with why. The run loop's clock (`MonotonicClock`), the
/// calibration kernel and the sweep's wall time are the harness's; nothing else measures time.
const CLOCK_READERS: &[(&str, &str)] = &[
    (
        "crates/core/src/cancel.rs",
        "a step's deadline: decides when to stop, never measures",
    ),
    (
        "crates/report/src/environment.rs",
        "the date a report was started (started_unix_s), a record, not a measurement",
    ),
    (
        "crates/external/src/child.rs",
        "a reply's per-message timeout: decides when to give up on a child, never measures",
    ),
    (
        "crates/external/src/trainer.rs",
        "the empty round trips at init (protocol_overhead_s), a counter of the protocol's cost, never training time",
    ),
];

/// Invariant: only the harness reads the clock (with the exceptions of [`CLOCK_READERS`]).
#[test]
fn only_the_harness_reads_the_clock() {
    let mut readers = Vec::new();
    for f in rust_files(&root().join("crates")) {
        let rel = relative(&f);
        if !rel.contains("/src/")
            || rel.starts_with("crates/harness/")
            || CLOCK_READERS.iter().any(|(path, _)| *path == rel)
        {
            continue;
        }
        let code = library_code(&read(&f));
        for token in ["Instant::now", "SystemTime::now", "UNIX_EPOCH"] {
            if code.contains(token) {
                readers.push(format!("{rel}: {token}"));
            }
        }
    }
    assert!(
        readers.is_empty(),
        "clock read outside the harness: {readers:?}"
    );
}

/// Invariant: core and the trainer crates are pure computation — no files, no processes, no
/// environment variables, no threads of their own beyond rayon/faer's.
#[test]
fn core_and_trainer_crates_touch_no_files() {
    let mut touched = Vec::new();
    for krate in ["core", "lsq", "analytic", "classic", "sgd"] {
        for f in rust_files(&root().join("crates").join(krate).join("src")) {
            let code = library_code(&read(&f));
            for token in [
                "std::fs",
                "fs::",
                "File::",
                "OpenOptions",
                "Command::new",
                "env::var",
                "std::io::stdout",
                "std::io::stderr",
                "println!",
                "eprintln!",
            ] {
                if code.contains(token) {
                    touched.push(format!("{}: {token}", relative(&f)));
                }
            }
        }
    }
    assert!(touched.is_empty(), "{touched:?}");
}

/// Invariant: every other process-level effect (processes, environment variables) is the
/// harness's or the binary's, apart from the report's description of its machine and the
/// child processes of `fitbench-external` (which exists to run trainers as processes).
#[test]
fn processes_and_environment_only_in_the_harness() {
    let mut found = Vec::new();
    for f in rust_files(&root().join("crates")) {
        let rel = relative(&f);
        if !rel.contains("/src/")
            || rel.starts_with("crates/harness/")
            || rel.starts_with("crates/cli/")
            || rel == "crates/report/src/environment.rs"
            || rel == "crates/external/src/child.rs"
        {
            continue;
        }
        let code = library_code(&read(&f));
        for token in ["Command::new", "env::var", "std::process::exit"] {
            if code.contains(token) {
                found.push(format!("{rel}: {token}"));
            }
        }
    }
    assert!(found.is_empty(), "{found:?}");
}

/// Invariant: `unsafe` code lives in two audited modules only (the counting allocator and
/// the AVX-512 dispatch); everywhere else the workspace lint `unsafe_code = "deny"` holds.
#[test]
fn unsafe_only_in_the_two_audited_modules() {
    const AUDITED: &[&str] = &["crates/harness/src/alloc.rs", "crates/core/src/simd.rs"];
    let mut found = Vec::new();
    for f in rust_files(&root().join("crates")) {
        let rel = relative(&f);
        if AUDITED.contains(&rel.as_str()) {
            continue;
        }
        let code = library_code(&read(&f));
        if code.contains("unsafe ") || code.contains("allow(unsafe_code)") {
            found.push(rel);
        }
    }
    assert!(
        found.is_empty(),
        "unsafe outside the audited modules: {found:?}"
    );
}

/// ARCHITECTURE.md stays true: every test it names (`path::name`, or `::name` after a named
/// file) exists, and every test file it names exists.
#[test]
fn every_test_architecture_md_names_exists() {
    let doc = read(&root().join("ARCHITECTURE.md"));
    let mut missing = Vec::new();
    let mut file: Option<String> = None;
    for token in doc.split('`').skip(1).step_by(2) {
        let (path, name) = match token.split_once("::") {
            Some((p, n)) if p.ends_with(".rs") => (Some(p.to_string()), Some(n)),
            Some(("", n)) => (file.clone(), Some(n)),
            _ if token.ends_with(".rs") && token.contains('/') => (Some(token.to_string()), None),
            _ => continue,
        };
        let Some(path) = path else { continue };
        file = Some(path.clone());
        let full = root().join(&path);
        if !full.is_file() {
            missing.push(path);
            continue;
        }
        if let Some(name) = name
            && !read(&full).contains(&format!("fn {name}("))
        {
            missing.push(format!("{path}::{name}"));
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names tests that do not exist: {missing:?}"
    );
}
