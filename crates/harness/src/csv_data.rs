//! Loading numeric CSV files (plain or gzip-compressed) into a [`Dataset`], with errors that
//! name the file, line and column and say how to fix the problem.
//!
//! A CSV dataset is content-addressed: its identity ([`csv_identity`]) is the SHA-256 of the
//! file's bytes together with the loading options (target, dropped columns, `--dedup`), never
//! the path. Its name ([`content_name`]) is `csv:STEM@ID`: the file stem is there to be read
//! and does not enter the seeds ([`crate::seeds::seed_key`]), so a copy, a rename or a symlink
//! of a file, and every spelling of its path, get the same split, initial weights and results.
//! The path is recorded in the dataset's provenance only.

use crate::error::{HarnessError, Result};
use faer::Mat;
use fitbench_core::Dataset;
use fitbench_report::config::CsvSpec;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Hex digits of a CSV dataset's identity ([`csv_identity`]) that its name carries (48 bits:
/// two different datasets collide with probability about 2⁻⁴⁸).
pub const NAME_HASH_HEX_DIGITS: usize = 12;

/// The SHA-256 of `bytes` in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The identity of a CSV dataset, in lowercase hex: the SHA-256 of the file's SHA-256 (of its
/// bytes as stored, compressed or not) and of the options that decide which data are loaded —
/// the target column, the dropped columns (trimmed, empty names ignored, as a set) and
/// [`CsvSpec::dedup`]. The path plays no part.
pub fn csv_identity(bytes: &[u8], spec: &CsvSpec) -> String {
    let mut drop: Vec<&str> = spec
        .drop
        .iter()
        .map(|d| d.trim())
        .filter(|d| !d.is_empty())
        .collect();
    drop.sort_unstable();
    drop.dedup();
    // Length-prefixed fields: no two option sets encode alike.
    let mut key = String::from("fitbench-csv-v1;");
    let file = sha256_hex(bytes);
    let dedup = if spec.dedup { "dedup" } else { "all-rows" };
    for field in [file.as_str(), spec.target.trim(), dedup]
        .into_iter()
        .chain(drop)
    {
        key.push_str(&format!("{}:{field};", field.len()));
    }
    sha256_hex(key.as_bytes())
}

/// The dataset name of a CSV file: `csv:STEM@ID`, where STEM is the file name without `.gz`
/// and `.csv` and ID the first [`NAME_HASH_HEX_DIGITS`] hex digits of its [`csv_identity`].
/// STEM is only for reading: seeds derive from `csv@ID` ([`crate::seeds::seed_key`]), so two
/// files with the same bytes get the same seeds whatever they are called.
pub fn content_name(path: &Path, bytes: &[u8], spec: &CsvSpec) -> String {
    let file = path
        .file_name()
        .map_or_else(|| path.to_string_lossy(), |f| f.to_string_lossy())
        .into_owned();
    let stem = file.strip_suffix(".gz").unwrap_or(&file);
    let stem = stem.strip_suffix(".csv").unwrap_or(stem);
    let id = csv_identity(bytes, spec);
    format!("csv:{stem}@{}", &id[..NAME_HASH_HEX_DIGITS])
}

/// What a non-regular file is, for the message that refuses it.
fn file_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// The sha256 of a CSV dataset's file, from the provenance [`load_csv_file`] wrote.
pub fn sha256_of_provenance(data: &Dataset) -> Option<String> {
    let rest = data.provenance.split("(sha256 ").nth(1)?;
    let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    (hex.len() == 64).then_some(hex)
}

/// Reads and parses the CSV file described by `spec`. Anything but a regular file (or a
/// symbolic link to one) is refused before it is opened: a device such as `/dev/zero` or a
/// FIFO would be read without end. The dataset is named after its content and options
/// ([`content_name`]); its provenance records the path as given and the file's full hash.
/// With [`CsvSpec::dedup`] the first copy of each duplicate row is kept and the others are
/// removed (counted in the provenance).
pub fn load_csv_file(spec: &CsvSpec) -> Result<Dataset> {
    let path = Path::new(&spec.path);
    let meta =
        std::fs::metadata(path).map_err(|e| HarnessError::io("cannot read CSV file", path, e))?;
    if !meta.file_type().is_file() {
        return Err(HarnessError::Csv {
            path: spec.path.clone(),
            line: None,
            column: None,
            message: format!("{}, not a regular file", file_kind(&meta.file_type())),
            hint: "--csv reads a regular .csv or .csv.gz file (a symbolic link to one is fine); \
                   save the data to a file first"
                .into(),
        });
    }
    let bytes =
        std::fs::read(path).map_err(|e| HarnessError::io("cannot read CSV file", path, e))?;
    let provenance = format!("user file {} (sha256 {})", spec.path, sha256_hex(&bytes));
    let data = parse_csv(
        &bytes,
        &spec.path,
        &content_name(path, &bytes, spec),
        &spec.target,
        &spec.drop,
        &provenance,
    )?;
    if !spec.dedup {
        return Ok(data);
    }
    let (mut data, removed) = data.without_duplicate_rows();
    data.provenance = format!("{provenance}, --dedup removed {removed} duplicate row(s)");
    Ok(data)
}

/// The 1-based line on which byte `offset` of `text` lies. `\r\n`, a lone `\r` and a lone
/// `\n` each end one line, so CRLF and CR-only (old Mac) files are numbered as an editor
/// shows them.
pub fn line_at(text: &[u8], offset: u64) -> u64 {
    let end = usize::try_from(offset).map_or(text.len(), |o| o.min(text.len()));
    let mut line = 1;
    let mut i = 0;
    while i < end {
        match text[i] {
            b'\n' => line += 1,
            b'\r' => {
                line += 1;
                if text.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    line
}

/// The line a record whose reading started at byte `offset` begins on: the csv reader's
/// record positions include the line ends of blank lines it skipped before the record, so
/// those are skipped here too (a record never starts with a line end).
fn record_line(text: &[u8], offset: u64) -> u64 {
    let start = usize::try_from(offset).map_or(text.len(), |o| o.min(text.len()));
    let skipped = text[start..]
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    line_at(text, (start + skipped) as u64)
}

/// The byte offset of a quote that opens a cell and is never closed, if any. Follows the
/// csv reader's rules (RFC 4180): a quote opens a quoted cell only as the cell's first byte;
/// inside it `""` is a literal quote and a lone `"` closes it. The reader itself takes such a
/// file as one long last cell, which showed as a ragged row.
fn unterminated_quote(text: &[u8]) -> Option<usize> {
    #[derive(Clone, Copy)]
    enum State {
        CellStart,
        Unquoted,
        Quoted(usize),
        QuoteInQuoted(usize),
    }
    let mut state = State::CellStart;
    for (i, &b) in text.iter().enumerate() {
        let ends_cell = matches!(b, b',' | b'\n' | b'\r');
        state = match (state, b) {
            (State::CellStart, b'"') => State::Quoted(i),
            (State::Quoted(open), b'"') => State::QuoteInQuoted(open),
            (State::Quoted(open), _) => State::Quoted(open),
            (State::QuoteInQuoted(open), b'"') => State::Quoted(open),
            (State::CellStart | State::Unquoted | State::QuoteInQuoted(_), _) if ends_cell => {
                State::CellStart
            }
            _ => State::Unquoted,
        };
    }
    match state {
        State::Quoted(open) => Some(open),
        _ => None,
    }
}

/// A separator other than ',' that a one-column header contains, with its name for
/// messages: the file is most likely separated by it.
fn foreign_delimiter(header: &str) -> Option<(char, &'static str)> {
    [(';', "semicolon"), ('\t', "tab"), ('|', "pipe")]
        .into_iter()
        .find(|(c, _)| header.contains(*c))
}

/// Parses CSV `bytes` (gzip-compressed if they start with the gzip magic number).
///
/// `origin` names the source in error messages. The first row is the header; every other
/// row must have one numeric, finite cell per header column. `target` and the `drop` names
/// are trimmed (`--drop 'a, b'` drops `a` and `b`); empty `drop` names are ignored. Line
/// numbers in errors count `\r\n`, `\r` and `\n` line ends alike ([`line_at`]).
pub fn parse_csv(
    bytes: &[u8],
    origin: &str,
    name: &str,
    target: &str,
    drop: &[String],
    provenance: &str,
) -> Result<Dataset> {
    let target = target.trim();
    let drop: Vec<&str> = drop
        .iter()
        .map(|d| d.trim())
        .filter(|d| !d.is_empty())
        .collect();
    let text = decoded_text(bytes, origin)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_slice());
    let header = read_header(&mut reader, &text, origin)?;
    let columns = Columns::pick(&header, target, &drop, origin)?;
    let rows = read_rows(&mut reader, &text, &header, &columns, origin)?;
    check_rows(&rows, &columns, target, origin)?;
    let x = Mat::from_fn(rows.len(), columns.features.len(), |i, j| {
        rows[i][columns.features[j]]
    });
    let y = Mat::from_fn(rows.len(), 1, |i, _| rows[i][columns.target]);
    let names = columns
        .features
        .iter()
        .map(|&j| header[j].clone())
        .collect();
    Ok(Dataset::new(
        name,
        x,
        y,
        names,
        vec![target.to_string()],
        provenance,
    )?)
}

/// A CSV error of `origin`, at `line` and `column` when known.
fn csv_error(
    origin: &str,
    line: Option<u64>,
    column: Option<String>,
    message: String,
    hint: &str,
) -> HarnessError {
    HarnessError::Csv {
        path: origin.to_string(),
        line,
        column,
        message,
        hint: hint.to_string(),
    }
}

/// The line of the record at the reader's position `p`, if known.
fn line_of(text: &[u8], p: Option<&csv::Position>) -> Option<u64> {
    p.map(|p| record_line(text, p.byte()))
}

/// The text of `bytes` (gunzipped if gzip), refused when it is empty or a quoted cell is never
/// closed.
fn decoded_text(bytes: &[u8], origin: &str) -> Result<Vec<u8>> {
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut s = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut s)
            .map_err(|e| {
                csv_error(
                    origin,
                    None,
                    None,
                    format!("corrupt gzip data ({e})"),
                    "re-create the file with gzip",
                )
            })?;
        s
    } else {
        bytes.to_vec()
    };
    if text.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(csv_error(
            origin,
            None,
            None,
            "the file is empty".into(),
            "provide a header row and at least 3 data rows",
        ));
    }
    if let Some(open) = unterminated_quote(&text) {
        return Err(csv_error(
            origin,
            None,
            None,
            format!(
                "unterminated quote starting at line {}",
                line_at(&text, open as u64)
            ),
            "close the quoted cell with '\"' (a '\"' inside a quoted cell is written '\"\"')",
        ));
    }
    Ok(text)
}

/// The column names of the header row: comma-separated, each named, no name twice.
fn read_header(reader: &mut csv::Reader<&[u8]>, text: &[u8], origin: &str) -> Result<Vec<String>> {
    let header_record = reader.headers().map_err(|e| {
        csv_error(
            origin,
            line_of(text, e.position()).or(Some(1)),
            None,
            format!("cannot read the header ({e})"),
            "the first line must be comma-separated column names",
        )
    })?;
    let header_line = line_of(text, header_record.position()).unwrap_or(1);
    let header: Vec<String> = header_record.iter().map(str::to_string).collect();
    if let [only] = header.as_slice()
        && let Some((c, separator)) = foreign_delimiter(only)
    {
        return Err(csv_error(
            origin,
            Some(header_line),
            None,
            format!(
                "the header is one column {only:?} containing {c:?}: the file looks {separator}-separated, but fitbench reads comma-separated files"
            ),
            "save the file with ',' between columns and '.' as the decimal point (e.g. a spreadsheet's \"CSV, comma-separated\" export)",
        ));
    }
    for (j, h) in header.iter().enumerate() {
        if h.is_empty() {
            return Err(csv_error(
                origin,
                Some(header_line),
                Some(format!("{}", j + 1)),
                "empty column name".into(),
                "give every column a name in the header",
            ));
        }
        if let Some(first) = header[..j].iter().position(|o| o == h) {
            return Err(csv_error(
                origin,
                Some(header_line),
                Some(format!("{} ({h:?})", j + 1)),
                format!("duplicate column name {h:?} (also column {})", first + 1),
                "rename one of the columns",
            ));
        }
    }
    Ok(header)
}

/// The roles of the header's columns.
struct Columns {
    /// The target column.
    target: usize,
    /// Per column: dropped (`--drop`).
    dropped: Vec<bool>,
    /// The feature columns, in file order: neither the target nor dropped.
    features: Vec<usize>,
}

impl Columns {
    /// Finds the target and the dropped columns in `header`; at least one feature must be
    /// left.
    fn pick(header: &[String], target: &str, drop: &[&str], origin: &str) -> Result<Self> {
        let unknown = |kind: &'static str, name: &str| HarnessError::UnknownColumn {
            kind,
            name: name.to_string(),
            path: origin.to_string(),
            known: header.join(", "),
        };
        let target_col = header
            .iter()
            .position(|h| h == target)
            .ok_or_else(|| unknown("target column", target))?;
        for &d in drop {
            if !header.iter().any(|h| h == d) {
                return Err(unknown("column to drop", d));
            }
            if d == target {
                return Err(HarnessError::Config(format!(
                    "column {target:?} is both the target and dropped"
                )));
            }
        }
        let dropped: Vec<bool> = header.iter().map(|h| drop.contains(&h.as_str())).collect();
        let features: Vec<usize> = (0..header.len())
            .filter(|&j| j != target_col && !dropped[j])
            .collect();
        if features.is_empty() {
            return Err(csv_error(
                origin,
                None,
                None,
                "no feature columns left".into(),
                "keep at least one column besides the target",
            ));
        }
        Ok(Self {
            target: target_col,
            dropped,
            features,
        })
    }
}

/// The data rows, one value per header column (0 in dropped columns); blank lines are
/// skipped, a ragged row is refused.
fn read_rows(
    reader: &mut csv::Reader<&[u8]>,
    text: &[u8],
    header: &[String],
    columns: &Columns,
    origin: &str,
) -> Result<Vec<Vec<f64>>> {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            csv_error(
                origin,
                line_of(text, e.position()),
                None,
                format!("cannot parse the row ({e})"),
                "check quoting and encoding (UTF-8)",
            )
        })?;
        if record.len() == 1 && record.get(0) == Some("") {
            continue; // blank line
        }
        let line = line_of(text, record.position());
        if record.len() != header.len() {
            return Err(csv_error(
                origin,
                line,
                None,
                format!(
                    "ragged row: {} cells, the header has {}",
                    record.len(),
                    header.len()
                ),
                "every row needs one cell per header column",
            ));
        }
        let mut row = Vec::with_capacity(header.len());
        for (j, cell) in record.iter().enumerate() {
            if columns.dropped[j] {
                row.push(0.0);
                continue;
            }
            let column = || Some(format!("{} ({:?})", j + 1, header[j]));
            let is_target = j == columns.target;
            row.push(
                cell_value(cell, is_target)
                    .map_err(|(message, hint)| csv_error(origin, line, column(), message, hint))?,
            );
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The value of one cell: a finite number, or the message and hint that refuse it.
fn cell_value(cell: &str, is_target: bool) -> std::result::Result<f64, (String, &'static str)> {
    let v: f64 = cell.parse().map_err(|_| {
        let msg = if cell.is_empty() {
            "empty cell".to_string()
        } else {
            format!("non-numeric cell {cell:?}")
        };
        // --drop would drop the target itself: name the fixes that keep it.
        let hint = match (is_target, cell.is_empty()) {
            (true, _) => "the target column needs a number in every row: remove or fill in the rows whose target is missing or not a number, or choose another column with --target",
            (false, true) => "fill in the missing value or drop the row (or the column with --drop)",
            (false, false) => "use plain numbers, encode categories as 0/1 columns, or drop the column with --drop",
        };
        (msg, hint)
    })?;
    if !v.is_finite() {
        return Err((
            format!("non-finite value {cell:?}"),
            "replace NaN/inf by a number or drop the row",
        ));
    }
    Ok(v)
}

/// Enough rows to split (3), and a target that varies.
fn check_rows(rows: &[Vec<f64>], columns: &Columns, target: &str, origin: &str) -> Result<()> {
    if rows.len() < 3 {
        return Err(csv_error(
            origin,
            None,
            None,
            format!(
                "too few data rows to split into train and test ({} found)",
                rows.len()
            ),
            "provide at least 3 data rows (more than 20 for meaningful results)",
        ));
    }
    let first = rows[0][columns.target];
    if rows.iter().all(|r| r[columns.target] == first) {
        return Err(csv_error(
            origin,
            None,
            Some(format!("{} ({target:?})", columns.target + 1)),
            format!("the target column is constant ({first})"),
            "choose a target column that varies",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, target: &str, drop: &[&str]) -> Result<Dataset> {
        let drop: Vec<String> = drop.iter().map(|s| s.to_string()).collect();
        parse_csv(text.as_bytes(), "t.csv", "t", target, &drop, "test")
    }

    fn message(text: &str, target: &str) -> String {
        parse(text, target, &[]).unwrap_err().to_string()
    }

    const GOOD: &str = "a,b,y\n1,2,3\n4,5,6.5\n7,8,1\n0,1,2\n";

    #[test]
    fn parses_good_data_and_drops_columns() {
        let d = parse(GOOD, "y", &[]).unwrap();
        assert_eq!((d.n(), d.d(), d.k()), (4, 2, 1));
        assert_eq!(d.y[(1, 0)], 6.5);
        let d = parse(GOOD, "a", &["b"]).unwrap();
        assert_eq!(d.feature_names, vec!["y".to_string()]);
        assert_eq!(d.x[(0, 0)], 3.0);
    }

    #[test]
    fn gzip_is_detected() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(GOOD.as_bytes()).unwrap();
        let bytes = enc.finish().unwrap();
        let d = parse_csv(&bytes, "t.csv.gz", "t", "y", &[], "").unwrap();
        assert_eq!(d.n(), 4);
    }

    #[test]
    fn each_bad_input_has_a_precise_message() {
        // (input, target, fragments the message must contain)
        let cases: &[(&str, &str, &[&str])] = &[
            ("", "y", &["t.csv", "empty"]),
            (
                "a,b,y\n1,2,3\n4,x,6\n7,8,9\n",
                "y",
                &["line 3", "column 2 (\"b\")", "non-numeric", "\"x\""],
            ),
            (
                "a,b,y\n1,2,3\n4,5\n7,8,9\n",
                "y",
                &["line 3", "ragged", "2 cells"],
            ),
            (
                "a,b,y\n1,2,3\n4,NaN,6\n7,8,9\n",
                "y",
                &["line 3", "column 2", "non-finite"],
            ),
            (
                "a,b,y\n1,2,3\n4,inf,6\n7,8,9\n",
                "y",
                &["line 3", "non-finite"],
            ),
            (
                "a,b,y\n1,2,3\n4,,6\n7,8,9\n",
                "y",
                &["line 3", "empty cell"],
            ),
            (GOOD, "z", &["unknown target column", "z", "a, b, y"]),
            (
                "a,b,y\n1,2,3\n4,5,3\n7,8,3\n",
                "y",
                &["constant", "column 3"],
            ),
            (
                "a,a,y\n1,2,3\n4,5,6\n7,8,9\n",
                "y",
                &["line 1", "duplicate column name \"a\""],
            ),
            (
                "a,b,y\n1,2,3\n4,5,6\n",
                "y",
                &["too few data rows", "2 found"],
            ),
        ];
        for (text, target, fragments) in cases {
            let msg = message(text, target);
            for f in *fragments {
                assert!(msg.contains(f), "message {msg:?} lacks {f:?}");
            }
        }
        let msg = parse(GOOD, "y", &["nope"]).unwrap_err().to_string();
        assert!(
            msg.contains("column to drop") && msg.contains("nope"),
            "{msg}"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let spec = CsvSpec {
            path: "/nonexistent/dir/data.csv".into(),
            target: "y".into(),
            drop: vec![],
            dedup: false,
        };
        let msg = load_csv_file(&spec).unwrap_err().to_string();
        assert!(
            msg.contains("/nonexistent/dir/data.csv") && msg.contains("cannot read"),
            "{msg}"
        );
    }
}
