//! # fitbench-external
//!
//! Trainers outside the workspace: a child process that speaks fitbench's protocol
//! (`docs/protocol.md`: JSON lines on its stdin and stdout) is a [`fitbench_core::Trainer`]
//! like any other. The harness's rules reach it: the training data, standardised as every
//! trainer sees them, and the shared initial parameters are handed over as `.npy` files; only
//! the `step` round trip is timed; the loss is evaluated by fitbench from the parameters the
//! child reports.
//!
//! A trainer string `ext:name=NAME,cmd=COMMAND,…` ([`EXT`]) or a config file's
//! `[[external]]` table declares one; the harness then runs it like a built-in. Failures stay
//! in their run: a child that exits, answers garbage or parameters of the wrong length ends
//! its run as `error`, non-finite parameters as `diverged`, no answer within `timeout_s` as
//! `unresponsive` (the child is killed), each with the tail of the child's stderr.

//!
//! ```no_run
//! use fitbench_core::{synthetic, Activation, Architecture, Mlp, Split, TrainerConfig};
//! use fitbench_external::ExternalConfig;
//!
//! let split = Split::new(&synthetic::smooth2d(200, 0.1, 1)?, 0.2, 0)?;
//! let initial = Mlp::init(&Architecture::new(vec![8], Activation::Tanh), 2, 1, 0)?;
//! // `python3 clients/python/examples/pure_gd.py` speaks the protocol; lr is its option.
//! let config = ExternalConfig::new("pure-gd", "python3 clients/python/examples/pure_gd.py")
//!     .with_option("lr", 0.1);
//! let mut trainer = config.init(&split.train, initial, 0)?;
//! trainer.step()?; // one round trip: what the harness times
//! let after = trainer.try_params()?; // read back from the child (untimed), checked
//! println!("{}", after.mse(split.train.x.as_ref(), split.train.y.as_ref())?);
//! # Ok::<(), fitbench_core::Error>(())
//! ```

#![deny(missing_docs)]

pub mod child;
pub mod error;
pub mod npy;
pub mod trainer;

pub use error::ExternalError;
pub use trainer::{CommandLine, ExternalConfig, ExternalTrainer, hello};

use fitbench_core::registry::{Capabilities, TrainerEntry};

/// The registry entry of `ext:name=NAME,cmd=COMMAND[,cwd=DIR][,timeout_s=S][,OPTION=VALUE…]`:
/// a trainer in another process. Its reports carry the declared `name`, not `ext`.
pub const EXT: TrainerEntry = TrainerEntry::of::<ExternalConfig>(
    "ext",
    "a trainer in another process, speaking docs/protocol.md: ext:name=NAME,cmd=COMMAND[,cwd=DIR,timeout_s=S,OPTION=VALUE…] (other keys are the trainer's own options)",
    // Every `step` writes a request and parses a reply (a few small allocations per step).
    Capabilities {
        allocates_in_step: true,
        ..Capabilities::NONE
    },
);
