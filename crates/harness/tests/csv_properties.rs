//! Property tests of the CSV loader: whatever the bytes, it returns a dataset or an error
//! (with a line number inside the file, where the error has one), never panics; valid
//! tables round-trip exactly under every line ending, and a bad cell is reported on its line.
//!
//! The case count is modest so the normal `cargo test` run stays fast; raise it with
//! `PROPTEST_CASES=100000 cargo test -p fitbench-harness --test csv_properties`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fitbench_harness::csv_data::parse_csv;
use fitbench_harness::error::HarnessError;
use proptest::prelude::*;

/// Cases per property in the normal test run.
const CASES: u32 = 256;

/// Lines of `text` as an editor counts them: `\r\n`, `\r` and `\n` each end one.
fn lines(text: &[u8]) -> u64 {
    let mut n = 1;
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\n' || text[i] == b'\r' {
            n += 1;
            if text[i] == b'\r' && text.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
        }
        i += 1;
    }
    n
}

/// Parses `bytes` and checks the result: a dataset with at least 3 rows, one feature and
/// finite values, or an error whose line (if any) lies inside the file.
fn check(bytes: &[u8], target: &str, drop: &[String]) -> Result<(), TestCaseError> {
    match parse_csv(bytes, "p.csv", "p", target, drop, "property test") {
        Ok(d) => {
            prop_assert!(d.n() >= 3 && d.d() >= 1 && d.k() == 1);
            prop_assert!(d.x.col_iter().all(|c| c.iter().all(|v| v.is_finite())));
            prop_assert!(d.y.col_iter().all(|c| c.iter().all(|v| v.is_finite())));
        }
        Err(HarnessError::Csv {
            line: Some(line), ..
        }) => {
            // Arbitrary bytes are gzip-compressed only by accident; the bound is for text.
            if !bytes.starts_with(&[0x1f, 0x8b]) {
                prop_assert!(
                    (1..=lines(bytes)).contains(&line),
                    "line {line} outside 1..={}",
                    lines(bytes)
                );
            }
        }
        Err(e) => prop_assert!(!e.to_string().is_empty()),
    }
    Ok(())
}

/// Characters CSV files are made of, weighted towards the troublesome ones.
fn csv_text() -> impl Strategy<Value = String> {
    let alphabet = prop::sample::select(vec![
        'a', 'b', 'y', '0', '1', '7', '.', '-', 'e', ',', ',', ',', ';', '"', '\r', '\n', '\n',
        ' ', '\t', 'x', 'N', 'é', '\u{feff}',
    ]);
    (prop::bool::ANY, prop::collection::vec(alphabet, 0..200)).prop_map(|(header, chars)| {
        let body: String = chars.into_iter().collect();
        if header {
            format!("a,b,y\n{body}")
        } else {
            body
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_bytes_never_panic_the_csv_loader(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        target in prop::sample::select(vec!["y", "a", " y "]),
        drop in prop::sample::select(vec![vec![], vec!["b".to_string()], vec![" a".to_string(), String::new()]]),
    ) {
        check(&bytes, target, &drop)?;
    }

    #[test]
    fn csv_like_text_never_panics_the_csv_loader(
        text in csv_text(),
        target in prop::sample::select(vec!["y", "b"]),
    ) {
        check(text.as_bytes(), target, &[])?;
    }

    #[test]
    fn valid_tables_round_trip_and_bad_cells_name_their_line_under_any_line_ending(
        rows in prop::collection::vec(prop::collection::vec(-1e6f64..1e6, 3), 3..20),
        ending in prop::sample::select(vec!["\n", "\r\n", "\r"]),
        blank_after_header in prop::bool::ANY,
        bad in (any::<prop::sample::Index>(), 0usize..3),
    ) {
        prop_assume!(rows.iter().any(|r| r[2] != rows[0][2]), "the target must vary");
        let mut lines_out = vec!["a,b,y".to_string()];
        if blank_after_header {
            lines_out.push(String::new());
        }
        let first_row_line = lines_out.len() + 1;
        lines_out.extend(rows.iter().map(|r| {
            r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")
        }));
        let text = lines_out.join(ending) + ending;
        let d = parse_csv(text.as_bytes(), "p.csv", "p", "y", &[], "").unwrap();
        prop_assert_eq!(d.n(), rows.len());
        for (i, r) in rows.iter().enumerate() {
            prop_assert_eq!((d.x[(i, 0)], d.x[(i, 1)], d.y[(i, 0)]), (r[0], r[1], r[2]));
        }

        // Spoil one cell: the error names its line as an editor numbers it.
        let (row, col) = (bad.0.index(rows.len()), bad.1);
        let mut spoiled = lines_out.clone();
        let k = first_row_line - 1 + row;
        let mut cells: Vec<String> = spoiled[k].split(',').map(str::to_string).collect();
        cells[col] = "oops".into();
        spoiled[k] = cells.join(",");
        let text = spoiled.join(ending) + ending;
        match parse_csv(text.as_bytes(), "p.csv", "p", "y", &[], "") {
            Err(HarnessError::Csv { line, column, .. }) => {
                prop_assert_eq!(line, Some((first_row_line + row) as u64));
                let prefix = format!("{} ", col + 1);
                prop_assert!(column.is_some_and(|c| c.starts_with(&prefix)), "column {}", col + 1);
            }
            other => {
                return Err(TestCaseError::fail(format!("expected a CSV error, got {other:?}")));
            }
        }
    }
}
