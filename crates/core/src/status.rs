//! The job states, as one-byte codes into a [`Vocabulary`]: the values of a `Status` enum, in
//! its order, and which of them are terminal. The set is data, built once (by the bindings from
//! the Python enum), since each client release has its own.

use crate::error::Error;

/// The most states a vocabulary holds: a code is one byte, and the byte 255 marks an invalid
/// entry in the columns.
pub const MAX_STATUSES: usize = 255;

/// The code no state has: an entry the fast path did not parse.
pub const INVALID: u8 = 255;

/// A job state: its position in its [`Vocabulary`], which is also the byte stored in the
/// columnar store and the `codes` buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u8);

impl StatusCode {
    /// The state stored as `code`, unless it is [`INVALID`] (whether the code is in a given
    /// vocabulary is [`Vocabulary::code`]'s question).
    pub const fn from_code(code: u8) -> Option<StatusCode> {
        if code == INVALID {
            None
        } else {
            Some(StatusCode(code))
        }
    }

    pub const fn code(self) -> u8 {
        self.0
    }

    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// The states of one `Status` enum: their values in the enum's order, which are terminal, and a
/// table that finds a value by its first byte, in its own text or written plainly in JSON text
/// (no hash: a status value is short and few share a first byte).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocabulary {
    values: Box<[Box<[u8]>]>,
    terminal: Box<[bool]>,
    plain: PlainValues,
}

/// The longest value, with its closing quote, that the scanner finds in place; a longer one (no
/// client release has one) is left to the general parse.
const PLAIN_MAX: usize = 32;

/// The values a JSON string holds as they are (no byte that needs an escape) and of at most
/// [`PLAIN_MAX`] bytes with their closing quote, grouped by first byte: the scanner compares the
/// text after an opening quote with the few that start as it does, and so needs not find the
/// string's end first; `code_of` looks a str up the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PlainValues {
    /// Per first byte: the range of `entries` that starts with it (in place: one pointer less
    /// to follow).
    by_first: [(u8, u8); 256],
    /// Whether every value is in `entries`: else a value not found there may be another one.
    complete: bool,
    /// Each plain value, grouped by first byte, in enum order within a group; a table of 256,
    /// so that a byte indexes it with no bounds to check.
    entries: Box<[PlainEntry; 256]>,
}

/// A plain value's state and its text with the closing quote, in place (zero-padded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PlainEntry {
    quoted: [u8; PLAIN_MAX],
    len: u8,
    status: StatusCode,
}

impl PlainValues {
    fn build(values: &[Box<[u8]>]) -> PlainValues {
        let is_plain = |value: &[u8]| {
            !value
                .iter()
                .any(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)
        };
        let mut by_first = [(0u8, 0u8); 256];
        let unused = PlainEntry {
            quoted: [0; PLAIN_MAX],
            len: 0,
            status: StatusCode(0),
        };
        let mut entries = Box::new([unused; 256]);
        let mut count = 0u8;
        for (first, range) in (0..=u8::MAX).zip(by_first.iter_mut()) {
            // At most 255 values, so the positions fit a byte.
            let start = count;
            for (code, value) in (0..=u8::MAX).zip(values) {
                if value.first() == Some(&first) && is_plain(value) && value.len() < PLAIN_MAX {
                    let mut quoted = [0; PLAIN_MAX];
                    for (to, &from) in quoted.iter_mut().zip(value.iter().chain(b"\"")) {
                        *to = from;
                    }
                    if let Some(entry) = entries.get_mut(usize::from(count)) {
                        *entry = PlainEntry {
                            quoted,
                            len: value.len() as u8 + 1,
                            status: StatusCode(code),
                        };
                    }
                    count += 1;
                }
            }
            *range = (start, count);
        }
        PlainValues {
            by_first,
            complete: usize::from(count) == values.len(),
            entries,
        }
    }
}

/// Whether `head` is the start of `quoted`, in a few word compares rather than a call (which
/// would make the lookups that inline this save their registers).
#[inline(always)]
fn eq_quoted(head: &[u8], quoted: &[u8; PLAIN_MAX]) -> bool {
    fn halves<const N: usize>(head: &[u8], quoted: &[u8; PLAIN_MAX]) -> bool {
        let len = head.len();
        head.first_chunk::<N>() == quoted.first_chunk::<N>()
            && head.last_chunk::<N>()
                == quoted
                    .get(len.wrapping_sub(N)..len)
                    .and_then(|tail| tail.first_chunk::<N>())
    }
    match head.len() {
        16..=PLAIN_MAX => halves::<16>(head, quoted),
        8..=15 => halves::<8>(head, quoted),
        4..=7 => halves::<4>(head, quoted),
        2..=3 => halves::<2>(head, quoted),
        1 => head.first() == quoted.first(),
        0 => true,
        _ => false,
    }
}

impl Vocabulary {
    /// The vocabulary of `values`, in their order, with the states for which `terminal` says so.
    /// Refuses no values, more than [`MAX_STATUSES`], and a value given twice.
    pub fn new<V: AsRef<[u8]>>(
        values: impl IntoIterator<Item = V>,
        mut terminal: impl FnMut(&[u8]) -> bool,
    ) -> Result<Vocabulary, Error> {
        let mut stored: Vec<Box<[u8]>> = Vec::new();
        for value in values {
            let value = value.as_ref();
            if stored.len() == MAX_STATUSES {
                return Err(Error::BadVocabulary(
                    "a Status enum has more than 255 members",
                ));
            }
            if stored.iter().any(|known| **known == *value) {
                return Err(Error::BadVocabulary(
                    "two Status members have the same value",
                ));
            }
            stored.push(value.into());
        }
        if stored.is_empty() {
            return Err(Error::BadVocabulary("a Status enum has no members"));
        }
        let terminal = stored.iter().map(|value| terminal(value)).collect();
        let plain = PlainValues::build(&stored);
        Ok(Vocabulary {
            values: stored.into_boxed_slice(),
            terminal,
            plain,
        })
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Every state, in the enum's order.
    pub fn codes(&self) -> impl ExactSizeIterator<Item = StatusCode> + '_ {
        // `new` keeps the length within a byte's codes.
        (0..self.values.len() as u8).map(StatusCode)
    }

    /// The state stored as `code`, if this vocabulary has one.
    pub fn code(&self, code: u8) -> Option<StatusCode> {
        (usize::from(code) < self.values.len()).then_some(StatusCode(code))
    }

    /// The JSON value of `status`, equal to the Python member's value (empty for a code this
    /// vocabulary does not have).
    pub fn value(&self, status: StatusCode) -> &[u8] {
        self.values.get(status.index()).map_or(&[], |value| value)
    }

    /// Each value, in the enum's order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.values.iter().map(|value| &**value)
    }

    /// Whether a job in `status` can no longer change state.
    pub fn is_terminal(&self, status: StatusCode) -> bool {
        self.terminal.get(status.index()).copied().unwrap_or(false)
    }

    /// The state whose value is exactly `value`, if any (matching is case- and space-sensitive,
    /// like the reference's `Status(value)` without its `_missing_` hook).
    #[inline(always)]
    pub fn code_of(&self, value: &[u8]) -> Option<StatusCode> {
        if let Some(&first) = value.first() {
            let &(start, end) = self.plain.by_first.get(usize::from(first))?;
            for at in start..end {
                let entry = self.plain.entries.get(usize::from(at))?;
                if usize::from(entry.len) == value.len() + 1 && eq_quoted(value, &entry.quoted) {
                    return Some(entry.status);
                }
            }
        }
        if self.plain.complete {
            return None;
        }
        self.search(value)
    }

    /// [`Vocabulary::code_of`] for the values the plain table leaves out (empty, long, or with a
    /// byte JSON escapes), which no client release has.
    #[cold]
    #[inline(never)]
    fn search(&self, value: &[u8]) -> Option<StatusCode> {
        self.values
            .iter()
            .position(|known| **known == *value)
            .map(|index| StatusCode(index as u8))
    }
}

impl Vocabulary {
    /// The state whose value `text` (JSON text just after a string's opening quote) holds as
    /// it is, and the length of that value with its closing quote; `None` when the string is
    /// no value written plainly (it may still be one written with escapes).
    #[inline(always)]
    pub fn plain_value_at(&self, text: &[u8]) -> Option<(StatusCode, usize)> {
        let &(start, end) = self.plain.by_first.get(usize::from(*text.first()?))?;
        for at in start..end {
            let entry = self.plain.entries.get(usize::from(at))?;
            let len = usize::from(entry.len);
            if text
                .get(..len)
                .is_some_and(|head| eq_quoted(head, &entry.quoted))
            {
                return Some((entry.status, len));
            }
        }
        None
    }
}

/// One value per state of a vocabulary, looked up by its code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerStatus<T>(Box<[T]>);

impl<T> PerStatus<T> {
    /// The table of what `make` makes of each state of `vocabulary`, in its order; the first
    /// error stops it.
    pub fn try_new<E>(
        vocabulary: &Vocabulary,
        make: impl FnMut(StatusCode) -> Result<T, E>,
    ) -> Result<Self, E> {
        Ok(PerStatus(
            vocabulary.codes().map(make).collect::<Result<_, E>>()?,
        ))
    }

    /// The value of `status`; `None` for a code of another vocabulary.
    #[inline(always)]
    pub fn get(&self, status: StatusCode) -> Option<&T> {
        self.0.get(status.index())
    }

    /// Each state with its value, in the vocabulary's order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (StatusCode, &T)> {
        // `try_new` made one value per code of a vocabulary, so the indices fit a byte.
        self.0
            .iter()
            .enumerate()
            .map(|(index, value)| (StatusCode(index as u8), value))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Vocabularies of two client releases, for the core's tests.
#[cfg(test)]
pub mod testing {
    use super::Vocabulary;

    /// The seed's five states (iqm-client 15.0 to 17.2).
    pub const SEED: [&str; 5] = [
        "pending compilation",
        "pending execution",
        "ready",
        "failed",
        "aborted",
    ];

    /// The 23 states of iqm-client 28.0 to 32.1.1.
    pub const LATEST: [&str; 23] = [
        "received",
        "validation_started",
        "processing",
        "validation_ended",
        "fetch_calibration_started",
        "fetch_calibration_ended",
        "compilation_started",
        "compilation_ended",
        "save_sweep_metadata_started",
        "save_sweep_metadata_ended",
        "pending_execution",
        "execution_started",
        "execution_ended",
        "post_processing_pending",
        "post_processing_started",
        "post_processing_ended",
        "ready",
        "failed",
        "aborted",
        "pending deletion",
        "deletion failed",
        "deleted",
        "unknown",
    ];

    fn build(values: &[&str], terminal: &[&str]) -> Vocabulary {
        match Vocabulary::new(values, |value| {
            terminal.iter().any(|t| t.as_bytes() == value)
        }) {
            Ok(vocabulary) => vocabulary,
            Err(err) => unreachable!("{err}"),
        }
    }

    pub fn seed() -> Vocabulary {
        build(&SEED, &["ready", "failed", "aborted"])
    }

    pub fn latest() -> Vocabulary {
        build(
            &LATEST,
            &["ready", "failed", "aborted", "deleted", "deletion failed"],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{latest, seed, LATEST, SEED};
    use super::*;

    #[test]
    fn a_per_status_table_finds_each_state_where_it_was_made() {
        for vocabulary in [seed(), latest()] {
            let table =
                PerStatus::try_new(&vocabulary, |status| Ok::<_, ()>(vocabulary.value(status)))
                    .unwrap();
            assert_eq!(table.len(), vocabulary.len());
            for status in vocabulary.codes() {
                assert_eq!(*table.get(status).unwrap(), vocabulary.value(status));
            }
            let order: Vec<_> = table.iter().map(|(status, _)| status).collect();
            assert_eq!(order, vocabulary.codes().collect::<Vec<_>>());
            let ready = vocabulary.code_of(b"ready").unwrap();
            assert_eq!(
                PerStatus::try_new(&vocabulary, |status| if status == ready {
                    Err(status)
                } else {
                    Ok(())
                }),
                Err(ready)
            );
            assert_eq!(table.get(StatusCode(vocabulary.len() as u8)), None);
        }
    }

    #[test]
    fn values_round_trip_in_order() {
        for (vocabulary, values) in [(seed(), &SEED[..]), (latest(), &LATEST[..])] {
            assert!(vocabulary.plain.complete);
            assert_eq!(vocabulary.values().collect::<Vec<_>>().len(), values.len());
            for (code, value) in values.iter().enumerate() {
                let status = vocabulary.code_of(value.as_bytes()).unwrap();
                assert_eq!(status.index(), code);
                assert_eq!(vocabulary.value(status), value.as_bytes());
                assert_eq!(vocabulary.code(code as u8), Some(status));
                assert_eq!(StatusCode::from_code(code as u8), Some(status));
            }
            assert_eq!(vocabulary.code(values.len() as u8), None);
            assert_eq!(StatusCode::from_code(INVALID), None);
        }
    }

    #[test]
    fn matching_is_exact() {
        for vocabulary in [seed(), latest()] {
            for bad in [
                &b"Ready"[..],
                b"ready ",
                b" ready",
                b"",
                b"pending",
                b"READY",
                b"pending_compilation",
                b"post_processing_",
                b"post_processing_endex",
                b"\"ready\"",
            ] {
                assert_eq!(vocabulary.code_of(bad), None, "{bad:?}");
            }
        }
        // Each vocabulary knows only its own values.
        assert_eq!(seed().code_of(b"post_processing_ended"), None);
        assert_eq!(latest().code_of(b"pending compilation"), None);
        assert_eq!(latest().code_of(b"pending execution"), None);
    }

    #[test]
    fn plain_values_are_found_in_json_text() {
        for vocabulary in [seed(), latest()] {
            for status in vocabulary.codes() {
                let value = vocabulary.value(status);
                let text = [value, b"\",\"message\":null}"].concat();
                assert_eq!(
                    vocabulary.plain_value_at(&text),
                    Some((status, value.len() + 1))
                );
                // The string must end where the value does.
                let longer = [value, b"x\"}"].concat();
                assert_eq!(vocabulary.plain_value_at(&longer), None);
                assert_eq!(vocabulary.plain_value_at(&text[..value.len()]), None);
            }
            assert_eq!(vocabulary.plain_value_at(b"rea\\u0064y\""), None);
            assert_eq!(vocabulary.plain_value_at(b""), None);
        }
        // A value with a byte JSON escapes is left to the general parse.
        let odd = Vocabulary::new(["a\"b", "tab\there", "caf\u{e9}", "a"], |_| false).unwrap();
        assert_eq!(odd.plain_value_at(b"a\"b\""), Some((StatusCode(3), 2)));
        assert_eq!(odd.plain_value_at(b"tab\there\""), None);
        assert_eq!(
            odd.plain_value_at("caf\u{e9}\"".as_bytes()),
            Some((StatusCode(2), 6))
        );
        assert_eq!(odd.code_of(b"a\"b"), Some(StatusCode(0)));
    }

    #[test]
    fn short_compares_agree_with_slices() {
        let mut quoted = [0u8; PLAIN_MAX];
        for (at, byte) in quoted.iter_mut().enumerate() {
            *byte = at as u8 + 1;
        }
        for len in 0..=PLAIN_MAX {
            let head = quoted[..len].to_vec();
            assert!(eq_quoted(&head, &quoted), "{len}");
            for flip in 0..len {
                let mut other = head.clone();
                other[flip] ^= 1;
                assert!(!eq_quoted(&other, &quoted), "{len} {flip}");
            }
        }
        assert!(!eq_quoted(&[1; PLAIN_MAX + 1], &quoted));
    }

    #[test]
    fn terminal_states() {
        fn terminal(vocabulary: &Vocabulary) -> Vec<&[u8]> {
            let codes = vocabulary.codes().filter(|&s| vocabulary.is_terminal(s));
            codes.map(|s| vocabulary.value(s)).collect()
        }
        assert_eq!(terminal(&seed()), [&b"ready"[..], b"failed", b"aborted"]);
        assert_eq!(
            terminal(&latest()),
            [
                &b"ready"[..],
                b"failed",
                b"aborted",
                b"deletion failed",
                b"deleted"
            ]
        );
    }

    #[test]
    fn what_no_vocabulary_can_be_is_refused() {
        let none: [&str; 0] = [];
        assert!(matches!(
            Vocabulary::new(none, |_| false),
            Err(Error::BadVocabulary(_))
        ));
        assert!(matches!(
            Vocabulary::new(["a", "b", "a"], |_| false),
            Err(Error::BadVocabulary(_))
        ));
        let many: Vec<String> = (0..=MAX_STATUSES).map(|i| format!("s{i}")).collect();
        assert!(matches!(
            Vocabulary::new(&many, |_| false),
            Err(Error::BadVocabulary(why)) if why.contains("255")
        ));
        let most = Vocabulary::new(&many[..MAX_STATUSES], |_| false).unwrap();
        assert_eq!(most.len(), MAX_STATUSES);
        for (code, value) in many[..MAX_STATUSES].iter().enumerate() {
            assert_eq!(
                most.code_of(value.as_bytes()).map(StatusCode::index),
                Some(code)
            );
        }
    }

    #[test]
    fn values_outside_the_plain_table_are_still_found() {
        // Sharing a first byte; then values the table leaves out: too long (one a prefix of
        // another), empty, with a quote or a control byte.
        let long = "a_status_value_longer_than_the_plain_table_holds";
        let longer = "a_status_value_longer_than_the_plain_table_holds_x";
        let values = [
            "abXcd", "abXzd", "aqXcd", "ready", long, longer, "", "a\"b", "t\tb",
        ];
        let vocabulary = Vocabulary::new(values, |_| false).unwrap();
        assert!(!vocabulary.plain.complete);
        for (code, value) in values.iter().enumerate() {
            assert_eq!(
                vocabulary.code_of(value.as_bytes()).map(StatusCode::index),
                Some(code),
                "{value:?}"
            );
        }
        for bad in [
            "abXed",
            "aqXzd",
            &long[..long.len() - 1],
            "abXc",
            "a\"",
            "x",
        ] {
            assert_eq!(vocabulary.code_of(bad.as_bytes()), None, "{bad:?}");
        }
        // In JSON text the short plain ones are found in place, the others left to the
        // general parse.
        for (code, value) in values[..4].iter().enumerate() {
            let text = format!("{value}\"}}");
            assert_eq!(
                vocabulary.plain_value_at(text.as_bytes()),
                Some((StatusCode(code as u8), value.len() + 1))
            );
        }
        assert_eq!(
            vocabulary.plain_value_at(format!("{long}\"").as_bytes()),
            None
        );
        assert_eq!(vocabulary.plain_value_at(b"\"}"), None);
        assert_eq!(vocabulary.plain_value_at(b"abXzc\""), None);
        // Without such values, a value not in the table is no value.
        assert!(testing::seed().plain.complete);
    }
}
