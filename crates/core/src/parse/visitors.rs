//! The general parse through serde_json: every escape, extra key and nesting. The visitors
//! match keys and the status value on borrowed strings and skip everything else without
//! building it; a semantic problem is recorded, so the caller learns the real reason.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::types::{ParsedStatus, Presence, StrList};
use crate::error::{Error, Field};
use crate::status::{StatusCode, Vocabulary};

/// The general parse, through serde_json: every escape, extra key and nesting.
pub fn parse_with_serde<'a>(
    vocabulary: &Vocabulary,
    input: &'a [u8],
) -> Result<ParsedStatus<'a>, Error> {
    if has_long_integer_part(input) {
        return Err(Error::TooManyDigits);
    }
    let problem = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(input);
    let parsed = DocumentSeed {
        vocabulary,
        problem: &problem,
    }
    .deserialize(&mut deserializer);
    // A problem recorded by a visitor is the real reason; serde_json only saw a custom error.
    if let Some(problem) = problem.take() {
        return Err(problem);
    }
    let parsed = parsed?;
    deserializer.end()?;
    Ok(parsed)
}

/// The most digits a number's integer part may have. pydantic's JSON parser rejects a longer
/// one even when an exponent brings the value into range (`json.loads` rejects only a longer
/// integer); serde_json reads both, so such documents are left to the pure path.
pub(super) const MAX_INTEGER_DIGITS: usize = 4300;

/// Whether a run of more than [`MAX_INTEGER_DIGITS`] digits appears outside strings. Inputs
/// too short to hold one are not scanned; digits inside strings don't count, so a document
/// the scanner accepts (strings only) is never refused here.
fn has_long_integer_part(input: &[u8]) -> bool {
    if input.len() <= MAX_INTEGER_DIGITS {
        return false;
    }
    let mut in_string = false;
    let mut escaped = false;
    let mut digits = 0;
    for &byte in input {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'0'..=b'9' => {
                digits += 1;
                if digits > MAX_INTEGER_DIGITS {
                    return true;
                }
            }
            b'"' => {
                in_string = true;
                digits = 0;
            }
            _ => digits = 0,
        }
    }
    false
}

/// The visitor methods for the JSON kinds a value may not be, each recording `$error` (an
/// expression of the seed, bound to `$seed`) as the reason.
macro_rules! reject_kinds {
    ($de:lifetime, |$seed:ident| $error:expr; $($kind:ident),+ $(,)?) => {
        $(reject_kinds!(@one $de, $kind, |$seed| $error);)+
    };
    (@one $de:lifetime, unit, |$seed:ident| $error:expr) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            let $seed = &self;
            Err(fail($seed.problem, $error))
        }
    };
    (@one $de:lifetime, str, |$seed:ident| $error:expr) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            let $seed = &self;
            Err(fail($seed.problem, $error))
        }
    };
    (@one $de:lifetime, seq, |$seed:ident| $error:expr) => {
        fn visit_seq<A: SeqAccess<$de>>(self, _: A) -> Result<Self::Value, A::Error> {
            let $seed = &self;
            Err(fail($seed.problem, $error))
        }
    };
    (@one $de:lifetime, map, |$seed:ident| $error:expr) => {
        fn visit_map<A: MapAccess<$de>>(self, _: A) -> Result<Self::Value, A::Error> {
            let $seed = &self;
            Err(fail($seed.problem, $error))
        }
    };
    (@one $de:lifetime, bool, |$seed:ident| $error:expr) => {
        reject_kinds!(@scalar visit_bool, bool, |$seed| $error);
    };
    (@one $de:lifetime, i64, |$seed:ident| $error:expr) => {
        reject_kinds!(@scalar visit_i64, i64, |$seed| $error);
    };
    (@one $de:lifetime, u64, |$seed:ident| $error:expr) => {
        reject_kinds!(@scalar visit_u64, u64, |$seed| $error);
    };
    (@one $de:lifetime, f64, |$seed:ident| $error:expr) => {
        reject_kinds!(@scalar visit_f64, f64, |$seed| $error);
    };
    (@scalar $method:ident, $type:ty, |$seed:ident| $error:expr) => {
        fn $method<E: de::Error>(self, _: $type) -> Result<Self::Value, E> {
            let $seed = &self;
            Err(fail($seed.problem, $error))
        }
    };
}

/// Records the first semantic problem and returns the error that stops serde_json.
fn fail<E: de::Error>(problem: &Cell<Option<Error>>, error: Error) -> E {
    let message = E::custom(&error);
    problem.set(Some(error));
    message
}

struct DocumentSeed<'p> {
    vocabulary: &'p Vocabulary,
    problem: &'p Cell<Option<Error>>,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = ParsedStatus<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = ParsedStatus<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a job-status object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut status = None;
        let mut message = Presence::Absent;
        let mut warnings = Presence::Absent;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let Some(field) = key else {
                map.next_value_seed(SkipValue)?;
                continue;
            };
            let duplicate = match field {
                Field::Status => status.is_some(),
                Field::Message => message.is_present(),
                Field::Warnings => warnings.is_present(),
            };
            if duplicate {
                return Err(fail(self.problem, Error::DuplicateKey(field)));
            }
            let problem = self.problem;
            match field {
                Field::Status => {
                    status = Some(map.next_value_seed(StatusSeed {
                        vocabulary: self.vocabulary,
                        problem,
                    })?);
                }
                Field::Message => {
                    message = map.next_value_seed(NullableSeed {
                        inner: StrSeed { field, problem },
                    })?;
                }
                Field::Warnings => {
                    warnings = map.next_value_seed(NullableSeed {
                        inner: WarningsSeed { problem },
                    })?;
                }
            }
        }
        let Some(status) = status else {
            return Err(fail(self.problem, Error::MissingStatus));
        };
        Ok(ParsedStatus {
            status,
            message,
            warnings,
        })
    }

    reject_kinds!('de, |seed| Error::NotAnObject; seq, str, bool, i64, u64, f64, unit);
}

/// Matches an object key against the field names on the borrowed bytes; `None` is an extra key.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<Field>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Option<Field>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(match key {
            "status" => Some(Field::Status),
            "message" => Some(Field::Message),
            "warnings" => Some(Field::Warnings),
            _ => None,
        })
    }
}

/// The `status` value: one of the vocabulary's strings, as a code.
struct StatusSeed<'p> {
    vocabulary: &'p Vocabulary,
    problem: &'p Cell<Option<Error>>,
}

impl<'de> DeserializeSeed<'de> for StatusSeed<'_> {
    type Value = StatusCode;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        // deserialize_any, so that a wrong type reaches the visitor and is classified.
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StatusSeed<'_> {
    type Value = StatusCode;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a job status string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        (self.vocabulary.code_of(value.as_bytes()))
            .ok_or_else(|| fail(self.problem, Error::UnknownStatus))
    }

    reject_kinds!('de, |seed| Error::WrongType(Field::Status); unit, bool, i64, u64, f64, seq, map);
}

/// `null` or the inner value.
struct NullableSeed<S> {
    inner: S,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for NullableSeed<S> {
    type Value = Presence<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for NullableSeed<S> {
    type Value = Presence<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null or a value")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Presence::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.inner.deserialize(deserializer).map(Presence::Value)
    }
}

/// A string, borrowed from the input when it held no escapes.
struct StrSeed<'p> {
    field: Field,
    problem: &'p Cell<Option<Error>>,
}

impl<'de> DeserializeSeed<'de> for StrSeed<'_> {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        // deserialize_any, so that a wrong type reaches the visitor and is classified.
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrSeed<'_> {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(value))
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value.to_owned()))
    }

    reject_kinds!('de, |seed| Error::WrongType(seed.field); unit, bool, i64, u64, f64, seq, map);
}

/// The `warnings` list: an array of strings.
struct WarningsSeed<'p> {
    problem: &'p Cell<Option<Error>>,
}

impl<'de> DeserializeSeed<'de> for WarningsSeed<'_> {
    type Value = StrList<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        // deserialize_any, so that a wrong type reaches the visitor and is classified.
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for WarningsSeed<'_> {
    type Value = StrList<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut warnings = Vec::new();
        let item = || StrSeed {
            field: Field::Warnings,
            problem: self.problem,
        };
        while let Some(warning) = seq.next_element_seed(item())? {
            warnings.push(warning);
        }
        Ok(StrList::Collected(warnings))
    }

    reject_kinds!('de, |seed| Error::WrongType(Field::Warnings); unit, bool, i64, u64, f64, str, map);
}

/// Any JSON value of an extra key, validated and dropped. Numbers are parsed (not just scanned)
/// so that one `json.loads` rejects, such as an integer past `sys.get_int_max_str_digits()`,
/// overflows `f64` here and is left to the pure path.
struct SkipValue;

impl<'de> DeserializeSeed<'de> for SkipValue {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SkipValue {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(SkipValue)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(SkipValue)?.is_some() {
            map.next_value_seed(SkipValue)?;
        }
        Ok(())
    }
}
