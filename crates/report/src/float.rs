//! JSON for floats that may be non-finite. JSON has no NaN or infinity (serde_json would
//! write `null`, which then cannot be read back as a number), so every float of a report is
//! written as a number when finite and as the string `"NaN"`, `"inf"` or `"-inf"` otherwise.
//! Reading accepts those strings, numbers, and `null` (as NaN, for reports written before).
//!
//! Use `#[serde(with = "crate::float")]` on `f64` fields and
//! `#[serde(default, with = "crate::float::option")]` on `Option<f64>` fields.

use serde::{Deserialize, Deserializer, Serializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Number(f64),
    Text(String),
    Null(()),
}

fn from_repr<E: serde::de::Error>(r: Repr) -> Result<f64, E> {
    match r {
        Repr::Number(v) => Ok(v),
        Repr::Null(()) => Ok(f64::NAN),
        Repr::Text(s) => match s.as_str() {
            "NaN" | "nan" => Ok(f64::NAN),
            "inf" | "+inf" | "Infinity" => Ok(f64::INFINITY),
            "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
            other => Err(E::custom(format!(
                "expected a number, \"NaN\", \"inf\" or \"-inf\", found the string {other:?}"
            ))),
        },
    }
}

/// Serialises an `f64` (non-finite values as strings).
pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else if v.is_nan() {
        s.serialize_str("NaN")
    } else if *v > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

/// Deserialises an `f64` written by [`serialize`] (or a plain number, or `null` as NaN).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    from_repr(Repr::deserialize(d)?)
}

/// The same for `Option<f64>`: `None` is `null`, a non-finite `Some` a string.
pub mod option {
    use super::*;

    /// Serialises an `Option<f64>`.
    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => super::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    /// Deserialises an `Option<f64>` (`null` is `None`).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Option::<Repr>::deserialize(d)? {
            None | Some(Repr::Null(())) => Ok(None),
            Some(r) => from_repr(r).map(Some),
        }
    }
}
