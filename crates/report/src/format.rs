//! Number formatting shared by every table fitbench prints.

/// A number for tables: integers as integers, others with four significant digits.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.4e}")
    }
}

/// A duration in human units.
pub fn duration(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// A byte count in human units (decimal: kB, MB, GB).
pub fn bytes(b: f64) -> String {
    if b < 1e3 {
        format!("{b:.0} B")
    } else if b < 1e6 {
        format!("{:.1} kB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.2} GB", b / 1e9)
    }
}

/// Allocation calls per step: an integer when whole, else one decimal.
pub fn per_step(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A Unix time as an ISO 8601 UTC timestamp, e.g. `2026-12-07T00:15:02Z`.
pub fn utc_time(unix_s: u64) -> String {
    let (date, secs) = utc_parts(unix_s);
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A Unix time as a compact UTC stamp for file names, e.g. `20261207T001502Z`.
pub fn utc_stamp(unix_s: u64) -> String {
    utc_time(unix_s).replace(['-', ':'], "")
}

/// The civil date (`YYYY-MM-DD`, proleptic Gregorian) and the seconds into that day.
fn utc_parts(unix_s: u64) -> (String, u64) {
    let days = (unix_s / 86_400) as i64;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (format!("{y:04}-{m:02}-{d:02}"), unix_s % 86_400)
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn unix_times_format_as_utc() {
        assert_eq!(utc_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_time(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_stamp(1_796_602_502), "20261207T001502Z");
    }
}
