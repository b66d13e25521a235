//! Registry entries: how a trainer crate tells the harness what it offers.
//!
//! Each trainer crate exports `pub const TRAINERS: &[TrainerEntry]`, one entry per trainer,
//! made with [`TrainerEntry::of`] from its config type. The entry is the only place a
//! trainer's name is written: neither [`TrainerConfig`] nor [`Trainer`](crate::Trainer) has
//! a name, the serialised config gets its `"trainer"` tag from the entry
//! ([`TrainerEntry::to_json`]), and a crate that needs the name in a message reads it from
//! its entry constant (`crate::OLS.name`). The harness chains the crates'
//! slices (one line per crate) and never names a trainer otherwise: parsing `NAME:key=value,…`
//! strings, the help of `fitbench list trainers` (generated from the config's `Default` via
//! serde, never retyped), tuning (capability [`Capabilities::learning_rate`]) and
//! `--backend` ([`Capabilities::burn_backend`]) all go through the entry.
//!
//! ```
//! use fitbench_core::registry::{Capabilities, TrainerEntry};
//! use fitbench_core::{Architecture, Dataset, Mlp, Options, Result, Trainer, TrainerConfig};
//! use serde::{Deserialize, Serialize};
//!
//! /// A do-nothing trainer with one knob.
//! #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields, default)]
//! struct NopConfig {
//!     knob: f64,
//! }
//!
//! impl TrainerConfig for NopConfig {
//!     fn validate(&self) -> Result<()> { Ok(()) }
//!     fn architecture(&self, a: &Architecture) -> Result<Architecture> { Ok(a.clone()) }
//!     fn init(&self, _: &Dataset, _: Mlp, _: u64) -> Result<Box<dyn Trainer>> { unimplemented!() }
//! }
//!
//! const NOP: TrainerEntry = TrainerEntry::of::<NopConfig>("nop", "does nothing", Capabilities::NONE);
//! let (_, options) = Options::parse_named("nop:knob=2")?;
//! let config = NOP.parse(&options)?;
//! assert_eq!(config.to_json()["knob"], 2.0);
//! assert_eq!(NOP.to_json(&*config)["trainer"], "nop");
//! assert!(NOP.help_line().contains("knob [0.0]"));
//! # Ok::<(), fitbench_core::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::options::Options;
use crate::trainer::TrainerConfig;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What the harness may do with a trainer, declared once in its registry entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Capabilities {
    /// Has an `lr` option (the learning-rate grid search tunes it).
    pub learning_rate: bool,
    /// Has a `backend` option naming a burn backend (`--backend` sets it when not given).
    pub burn_backend: bool,
    /// Follows gradients of the loss (reproductions compare these with the others).
    pub gradient_based: bool,
    /// Same seed and thread count give the same iterates bit for bit.
    pub deterministic: bool,
    /// Its `step` allocates on the heap (e.g. burn's tensors, argmin's vectors). `false`
    /// promises that a step on one thread allocates nothing (the memory tests hold every
    /// entry to what it declares; `fitbench check` gates the allocations of the others).
    pub allocates_in_step: bool,
}

impl Capabilities {
    /// No capability at all.
    pub const NONE: Self = Self {
        learning_rate: false,
        burn_backend: false,
        gradient_based: false,
        deterministic: false,
        allocates_in_step: false,
    };
}

/// The key under which a serialised config records its trainer's name
/// ([`TrainerEntry::to_json`]).
pub const TAG: &str = "trainer";

/// The trainer's name recorded under [`TAG`] in a serialised config, if any.
pub fn tag(config_json: &serde_json::Value) -> Option<&str> {
    config_json.get(TAG).and_then(serde_json::Value::as_str)
}

/// A validated trainer configuration that can also be cloned and written into reports.
///
/// Blanket-implemented for every `TrainerConfig + Serialize + Clone + Send + Sync`.
pub trait DynTrainerConfig: TrainerConfig + Send + Sync {
    /// The config's options as a JSON object, without the trainer's name (its entry adds
    /// that: [`TrainerEntry::to_json`]).
    fn to_json(&self) -> serde_json::Value;
    /// An owned copy.
    fn clone_box(&self) -> Box<dyn DynTrainerConfig>;
}

impl<T> DynTrainerConfig for T
where
    T: TrainerConfig + Serialize + Clone + Send + Sync + 'static,
{
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    fn clone_box(&self) -> Box<dyn DynTrainerConfig> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn DynTrainerConfig> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// Builds a config from its options as a JSON object.
type ParseFn = fn(serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn DynTrainerConfig>>;

/// One trainer of a crate's `TRAINERS` slice.
#[derive(Clone, Copy)]
pub struct TrainerEntry {
    /// Registry name: the `NAME` of `NAME:key=value,…`, the trainer's only name (reports,
    /// legends, messages).
    pub name: &'static str,
    /// One line saying what the trainer is (the options are listed from the defaults).
    pub help: &'static str,
    /// What the harness may do with it.
    pub capabilities: Capabilities,
    parse: ParseFn,
    defaults: fn() -> serde_json::Value,
}

impl std::fmt::Debug for TrainerEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainerEntry")
            .field("name", &self.name)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

fn parse_as<C>(
    object: serde_json::Map<String, serde_json::Value>,
) -> Result<Box<dyn DynTrainerConfig>>
where
    C: DynTrainerConfig + DeserializeOwned + 'static,
{
    let config: C = serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| Error::Parse(e.to_string()))?;
    Ok(Box::new(config))
}

fn defaults_as<C>() -> serde_json::Value
where
    C: Default + Serialize,
{
    serde_json::to_value(C::default()).unwrap_or(serde_json::Value::Null)
}

impl TrainerEntry {
    /// The entry of config type `C`, whose `Default` gives every option's default.
    pub const fn of<C>(name: &'static str, help: &'static str, capabilities: Capabilities) -> Self
    where
        C: DynTrainerConfig + DeserializeOwned + Default + Serialize + 'static,
    {
        Self {
            name,
            help,
            capabilities,
            parse: parse_as::<C>,
            defaults: defaults_as::<C>,
        }
    }

    /// Builds and validates the config from `key=value` options (values typed as JSON
    /// booleans, integers or floats where they parse as such, strings otherwise).
    ///
    /// When a value has the wrong type, the message names its key, the value, the expected
    /// kind and the default (`option beta1="abc" is not a number (default 0.9)`).
    pub fn parse(&self, options: &Options) -> Result<Box<dyn DynTrainerConfig>> {
        let config = (self.parse)(options.to_json()).map_err(|e| match e {
            Error::Parse(m) => Error::Parse(format!(
                "trainer {}{}: {}",
                self.name,
                if options.0.is_empty() {
                    String::new()
                } else {
                    format!(":{}", options.to_option_string())
                },
                self.culprit(options).unwrap_or(m)
            )),
            other => other,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses and validates a config from a JSON object of options (values typed), for
    /// configs assembled from more than one `key=value` string (a config file's declaration
    /// under the options given on the command line).
    pub fn parse_object(
        &self,
        object: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Box<dyn DynTrainerConfig>> {
        let config = (self.parse)(object).map_err(|e| match e {
            Error::Parse(m) => Error::Parse(format!("trainer {}: {m}", self.name)),
            other => other,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// `config` as a JSON object with this entry's name under [`TAG`], first (what reports
    /// record as `trainer_config`).
    pub fn to_json(&self, config: &dyn DynTrainerConfig) -> serde_json::Value {
        match config.to_json() {
            serde_json::Value::Object(mut map) => {
                let mut tagged = serde_json::Map::new();
                let name = config.declared_name().unwrap_or(self.name);
                tagged.insert(TAG.into(), name.into());
                tagged.append(&mut map);
                serde_json::Value::Object(tagged)
            }
            other => other,
        }
    }

    /// Checks the rules every entry keeps (the built-ins in their tests, an extension's when it
    /// is registered): the config parses and validates with no options, its defaults are an
    /// object whose every option reads back (serialise → `key=value` → parse gives the same
    /// config), and the capabilities agree with the options (`learning_rate` ⇔ an `lr`
    /// option, `burn_backend` ⇔ a `backend` option). The message names the entry and the rule.
    pub fn check_rules(&self) -> Result<()> {
        let broken = |rule: String| Error::Parse(format!("trainer entry {:?}: {rule}", self.name));
        let config = self
            .parse(&Options::default())
            .map_err(|e| broken(format!("does not parse with no options: {e}")))?;
        let defaults = self.defaults();
        let Some(fields) = defaults.as_object() else {
            return Err(broken(
                "its config's Default does not serialise to an object of options".into(),
            ));
        };
        let json = self.to_json(&*config);
        let options: Vec<String> = fields
            .keys()
            .filter_map(|k| match &json[k] {
                serde_json::Value::String(s) => Some(format!("{k}={s}")),
                serde_json::Value::Null => None,
                other => Some(format!("{k}={other}")),
            })
            .collect();
        let (_, given) = Options::parse_named(&format!("{}:{}", self.name, options.join(",")))?;
        let again = self.parse(&given).map_err(|e| {
            broken(format!(
                "its defaults, written as options, do not parse: {e}"
            ))
        })?;
        if self.to_json(&*again) != json {
            return Err(broken(
                "its defaults, written as options and parsed, give another config".into(),
            ));
        }
        for (capability, declared, key) in [
            ("learning_rate", self.capabilities.learning_rate, "lr"),
            ("burn_backend", self.capabilities.burn_backend, "backend"),
        ] {
            if declared != fields.contains_key(key) {
                return Err(broken(format!(
                    "capability {capability} is {declared} but the config {} `{key}` option",
                    if declared { "has no" } else { "has an" }
                )));
            }
        }
        Ok(())
    }

    /// The first option that fails to parse on its own (every other option at its default),
    /// described by key and value, and, when its type differs from its default's, by the
    /// expected kind and the default; `None` when no single option fails (or the defaults
    /// themselves do not parse).
    fn culprit(&self, options: &Options) -> Option<String> {
        (self.parse)(serde_json::Map::new()).ok()?;
        let defaults = self.defaults();
        options.to_json().into_iter().find_map(|(key, value)| {
            let alone = serde_json::Map::from_iter([(key.clone(), value.clone())]);
            let error = match (self.parse)(alone).err()? {
                Error::Parse(m) => m,
                other => other.to_string(),
            };
            let raw = options.get_str(&key).unwrap_or_default();
            Some(match defaults.get(&key) {
                Some(default) if !default.is_null() && kind(default) != kind(&value) => {
                    format!(
                        "option {key}={raw:?} is not {} (default {}): {error}",
                        kind(default),
                        show(default)
                    )
                }
                _ => format!("option {key}={raw:?}: {error}"),
            })
        })
    }

    /// Every option with its default, as a JSON object (from the config's `Default`).
    pub fn defaults(&self) -> serde_json::Value {
        (self.defaults)()
    }

    /// `help: key [default], …`, the options listed from [`TrainerEntry::defaults`].
    pub fn help_line(&self) -> String {
        let fields = match self.defaults() {
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, v)| format!("{k} [{}]", show(v)))
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        };
        if fields.is_empty() {
            self.help.to_string()
        } else {
            format!("{}: {fields}", self.help)
        }
    }
}

/// Deserialiser of the `reconstruction` marker that reconstructed algorithms' configs carry
/// (`#[serde(deserialize_with = "fitbench_core::registry::always_true")]`): it is recorded in
/// every report and may be given back (a report's config parses again), but only as `true`.
pub fn always_true<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    use serde::Deserialize as _;
    if bool::deserialize(d)? {
        Ok(true)
    } else {
        Err(serde::de::Error::custom(
            "reconstruction is a record, not a knob: this algorithm is our reconstruction of a paper, so it is always true",
        ))
    }
}

/// What a JSON default says an option must be, for messages.
fn kind(default: &serde_json::Value) -> &'static str {
    match default {
        serde_json::Value::Bool(_) => "true or false",
        serde_json::Value::Number(n) if n.is_f64() => "a number",
        serde_json::Value::Number(_) => "an integer",
        serde_json::Value::String(_) => "one of the names the option accepts",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
        serde_json::Value::Null => "a value",
    }
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "none".into(),
        other => other.to_string(),
    }
}
