//! `NAME:key=value,…` option strings, as used for datasets (`teacher:d=16,h=8`) and trainers
//! (`ols:ridge=1e-6`).

use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// Parsed `key=value` pairs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options(pub BTreeMap<String, String>);

impl Options {
    /// Splits `NAME[:key=value,…]` into the name and its options.
    pub fn parse_named(s: &str) -> Result<(String, Options)> {
        let (name, rest) = match s.split_once(':') {
            Some((n, r)) => (n.trim(), r),
            None => (s.trim(), ""),
        };
        if name.is_empty() {
            return Err(Error::Parse(format!("{s:?} has no name before ':'")));
        }
        let mut map = BTreeMap::new();
        for pair in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                Error::Parse(format!(
                    "option {pair:?} in {s:?} is not key=value (e.g. {name}:key=value,other=value)"
                ))
            })?;
            if map
                .insert(k.trim().to_string(), v.trim().to_string())
                .is_some()
            {
                return Err(Error::Parse(format!(
                    "option {:?} is given twice in {s:?}",
                    k.trim()
                )));
            }
        }
        Ok((name.to_string(), Options(map)))
    }

    /// Rejects keys outside `allowed`.
    pub fn check_keys(&self, what: &str, allowed: &[&str]) -> Result<()> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(Error::Unknown {
                kind: "option",
                name: format!("{k} for {what}"),
                known: allowed.join(", "),
            }),
            None => Ok(()),
        }
    }

    /// A copy with `key` set to `value` (replacing any value given).
    pub fn with(&self, key: &str, value: impl ToString) -> Self {
        let mut copy = self.clone();
        copy.0.insert(key.to_string(), value.to_string());
        copy
    }

    /// Whether `key` was given.
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Formats the options back as `key=value,…` (sorted by key).
    pub fn to_option_string(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The raw value of `key`.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn get<T: std::str::FromStr>(
        &self,
        what: &str,
        key: &str,
        default: T,
        expected: &str,
    ) -> Result<T> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| Error::Parse(format!("{what}: option {key}={v:?} is not {expected}"))),
        }
    }

    /// `key` as a float.
    pub fn get_f64(&self, what: &str, key: &str, default: f64) -> Result<f64> {
        self.get(what, key, default, "a number")
    }

    /// `key` as a non-negative integer.
    pub fn get_usize(&self, what: &str, key: &str, default: usize) -> Result<usize> {
        self.get(what, key, default, "a non-negative integer")
    }

    /// `key` as a 64-bit seed.
    pub fn get_u64(&self, what: &str, key: &str, default: u64) -> Result<u64> {
        self.get(what, key, default, "a non-negative integer")
    }

    /// `key` as `a/b/c` integers.
    pub fn get_usize_list(&self, what: &str, key: &str, default: &[usize]) -> Result<Vec<usize>> {
        match self.0.get(key) {
            None => Ok(default.to_vec()),
            Some(v) => v
                .split('/')
                .map(|p| p.trim().parse())
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    Error::Parse(format!(
                        "{what}: option {key}={v:?} is not a list of integers like 16/16"
                    ))
                }),
        }
    }

    /// The options as a JSON object, numbers and booleans typed, for deserialising a config.
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.0
            .iter()
            .map(|(k, v)| {
                let value = if let Ok(b) = v.parse::<bool>() {
                    serde_json::Value::Bool(b)
                } else if let Ok(i) = v.parse::<i64>() {
                    serde_json::Value::from(i)
                } else if let Some(f) = v.parse::<f64>().ok().and_then(serde_json::Number::from_f64)
                {
                    serde_json::Value::Number(f)
                } else {
                    serde_json::Value::String(v.clone())
                };
                (k.clone(), value)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_pairs() {
        let (n, o) = Options::parse_named("adam: lr=1e-3, batch=64").unwrap();
        assert_eq!(n, "adam");
        assert_eq!(o.get_f64("adam", "lr", 0.0).unwrap(), 1e-3);
        assert_eq!(o.get_usize("adam", "batch", 0).unwrap(), 64);
        assert_eq!(Options::parse_named("ols").unwrap().1, Options::default());
        assert!(Options::parse_named("ols:ridge").is_err());
        assert!(Options::parse_named("ols:a=1,a=2").is_err());
        assert!(Options::parse_named(":a=1").is_err());
    }
}
