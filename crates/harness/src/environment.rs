//! Process-wide settings and measurements of the harness: thread counts and the calibration
//! kernel (timed here, because only the harness reads the clock during a sweep). What a
//! report records about its environment is [`fitbench_report::environment`].

pub use fitbench_report::environment::{CALIBRATION_KERNEL, calibration, capture};

/// Measures the calibration kernel once: GFLOP/s of the best of 30 multiplications of two
/// 256 × 256 matrices on one thread (after one warm-up).
pub fn calibrate_once() -> f64 {
    use fitbench_core::linalg::{CALIBRATION_N, calibration_kernel, calibration_matrix};
    let a = calibration_matrix();
    let mut out = faer::Mat::<f64>::zeros(CALIBRATION_N, CALIBRATION_N);
    let mut best = f64::INFINITY;
    for rep in 0..31 {
        let t0 = std::time::Instant::now();
        calibration_kernel(out.as_mut(), a.as_ref());
        let dt = t0.elapsed().as_secs_f64();
        std::hint::black_box(&out);
        if rep > 0 {
            best = best.min(dt);
        }
    }
    2.0 * (CALIBRATION_N as f64).powi(3) / best.max(1e-12) / 1e9
}

/// Sets faer's global parallelism and builds rayon's global pool with `threads` threads
/// (rayon's pool can be built once per process; later calls keep the first size).
pub fn set_threads(threads: usize) {
    faer::set_global_parallelism(if threads <= 1 {
        faer::Par::Seq
    } else {
        faer::Par::rayon(threads)
    });
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build_global();
}
