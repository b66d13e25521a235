//! `cargo run -p fitbench-example-extend -- [OUT]`: registers the example's trainer and
//! generator, runs the example sweep into OUT (default `target/example-extend`) and prints
//! each run's final test MSE.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/example-extend"), PathBuf::from);
    fitbench_example_extend::register()?;
    let report = fitbench_example_extend::sweep(&out, 2.0)?;
    for run in &report.runs {
        let mse = run.summary.final_test_mse.unwrap_or(f64::NAN);
        println!(
            "{:<14} {:<28} seed {}  {:<10} final test MSE {mse:.4}",
            run.dataset,
            run.trainer,
            run.repetition,
            run.status.as_str()
        );
    }
    println!("report: {}", out.join("report.json").display());
    Ok(())
}
