//! The registry: every trainer and dataset fitbench can run, by name.
//!
//! Trainers come from the trainer crates' `TRAINERS` slices, chained here in a fixed order
//! (one line per crate); nothing else in the harness names a trainer. Synthetic generators
//! come from [`fitbench_core::synthetic::SYNTHETIC`], built-in real datasets from
//! [`crate::builtin::BUILTIN`].
//!
//! A program outside fitbench adds its own trainers and generators beside the built-ins with
//! [`register`] (once, before it builds a request); from then on they are listed, parsed and
//! run like built-ins (`mytrainer:k=v`, `mygen:n=500`). `examples/extend` does this.
//!
//! A trainer is used through its [`TrainerSpec`]: the registry entry plus the options it was
//! given. Tuning changes `lr` and `--backend` sets `backend` by re-parsing the options, for
//! exactly the trainers whose [`Capabilities`] say they have one.

use crate::error::{HarnessError, Result};
use fitbench_core::registry::{Capabilities, DynTrainerConfig, TrainerEntry};
use fitbench_core::synthetic::{SYNTHETIC, SyntheticEntry};
use fitbench_core::{Options, TrainerConfig};
use fitbench_external::EXT;
use fitbench_report::config::ExternalDecl;
use std::sync::{RwLock, RwLockReadGuard};

/// The trainer crates' registries, in the order `fitbench list trainers` shows them.
const CRATES: &[&[TrainerEntry]] = &[
    fitbench_lsq::TRAINERS,
    fitbench_analytic::TRAINERS,
    fitbench_classic::TRAINERS,
    fitbench_sgd::TRAINERS,
];

/// Dataset names no generator may take: `csv` (user files are named `csv:…`).
const RESERVED_DATASET_NAMES: &[&str] = &["csv"];

/// Entries registered by the program at run time ([`register`]), after the built-ins.
struct Registered {
    trainers: Vec<&'static TrainerEntry>,
    generators: Vec<&'static SyntheticEntry>,
}

static REGISTERED: RwLock<Registered> = RwLock::new(Registered {
    trainers: Vec::new(),
    generators: Vec::new(),
});

/// The registered entries (a panic elsewhere cannot leave them half-written: [`register`]
/// checks everything before it pushes).
fn registered() -> RwLockReadGuard<'static, Registered> {
    REGISTERED.read().unwrap_or_else(|e| e.into_inner())
}

/// Adds `trainers` and synthetic `generators` defined outside fitbench beside the built-ins,
/// for the rest of the process: [`trainers`], [`trainer`], [`generators`], [`generator`] (and
/// so requests, `fitbench list`, reports) see them after the built-ins, in the order
/// registered.
///
/// Refused, with nothing registered, when a name is empty or not a plain word (it may not
/// contain `:`, `,`, `=`, `;` or whitespace), when a trainer's name is already a trainer's
/// (built in, registered earlier, or twice in `trainers`), or when a generator's name is
/// already a dataset's (a built-in real dataset, a generator, `csv`), or when an entry breaks
/// the rules every built-in keeps ([`TrainerEntry::check_rules`],
/// [`SyntheticEntry::check_rules`]: e.g. a `learning_rate` capability without an `lr`
/// option, a generator without `seed`). Registering the same slices twice is therefore an
/// error too: register each name once per process.
pub fn register(
    trainers: &'static [TrainerEntry],
    generators: &'static [SyntheticEntry],
) -> Result<()> {
    let mut registered = REGISTERED.write().unwrap_or_else(|e| e.into_inner());
    let mut trainer_names: Vec<&str> = CRATES
        .iter()
        .flat_map(|c| c.iter())
        .chain(registered.trainers.iter().copied())
        .map(|e| e.name)
        .collect();
    for entry in trainers {
        plain_word("trainer", entry.name)?;
        if trainer_names.contains(&entry.name) {
            return Err(HarnessError::Registry(format!(
                "cannot register trainer {:?}: a trainer of that name is already registered \
                 (`console::listing(Listing::Trainers)`); give it another name",
                entry.name
            )));
        }
        entry
            .check_rules()
            .map_err(|e| HarnessError::Registry(format!("cannot register: {e}")))?;
        trainer_names.push(entry.name);
    }
    let mut dataset_names: Vec<&str> = crate::builtin::BUILTIN
        .iter()
        .map(|b| b.name)
        .chain(RESERVED_DATASET_NAMES.iter().copied())
        .chain(SYNTHETIC.iter().map(|g| g.name))
        .chain(registered.generators.iter().map(|g| g.name))
        .collect();
    for entry in generators {
        plain_word("generator", entry.name)?;
        if dataset_names.contains(&entry.name) {
            return Err(HarnessError::Registry(format!(
                "cannot register generator {:?}: a dataset of that name already exists \
                 (`console::listing(Listing::Datasets)`); give it another name",
                entry.name
            )));
        }
        entry
            .check_rules()
            .map_err(|e| HarnessError::Registry(format!("cannot register: {e}")))?;
        dataset_names.push(entry.name);
    }
    registered.trainers.extend(trainers);
    registered.generators.extend(generators);
    Ok(())
}

/// Refuses a name that `NAME:key=value,…` strings or lists could not carry.
fn plain_word(kind: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || [':', ',', '=', ';'].contains(&c))
    {
        return Err(HarnessError::Registry(format!(
            "cannot register {kind} {name:?}: a name must be a non-empty word without \
             ':', ',', '=', ';' or spaces (it is written NAME:key=value,…)"
        )));
    }
    Ok(())
}

/// Every trainer: the built-ins, then those registered with [`register`].
pub fn trainers() -> impl Iterator<Item = &'static TrainerEntry> {
    let extra = registered().trainers.clone();
    CRATES.iter().flat_map(|c| c.iter()).chain(extra)
}

/// The trainer registered as `name`.
pub fn trainer(name: &str) -> Result<&'static TrainerEntry> {
    trainers().find(|e| e.name == name).ok_or_else(|| {
        fitbench_core::Error::Unknown {
            kind: "trainer",
            name: name.into(),
            known: trainers().map(|e| e.name).collect::<Vec<_>>().join(", "),
        }
        .into()
    })
}

/// The capabilities of trainer `name` (`None` if it is not registered, e.g. a report from
/// another build).
pub fn capabilities(name: &str) -> Option<Capabilities> {
    trainers().find(|e| e.name == name).map(|e| e.capabilities)
}

/// Every synthetic generator: the built-ins ([`SYNTHETIC`]), then those registered with
/// [`register`].
pub fn generators() -> impl Iterator<Item = &'static SyntheticEntry> {
    let extra = registered().generators.clone();
    SYNTHETIC.iter().chain(extra)
}

/// The synthetic generator called `name`, if any.
pub fn generator(name: &str) -> Option<&'static SyntheticEntry> {
    generators().find(|g| g.name == name)
}

/// A trainer as requested: its registry entry, the options given, and the validated config.
#[derive(Clone)]
pub struct TrainerSpec {
    /// The registry entry.
    pub entry: &'static TrainerEntry,
    /// The options as given (`lr=…,batch=…`), plus any the harness set (`backend`, a tuned
    /// `lr`).
    pub options: Options,
    /// The validated config.
    pub config: Box<dyn DynTrainerConfig>,
    /// For a trainer declared by name (`[[external]]`), the declaration's options, which
    /// [`TrainerSpec::options`] are laid over; empty otherwise.
    pub base: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for TrainerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainerSpec")
            .field("name", &self.entry.name)
            .field("options", &self.options)
            .field("config", &self.config.to_json())
            .finish()
    }
}

impl TrainerSpec {
    /// Parses `NAME[:key=value,…]`, e.g. `ols:ridge=1e-6,solver=qr`, and validates it.
    pub fn parse(s: &str) -> Result<Self> {
        Self::parse_with(s, &[])
    }

    /// Parses `NAME[:key=value,…]` where NAME is a registered trainer, `ext` (a trainer in
    /// another process: `ext:name=N,cmd=COMMAND,…`), or one of the `external` declarations
    /// (its options laid under the ones given), and validates it.
    pub fn parse_with(s: &str, external: &[ExternalDecl]) -> Result<Self> {
        let (name, options) = Options::parse_named(s)?;
        if name == EXT.name {
            return Self::new(&EXT, options);
        }
        if let Some(entry) = trainers().find(|e| e.name == name) {
            return Self::new(entry, options);
        }
        if let Some(decl) = external.iter().find(|d| d.name == name) {
            if options.contains("name") {
                return Err(HarnessError::Config(format!(
                    "{s:?}: a declared trainer's name is {name:?}; to run it under another name, declare it again"
                )));
            }
            return Self::build(&EXT, options, declaration(decl));
        }
        Err(fitbench_core::Error::Unknown {
            kind: "trainer",
            name,
            known: trainers()
                .map(|e| e.name)
                .chain(external.iter().map(|d| d.name.as_str()))
                .chain([EXT.name])
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into())
    }

    /// Builds the config of `entry` from `options` and validates it.
    pub fn new(entry: &'static TrainerEntry, options: Options) -> Result<Self> {
        Self::build(entry, options, serde_json::Map::new())
    }

    fn build(
        entry: &'static TrainerEntry,
        options: Options,
        base: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self> {
        let config = if base.is_empty() {
            entry.parse(&options)?
        } else {
            let mut object = base.clone();
            object.extend(options.to_json());
            entry.parse_object(object)?
        };
        Ok(Self {
            entry,
            options,
            config,
            base,
        })
    }

    /// A copy with option `key` set to `value`.
    pub fn with_option(&self, key: &str, value: impl ToString) -> Result<Self> {
        Self::build(self.entry, self.options.with(key, value), self.base.clone())
    }

    /// A copy with learning rate `lr`, for trainers that have one (`None` otherwise).
    pub fn with_lr(&self, lr: f64) -> Option<Result<Self>> {
        self.entry
            .capabilities
            .learning_rate
            .then(|| self.with_option("lr", lr))
    }

    /// Sets the burn backend of a trainer that has one and whose options did not name one.
    pub fn with_default_backend(self, backend: &str) -> Result<Self> {
        if self.entry.capabilities.burn_backend && !self.options.contains("backend") {
            self.with_option("backend", backend)
        } else {
            Ok(self)
        }
    }

    /// The config as the core trait object.
    pub fn config(&self) -> &dyn TrainerConfig {
        &*self.config
    }

    /// An owned copy of the config as the trait object the run loop takes.
    pub fn boxed(&self) -> Box<dyn TrainerConfig + Send + Sync> {
        Box::new(Owned(self.config.clone_box()))
    }

    /// The config as JSON (for reports), with its entry's name under `"trainer"`
    /// ([`TrainerEntry::to_json`]).
    pub fn to_json(&self) -> serde_json::Value {
        self.entry.to_json(&*self.config)
    }
}

/// A registry config as a plain `TrainerConfig` object.
/// The `ext` options a declaration stands for: `name`, `cmd`, `cwd`, `timeout_s` and its
/// own options.
fn declaration(decl: &ExternalDecl) -> serde_json::Map<String, serde_json::Value> {
    let mut object = decl.options.clone();
    object.insert("name".into(), decl.name.clone().into());
    object.insert("cmd".into(), decl.cmd.clone());
    if let Some(cwd) = &decl.cwd {
        object.insert("cwd".into(), cwd.clone().into());
    }
    if let Some(t) = decl.timeout_s {
        object.insert("timeout_s".into(), t.into());
    }
    object
}

/// Checks a sweep's `[[external]]` declarations: each name a plain word, not a built-in
/// trainer's (nor `ext`), declared once, with none of the reserved keys among its options,
/// and its config valid.
pub fn check_declarations(external: &[ExternalDecl]) -> Result<()> {
    let mut seen: Vec<&str> = Vec::new();
    for decl in external {
        let what = format!("[[external]] {:?}", decl.name);
        if decl.name == EXT.name || trainers().any(|e| e.name == decl.name) {
            return Err(HarnessError::Config(format!(
                "{what}: a built-in trainer has that name; give the external trainer another"
            )));
        }
        if seen.contains(&decl.name.as_str()) {
            return Err(HarnessError::Config(format!(
                "{what} is declared twice; give each declaration its own name"
            )));
        }
        seen.push(&decl.name);
        if let Some(key) = decl
            .options
            .keys()
            .find(|k| fitbench_external::trainer::RESERVED.contains(&k.as_str()))
        {
            return Err(HarnessError::Config(format!(
                "{what}: `{key}` is set in [external.options]; it belongs in the [[external]] table itself"
            )));
        }
        EXT.parse_object(declaration(decl))
            .map_err(|e| HarnessError::Config(format!("{what}: {e}")))?;
    }
    Ok(())
}

struct Owned(Box<dyn DynTrainerConfig>);

impl TrainerConfig for Owned {
    fn validate(&self) -> fitbench_core::Result<()> {
        self.0.validate()
    }
    fn architecture(
        &self,
        requested: &fitbench_core::Architecture,
    ) -> fitbench_core::Result<fitbench_core::Architecture> {
        self.0.architecture(requested)
    }
    fn memory_bytes(&self, n: usize, widths: &[usize]) -> u64 {
        self.0.memory_bytes(n, widths)
    }
    fn declared_name(&self) -> Option<&str> {
        self.0.declared_name()
    }
    fn step_cost(&self, n: usize, widths: &[usize]) -> Option<fitbench_core::StepCost> {
        self.0.step_cost(n, widths)
    }
    fn init(
        &self,
        train: &fitbench_core::Dataset,
        initial: fitbench_core::Mlp,
        seed: u64,
    ) -> fitbench_core::Result<Box<dyn fitbench_core::Trainer>> {
        self.0.init(train, initial, seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry invariants the README's "Extending" steps rely on, for every entry.
    #[test]
    fn every_entry_parses_without_options_and_is_tagged_with_its_name() {
        let mut names: Vec<&str> = trainers().map(|e| e.name).collect();
        assert!(names.len() >= 5, "{names:?}");
        for e in trainers() {
            let spec = TrainerSpec::parse(e.name).unwrap();
            let json = spec.to_json();
            assert_eq!(json["trainer"], e.name, "serialised tag of {}", e.name);
            // Every default field is listed in the help and present in the report's config.
            let defaults = e.defaults();
            let fields = defaults.as_object().unwrap();
            let help = e.help_line();
            for (k, _) in fields {
                assert!(
                    help.contains(&format!("{k} [")),
                    "help of {} lacks {k}: {help}",
                    e.name
                );
                assert!(
                    json.get(k).is_some(),
                    "report config of {} lacks {k}",
                    e.name
                );
            }
            // Round trip and capabilities: the rules an extension is held to at `register`.
            e.check_rules().unwrap();
        }
        names.sort_unstable();
        assert!(
            names.windows(2).all(|w| w[0] != w[1]),
            "duplicate names: {names:?}"
        );
    }

    #[test]
    fn parses_options_into_typed_configs() {
        let spec = TrainerSpec::parse("ols:ridge=1e-6,solver=qr").unwrap();
        assert_eq!(spec.to_json()["ridge"], 1e-6);
        assert_eq!(spec.to_json()["solver"], "qr");
        let adam = TrainerSpec::parse("adam:lr=0.05").unwrap();
        assert_eq!(adam.with_lr(0.1).unwrap().unwrap().to_json()["lr"], 0.1);
        assert!(TrainerSpec::parse("ols").unwrap().with_lr(0.1).is_none());
        let nd = TrainerSpec::parse("adam:backend=flex")
            .unwrap()
            .with_default_backend("ndarray")
            .unwrap();
        assert_eq!(nd.to_json()["backend"], "flex", "an explicit backend wins");
        let ols = TrainerSpec::parse("ols")
            .unwrap()
            .with_default_backend("ndarray")
            .unwrap();
        assert!(ols.to_json().get("backend").is_none());
    }

    #[test]
    fn bad_trainer_strings_are_rejected_clearly() {
        let msg = TrainerSpec::parse("bfgs").unwrap_err().to_string();
        assert!(
            msg.contains("unknown trainer \"bfgs\"") && msg.contains("ols"),
            "{msg}"
        );
        let msg = TrainerSpec::parse("ols:alpha=1").unwrap_err().to_string();
        assert!(
            msg.contains("unknown field `alpha`") && msg.contains("ridge"),
            "{msg}"
        );
        let msg = TrainerSpec::parse("ols:ridge=-1").unwrap_err().to_string();
        assert!(msg.contains("ols.ridge"), "{msg}");
        let msg = TrainerSpec::parse("ols:solver=svd")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("svd") && msg.contains("cholesky"), "{msg}");
        let msg = TrainerSpec::parse("sgd:beta1=0.5").unwrap_err().to_string();
        assert!(msg.contains("beta1") && msg.contains("momentum"), "{msg}");
    }
}
