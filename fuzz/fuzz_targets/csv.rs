//! Fuzzes the CSV loader (`fitbench_harness::csv_data::parse_csv`): any bytes must give a
//! dataset or an error, never a panic, and an error's line number must lie inside the file.

#![no_main]

use fitbench_harness::csv_data::parse_csv;
use fitbench_harness::error::HarnessError;
use libfuzzer_sys::fuzz_target;

/// Target columns the first input byte chooses from (with stray spaces, as typed).
const TARGETS: [&str; 4] = ["y", "a", " y ", "b"];

/// Lines of `text`: `\r\n`, `\r` and `\n` each end one.
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

fuzz_target!(|data: &[u8]| {
    // The first byte picks the target and the dropped columns; the rest is the file.
    let Some((&choice, bytes)) = data.split_first() else {
        return;
    };
    let target = TARGETS[usize::from(choice) % TARGETS.len()];
    let drop: Vec<String> = if choice & 0x80 == 0 {
        vec![]
    } else {
        vec![" b".into(), String::new()]
    };
    match parse_csv(bytes, "fuzz.csv", "fuzz", target, &drop, "fuzz") {
        Ok(d) => assert!(d.n() >= 3 && d.d() >= 1),
        Err(HarnessError::Csv {
            line: Some(line), ..
        }) if !bytes.starts_with(&[0x1f, 0x8b]) => {
            assert!((1..=lines(bytes)).contains(&line), "line {line}");
        }
        Err(_) => {}
    }
});
