//! Small order statistics used by summaries and plots.

/// Median of finite values (mean of the two middle ones for even counts); `None` if empty.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    })
}

/// The median of `v` where a miss counts as +∞ like any value (NaN is read as a miss), sorting
/// `v` in place: +∞ when more than half are misses (or, for an even count, when the upper
/// middle one is), or when `v` is empty. Used where a run that never got somewhere must not
/// be left out (which would favour a trainer that often misses).
pub fn median_counting_misses(v: &mut [f64]) -> f64 {
    for x in v.iter_mut().filter(|x| x.is_nan()) {
        *x = f64::INFINITY;
    }
    if v.is_empty() {
        return f64::INFINITY;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    }
}

/// (min, median, max) of finite values.
pub fn min_median_max(v: Vec<f64>) -> Option<(f64, f64, f64)> {
    let lo = v
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(f64::INFINITY, f64::min);
    let hi = v
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    median(v).map(|m| (lo, m, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misses_count_as_infinitely_slow() {
        let inf = f64::INFINITY;
        assert_eq!(median_counting_misses(&mut []), inf);
        assert_eq!(median_counting_misses(&mut [3.0, inf, 1.0]), 3.0);
        assert_eq!(median_counting_misses(&mut [1.0, inf, f64::NAN]), inf);
        assert_eq!(median_counting_misses(&mut [1.0, 3.0, inf, 2.0]), 2.5);
        assert_eq!(median_counting_misses(&mut [1.0, inf, inf, 2.0]), inf);
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![f64::NAN, 1.0]), Some(1.0));
        assert_eq!(min_median_max(vec![5.0, 1.0, 3.0]), Some((1.0, 3.0, 5.0)));
    }
}
