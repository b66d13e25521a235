//! "A trainer is named in exactly one place": its registry entry. Every registered
//! trainer's and synthetic generator's name appears as a string literal (alone, or starting
//! a `NAME:…` string) exactly once in the library sources (`crates/*/src/**/*.rs`, outside
//! comments and `#[cfg(test)]` items), and names are unique across the registry. A second
//! spelling (a `fn name() { "adam" }`, a `match id { "lsq" => … }`, a `format!("teacher:…")`,
//! a message `"lm: …"`) fails here; code that needs a name reads it from the entry
//! (`OLS.name`, `Params::name`).
//!
//! The scan is a small Rust lexer: comments and doc comments are skipped, string literals
//! (plain, raw, byte) are read with their escapes, char literals are told from lifetimes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// Files that name trainers as data, not as definitions, and are not scanned.
const SKIPPED: &[(&str, &str)] = &[(
    "crates/harness/src/presets.rs",
    "presets are data that name trainers as arguments (`adam:lr=…`)",
)];

/// Literals that spell a registered name but do not define it, with why: another meaning,
/// or data naming a trainer as an argument (like presets).
const OTHER_MEANINGS: &[(&str, &str, &str)] = &[
    (
        "crates/report/src/schema.rs",
        "ols",
        "ReferenceKind::Ols: the least-squares optimum used as a loss reference (a report field)",
    ),
    (
        "crates/report/src/config.rs",
        "ols",
        "RunConfig's default trainer list: data naming a trainer as an argument",
    ),
    (
        "crates/core/src/activation.rs",
        "linear",
        "an alias of the identity activation",
    ),
    (
        "crates/core/src/mlp.rs",
        "linear",
        "how an architecture without hidden layers is displayed",
    ),
];

/// One string literal found in a file.
#[derive(Debug, Clone, PartialEq)]
struct Literal {
    value: String,
    line: usize,
}

/// The tokens the scan needs: string literals and the punctuation that delimits items.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Str(Literal),
    Punct(char),
    Word(String),
}

/// Splits Rust source into [`Token`]s, dropping comments, whitespace, numbers and chars.
fn lex(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            // Block comments nest in Rust.
            let mut depth = 0;
            loop {
                if i >= chars.len() {
                    break;
                }
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if let Some((hashes, start)) = raw_string_start(&chars, i) {
            let first = line;
            let mut j = start;
            let mut value = String::new();
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                if chars[j] == '\n' {
                    line += 1;
                }
                value.push(chars[j]);
                j += 1;
            }
            tokens.push(Token::Str(Literal { value, line: first }));
            i = j;
        } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
            let first = line;
            let mut j = if c == 'b' { i + 2 } else { i + 1 };
            let mut value = String::new();
            while j < chars.len() && chars[j] != '"' {
                if chars[j] == '\\' {
                    let e = at(j + 1);
                    match e {
                        'n' => value.push('\n'),
                        't' => value.push('\t'),
                        '\\' | '"' | '\'' => value.push(e),
                        '\n' => {
                            // A line continuation: the newline and the next line's
                            // leading whitespace are dropped.
                            line += 1;
                            j += 2;
                            while j < chars.len() && chars[j].is_whitespace() {
                                if chars[j] == '\n' {
                                    line += 1;
                                }
                                j += 1;
                            }
                            continue;
                        }
                        other => {
                            value.push('\\');
                            value.push(other);
                        }
                    }
                    j += 2;
                } else {
                    if chars[j] == '\n' {
                        line += 1;
                    }
                    value.push(chars[j]);
                    j += 1;
                }
            }
            tokens.push(Token::Str(Literal { value, line: first }));
            i = j + 1;
        } else if c == '\'' {
            // A char literal ('a', '\n', '\'', '"') or a lifetime ('a, 'static).
            if at(i + 1) == '\\' {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' {
            let mut j = i;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            tokens.push(Token::Word(chars[i..j].iter().collect()));
            i = j;
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    tokens
}

/// `r"`, `r#"`, `br"`, … at `i`: the number of `#` and where the content starts.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    // Not the tail of an identifier (`for"` cannot occur, but `bar#` is not a raw string).
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

/// The string literals of `src` outside `#[cfg(test)]` items.
fn library_literals(src: &str) -> Vec<Literal> {
    let tokens = lex(src);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if is_cfg_test(&tokens[i..]) {
            // Skip the attribute, then the item: up to its `;` or its balanced `{ … }`.
            i += 7;
            let mut depth = 0usize;
            while i < tokens.len() {
                match &tokens[i] {
                    Token::Punct('{') => depth += 1,
                    Token::Punct('}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Token::Punct(';') if depth == 0 => break,
                    _ => {}
                }
                i += 1;
            }
        } else if let Token::Str(l) = &tokens[i] {
            out.push(l.clone());
        }
        i += 1;
    }
    out
}

/// `# [ cfg ( test ) ]` at the start of `tokens`.
fn is_cfg_test(tokens: &[Token]) -> bool {
    let want = [
        Token::Punct('#'),
        Token::Punct('['),
        Token::Word("cfg".into()),
        Token::Punct('('),
        Token::Word("test".into()),
        Token::Punct(')'),
        Token::Punct(']'),
    ];
    tokens.len() >= want.len() && tokens[..want.len()] == want
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every library source file as (path relative to the root, text), skipped ones left out.
fn library_sources() -> Vec<(String, String)> {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    files.sort();
    let sources: Vec<(String, String)> = files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .filter(|(rel, _)| !SKIPPED.iter().any(|(s, _)| s == rel))
        .collect();
    assert!(sources.len() > 50, "found only {} files", sources.len());
    sources
}

/// Where each of `names` is written as a literal in the library sources.
fn occurrences(names: &[&str]) -> Vec<(String, Vec<String>)> {
    let sources = library_sources();
    names
        .iter()
        .map(|name| {
            let places = sources
                .iter()
                .flat_map(|(rel, text)| {
                    library_literals(text)
                        .into_iter()
                        .filter(|l| spells(&l.value, name))
                        .filter(move |_| {
                            !OTHER_MEANINGS.iter().any(|(f, n, _)| f == rel && n == name)
                        })
                        .map(move |l| format!("{rel}:{}", l.line))
                })
                .collect();
            (name.to_string(), places)
        })
        .collect()
}

/// `literal` is `name` or starts a `name:key=value,…` string with it.
fn spells(literal: &str, name: &str) -> bool {
    literal == name
        || literal
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(':'))
}

fn assert_unique(kind: &str, names: &[&str]) {
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    let twice: Vec<&&str> = sorted
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| &w[0])
        .collect();
    assert!(twice.is_empty(), "{kind} names registered twice: {twice:?}");
}

fn assert_named_once(kind: &str, names: &[&str]) {
    let wrong: Vec<String> = occurrences(names)
        .into_iter()
        .filter(|(_, places)| places.len() != 1)
        .map(|(name, places)| {
            format!(
                "{kind} {name:?} is written {} times (once, in its entry, is right): {places:?}",
                places.len()
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_trainer_is_named_once_in_its_entry() {
    let names: Vec<&str> = fitbench_harness::registry::trainers()
        .map(|e| e.name)
        .collect();
    assert!(names.len() >= 9, "{names:?}");
    assert_unique("trainer", &names);
    assert_named_once("trainer", &names);
}

#[test]
fn every_generator_is_named_once_in_its_entry() {
    let names: Vec<&str> = fitbench_harness::registry::generators()
        .map(|g| g.name)
        .collect();
    assert!(names.len() >= 4, "{names:?}");
    let mut datasets = names.clone();
    datasets.extend(fitbench_harness::datasets::BUILTIN.iter().map(|b| b.name));
    assert_unique("dataset", &datasets);
    assert_named_once("generator", &names);
}

#[test]
fn the_lexer_reads_literals_and_skips_comments_and_test_items() {
    let src = r####"
        // "adam" in a line comment
        /* "adam" in a /* nested */ block comment */
        /// "adam" in a doc comment
        const A: &str = "adam";
        const B: &str = r#"raw "adam""#;
        const C: char = '"';
        fn f<'a>(x: &'a str) -> &'a str { x }
        const D: &str = "esc\"aped";
        const E: &str = "con\
                         tinued";
        #[cfg(test)]
        mod tests {
            const T: &str = "adam";
            fn g() { let _ = { "adam" }; }
        }
        #[cfg(test)]
        use something::"not rust but skipped";
        const Z: &str = "after";
    "####;
    let values: Vec<String> = library_literals(src).into_iter().map(|l| l.value).collect();
    assert_eq!(
        values,
        ["adam", "raw \"adam\"", "esc\"aped", "continued", "after"]
    );
    let a = &library_literals(src)[0];
    assert_eq!(a.line, 5, "{a:?}");
}
