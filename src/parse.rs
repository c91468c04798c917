//! Parsing one job-status JSON document into a native struct, on borrowed bytes.
//!
//! serde_json does the tokenising and validation (UTF-8, escapes, numbers, nesting limit); the
//! visitors here match keys and the status value on borrowed strings and skip everything else
//! without building it. The parse is strict: it accepts only documents on which it agrees
//! exactly with `json.loads` followed by the reference's `from_dict`, and reports anything else
//! as an [`Error`] so the caller can hand the input to the pure path.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{Error, Field};
use crate::status::StatusCode;

/// A field that may be absent, explicitly `null`, or hold a value: the reference counts an
/// explicit `null` as set (`model_fields_set`), so the distinction is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Slot<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Slot<T> {
    pub fn is_present(&self) -> bool {
        !matches!(self, Slot::Absent)
    }

    /// The same presence, with `convert` applied to a value.
    pub fn try_map<U, E>(&self, convert: impl FnOnce(&T) -> Result<U, E>) -> Result<Slot<U>, E> {
        Ok(match self {
            Slot::Absent => Slot::Absent,
            Slot::Null => Slot::Null,
            Slot::Value(value) => Slot::Value(convert(value)?),
        })
    }
}

/// One parsed job status; strings borrow from the input unless they held escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedStatus<'a> {
    pub status: StatusCode,
    pub message: Slot<Cow<'a, str>>,
    pub warnings: Slot<StrList<'a>>,
}

/// The items of a `warnings` list.
///
/// The plain scanner keeps the list as one span of the input and finds the items again when
/// they are read: nearly every list then costs no allocation. serde_json's path collects them.
#[derive(Clone, Debug)]
pub enum StrList<'a> {
    /// The text between the brackets of a list of `len` plain strings. A plain string holds no
    /// quote, so each item is the text between one quote and the next.
    Plain {
        span: &'a str,
        len: usize,
    },
    Collected(Vec<Cow<'a, str>>),
}

impl<'a> StrList<'a> {
    pub fn len(&self) -> usize {
        match self {
            StrList::Plain { len, .. } => *len,
            StrList::Collected(items) => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items in order.
    pub fn iter(&self) -> StrListIter<'_, 'a> {
        match self {
            StrList::Plain { span, len } => StrListIter::Plain {
                span,
                at: 0,
                left: *len,
            },
            StrList::Collected(items) => StrListIter::Collected(items.iter()),
        }
    }
}

impl PartialEq for StrList<'_> {
    /// Equal when the items are, however each list is held.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for StrList<'_> {}

/// The items of a [`StrList`], as `&str`.
pub enum StrListIter<'l, 'a> {
    /// The rest of a plain list: `left` items in `span` from byte `at` on.
    Plain {
        span: &'a str,
        at: usize,
        left: usize,
    },
    Collected(std::slice::Iter<'l, Cow<'a, str>>),
}

impl<'l> Iterator for StrListIter<'l, '_> {
    type Item = &'l str;

    // Inlined into the loop that builds each item's `str`: called apart, it cost more than
    // the scan itself.
    #[inline(always)]
    fn next(&mut self) -> Option<&'l str> {
        match self {
            StrListIter::Plain { span, at, left } => {
                if *left == 0 {
                    return None;
                }
                // Only a comma and whitespace come before the opening quote.
                let mut opening = *at;
                while *span.as_bytes().get(opening)? != b'"' {
                    opening += 1;
                }
                let start = opening + 1;
                let end = closing_quote(span.as_bytes(), start)?;
                *at = end + 1;
                *left -= 1;
                span.get(start..end)
            }
            StrListIter::Collected(items) => items.next().map(|item| &**item),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = match self {
            StrListIter::Plain { left, .. } => *left,
            StrListIter::Collected(items) => items.len(),
        };
        (left, Some(left))
    }
}

impl ExactSizeIterator for StrListIter<'_, '_> {}

/// The position of the first quote at or after `start` in `text`, where `start` begins the
/// content of a plain string (no escapes, no control characters): found 16 bytes at a time
/// while the text is ASCII.
#[inline(always)]
fn closing_quote(text: &[u8], start: usize) -> Option<usize> {
    let end = start + plain_ascii_run(text, start);
    match text.get(end)? {
        b'"' => Some(end),
        _ => text
            .iter()
            .skip(end)
            .position(|&byte| byte == b'"')
            .map(|offset| end + offset),
    }
}

/// Parses one JSON document. `Ok` only when the result is certainly the reference's.
pub fn parse_status(input: &[u8]) -> Result<ParsedStatus<'_>, Error> {
    if let Some(parsed) = parse_plain(input) {
        return Ok(parsed);
    }
    parse_with_serde(input)
}

/// The plain-shape scanner alone: `Some` only for documents it answers itself. Exposed so the
/// fuzz targets can check it against [`parse_with_serde`] on every input.
#[doc(hidden)]
#[inline(always)]
pub fn parse_plain(input: &[u8]) -> Option<ParsedStatus<'_>> {
    Plain::new(input).document()
}

/// The plain-shape scanner, handing each string to `sink` as it is read. `None` when the
/// scanner does not answer (the caller then runs [`parse_with_serde`]) or the sink refused.
pub fn parse_plain_into<'a, S: PlainSink<'a>>(
    input: &'a [u8],
    sink: &mut S,
) -> Option<PlainDocument<S::Text, S::List>> {
    Plain::new(input).document_into(sink)
}

/// The fields of a document the plain scanner read, with the values its sink made.
pub struct PlainDocument<T, L> {
    pub status: StatusCode,
    pub message: Slot<T>,
    pub warnings: Slot<L>,
}

/// What the plain scanner makes of the strings it reads, as it reads them: borrowed text for a
/// [`ParsedStatus`], or the Python objects of a single payload, built in the same pass.
pub trait PlainSink<'a> {
    type Text;
    type List;
    /// Whether [`Self::list`] wants the items as well as the span (a list of up to
    /// [`KEPT_ITEMS`] items is then read once, not again from its span).
    const KEEPS_ITEMS: bool;
    /// A `message` string, `ascii` if all of it is; `None` refuses the document.
    fn text(&mut self, text: &'a str, ascii: bool) -> Option<Self::Text>;
    /// A `warnings` list; `None` refuses the document.
    fn list(&mut self, list: PlainList<'a, '_>) -> Option<Self::List>;
}

/// A `warnings` list of plain strings, as the scanner read it.
pub struct PlainList<'a, 'k> {
    /// Its text between the brackets.
    pub span: &'a str,
    pub len: usize,
    /// The strings themselves, when the sink [keeps them](PlainSink::KEEPS_ITEMS) and there
    /// are at most [`KEPT_ITEMS`].
    pub items: Option<&'k [&'a str]>,
    /// Whether every item is ASCII.
    pub ascii: bool,
}

impl<'a> PlainList<'a, '_> {
    /// The list as its span, its items found again as they are read.
    pub fn as_span(&self) -> StrList<'a> {
        StrList::Plain {
            span: self.span,
            len: self.len,
        }
    }
}

/// The most items of a list the scanner keeps for a sink that wants them.
pub const KEPT_ITEMS: usize = 8;

/// The sink behind [`ParsedStatus`]: strings stay borrowed, a list stays its span.
struct Borrowed;

impl<'a> PlainSink<'a> for Borrowed {
    type Text = Cow<'a, str>;
    type List = StrList<'a>;
    const KEEPS_ITEMS: bool = false;

    fn text(&mut self, text: &'a str, _: bool) -> Option<Self::Text> {
        Some(Cow::Borrowed(text))
    }

    fn list(&mut self, list: PlainList<'a, '_>) -> Option<Self::List> {
        Some(list.as_span())
    }
}

/// The general parse, through serde_json: every escape, extra key and nesting.
pub fn parse_with_serde(input: &[u8]) -> Result<ParsedStatus<'_>, Error> {
    if has_long_integer_part(input) {
        return Err(Error::TooManyDigits);
    }
    let problem = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(input);
    let parsed = DocumentSeed { problem: &problem }.deserialize(&mut deserializer);
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
const MAX_INTEGER_DIGITS: usize = 4300;

/// Whether a run of more than [`MAX_INTEGER_DIGITS`] digits appears outside strings. Inputs
/// too short to hold one are not scanned; digits inside strings don't count, so a document
/// the plain scanner accepts (strings only) is never refused here.
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

/// Whether `byte` continues a string without escape, control character or non-ASCII text.
const fn is_plain_ascii(byte: u8) -> bool {
    matches!(byte, 0x20..=0x7f) && byte != b'"' && byte != b'\\'
}

/// The length of the run of [`is_plain_ascii`] bytes that starts at `start` in `input`: 16
/// bytes at a time where SSE2 is there (every x86-64 CPU), else 8 at a time.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn plain_ascii_run(input: &[u8], start: usize) -> usize {
    let mut at = start;
    loop {
        let stops = match input.get(at..at + 16) {
            Some(chunk) => plain_ascii_stops_16(chunk),
            None => {
                // Fewer than 16 bytes are left: read the input's last 16 bytes instead and
                // drop the ones before `at` (no copy, which would stall the load), with a stop
                // at the end of the input.
                let left = input.len().saturating_sub(at);
                match input
                    .len()
                    .checked_sub(16)
                    .and_then(|last| input.get(last..))
                {
                    Some(last) => (plain_ascii_stops_16(last) >> (16 - left)) | (1 << left),
                    None => {
                        let tail = input.get(at..).unwrap_or_default();
                        return at - start + plain_ascii_len_by_words(tail);
                    }
                }
            }
        };
        if stops != 0 {
            return at - start + stops.trailing_zeros() as usize;
        }
        at += 16;
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn plain_ascii_run(input: &[u8], start: usize) -> usize {
    plain_ascii_len_by_words(input.get(start..).unwrap_or_default())
}

/// A bit set for each of the first 16 bytes of `chunk` that is not [`is_plain_ascii`].
#[cfg(target_arch = "x86_64")]
fn plain_ascii_stops_16(chunk: &[u8]) -> u32 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    if chunk.len() < 16 {
        return u32::MAX;
    }
    // SAFETY: `chunk` holds at least 16 bytes and `loadu` needs no alignment; SSE2 is part of
    // the x86-64 baseline, so the intrinsics are always available.
    unsafe {
        let word = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        let quote = _mm_cmpeq_epi8(word, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(word, _mm_set1_epi8(b'\\' as i8));
        // A signed compare: below 0x20 is a control character, and bytes from 0x80 on are
        // negative, so one compare flags both.
        let control_or_high = _mm_cmplt_epi8(word, _mm_set1_epi8(0x20));
        let stops = _mm_or_si128(_mm_or_si128(quote, backslash), control_or_high);
        _mm_movemask_epi8(stops) as u32
    }
}

/// [`plain_ascii_run`] 8 bytes at a time, in portable code, on a slice that starts the run.
fn plain_ascii_len_by_words(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    // The high bit of each byte that is zero; a borrow can flag bytes above a true hit, never
    // below one, so the lowest flagged byte is exact.
    let zero_bytes = |word: u64| word.wrapping_sub(ONES) & !word;
    let mut run = 0;
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let stops = (zero_bytes(word ^ (ONES * u64::from(b'"')))
            | zero_bytes(word ^ (ONES * u64::from(b'\\')))
            | (word.wrapping_sub(ONES * 0x20) & !word)
            | word)
            & HIGH;
        if stops != 0 {
            return run + (stops.trailing_zeros() / 8) as usize;
        }
        run += 8;
    }
    let tail = bytes.get(run..).unwrap_or_default();
    run + tail
        .iter()
        .take_while(|&&byte| is_plain_ascii(byte))
        .count()
}

/// A scanner for the shape nearly every status has: only the three known keys, and strings
/// without escapes. It gives up (`None`) at anything else, leaving it to serde_json, so it only
/// needs to be right on what it accepts; there it is several times faster.
struct Plain<'a> {
    input: &'a [u8],
    at: usize,
}

impl<'a> Plain<'a> {
    fn new(input: &'a [u8]) -> Self {
        Plain { input, at: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Consumes `byte` after optional whitespace.
    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn eat_literal(&mut self, literal: &[u8]) -> bool {
        let found = self.input.get(self.at..self.at + literal.len()) == Some(literal);
        if found {
            self.at += literal.len();
        }
        found
    }

    /// A string without escapes or control characters, as valid UTF-8. Inlined: it is most of
    /// the scan, and the call's saved registers cost as much as a short string's check.
    /// Also tells whether the string is ASCII.
    #[inline(always)]
    fn plain_string(&mut self) -> Option<(&'a str, bool)> {
        self.eat(b'"')?;
        let start = self.at;
        let end = start + plain_ascii_run(self.input, start);
        match self.input.get(end)? {
            b'"' => {
                let content = self.input.get(start..end)?;
                self.at = end + 1;
                // SAFETY: every byte of `content` is below 0x80, so it is ASCII and valid UTF-8.
                Some((unsafe { std::str::from_utf8_unchecked(content) }, true))
            }
            0x80.. => Some((self.non_ascii_string(start)?, false)),
            _ => None,
        }
    }

    /// The rest of [`Self::plain_string`] once it meets a non-ASCII byte: found the simple way,
    /// then validated.
    #[cold]
    #[inline(never)]
    fn non_ascii_string(&mut self, start: usize) -> Option<&'a str> {
        let rest = self.input.get(start..)?;
        let len = rest
            .iter()
            .position(|&byte| byte == b'"' || byte == b'\\' || byte < 0x20)?;
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        let content = std::str::from_utf8(rest.get(..len)?).ok()?;
        self.at = start + len + 1;
        Some(content)
    }

    fn nullable<T>(&mut self, value: impl FnOnce(&mut Self) -> Option<T>) -> Option<Slot<T>> {
        self.skip_whitespace();
        if self.eat_literal(b"null") {
            return Some(Slot::Null);
        }
        value(self).map(Slot::Value)
    }

    /// A list of plain strings, handed to the sink as its span (and its items, if the sink
    /// keeps them): nothing is allocated. Inlined: returned through memory, the list cost a
    /// store-forwarding stall, half the time of a short parse.
    #[inline(always)]
    fn string_list<S: PlainSink<'a>>(&mut self, sink: &mut S) -> Option<S::List> {
        self.eat(b'[')?;
        let start = self.at;
        let mut len = 0;
        let mut items: [&'a str; KEPT_ITEMS] = [""; KEPT_ITEMS];
        let mut all_ascii = true;
        if self.eat(b']').is_none() {
            loop {
                let (item, ascii) = self.plain_string()?;
                all_ascii &= ascii;
                if S::KEEPS_ITEMS {
                    if let Some(slot) = items.get_mut(len) {
                        *slot = item;
                    }
                }
                len += 1;
                if self.eat(b']').is_some() {
                    break;
                }
                self.eat(b',')?;
            }
        }
        let span = self.input.get(start..self.at - 1)?;
        // SAFETY: the span holds only whitespace, commas (ASCII) and strings that
        // `plain_string` checked to be valid UTF-8, so it is valid UTF-8 too.
        let span = unsafe { std::str::from_utf8_unchecked(span) };
        let kept = if S::KEEPS_ITEMS {
            items.get(..len)
        } else {
            None
        };
        sink.list(PlainList {
            span,
            len,
            items: kept,
            ascii: all_ascii,
        })
    }

    /// Consumes `literal` if the input continues with it (a fixed-size compare the compiler
    /// turns into a few word loads, no `memcmp` call).
    fn eat_exact<const N: usize>(&mut self, literal: &[u8; N]) -> bool {
        let found = self
            .input
            .get(self.at..)
            .and_then(|rest| rest.first_chunk::<N>())
            .is_some_and(|head| head == literal);
        if found {
            self.at += N;
        }
        found
    }

    /// One of the three field names, written plainly (an escaped or other key gives up). The
    /// letter after the quote picks the one name to compare.
    fn key(&mut self) -> Option<Field> {
        self.skip_whitespace();
        let (field, found) = match self.input.get(self.at + 1)? {
            b's' => (Field::Status, self.eat_exact(b"\"status\"")),
            b'm' => (Field::Message, self.eat_exact(b"\"message\"")),
            b'w' => (Field::Warnings, self.eat_exact(b"\"warnings\"")),
            _ => return None,
        };
        found.then_some(field)
    }

    /// One of the five status values, written plainly, picked the same way (the two pending
    /// states differ at their tenth letter).
    fn status_value(&mut self) -> Option<StatusCode> {
        self.skip_whitespace();
        let letter = |offset: usize| self.input.get(self.at + offset).copied();
        let (status, found) = match (letter(1)?, letter(9)) {
            (b'p', Some(b'c')) => (
                StatusCode::PendingCompilation,
                self.eat_exact(b"\"pending compilation\""),
            ),
            (b'p', _) => (
                StatusCode::PendingExecution,
                self.eat_exact(b"\"pending execution\""),
            ),
            (b'r', _) => (StatusCode::Ready, self.eat_exact(b"\"ready\"")),
            (b'f', _) => (StatusCode::Failed, self.eat_exact(b"\"failed\"")),
            (b'a', _) => (StatusCode::Aborted, self.eat_exact(b"\"aborted\"")),
            _ => return None,
        };
        found.then_some(status)
    }

    #[inline(always)]
    fn document(self) -> Option<ParsedStatus<'a>> {
        let document = self.document_into(&mut Borrowed)?;
        Some(ParsedStatus {
            status: document.status,
            message: document.message,
            warnings: document.warnings,
        })
    }

    #[inline(always)]
    fn document_into<S: PlainSink<'a>>(
        mut self,
        sink: &mut S,
    ) -> Option<PlainDocument<S::Text, S::List>> {
        self.eat(b'{')?;
        let mut status = None;
        let mut message = Slot::Absent;
        let mut warnings = Slot::Absent;
        loop {
            let field = self.key()?;
            self.eat(b':')?;
            match field {
                Field::Status if status.is_none() => status = Some(self.status_value()?),
                Field::Message if !message.is_present() => {
                    message = self.nullable(|p| {
                        let (text, ascii) = p.plain_string()?;
                        sink.text(text, ascii)
                    })?;
                }
                Field::Warnings if !warnings.is_present() => {
                    warnings = self.nullable(|p| p.string_list(sink))?;
                }
                _ => return None,
            }
            if self.eat(b'}').is_some() {
                break;
            }
            self.eat(b',')?;
        }
        self.skip_whitespace();
        if self.at != self.input.len() {
            return None;
        }
        Some(PlainDocument {
            status: status?,
            message,
            warnings,
        })
    }
}

/// Records the first semantic problem and returns the error that stops serde_json.
fn fail<E: de::Error>(problem: &Cell<Option<Error>>, error: Error) -> E {
    let message = E::custom(&error);
    problem.set(Some(error));
    message
}

struct DocumentSeed<'p> {
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
        let mut message = Slot::Absent;
        let mut warnings = Slot::Absent;
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
                Field::Status => status = Some(map.next_value_seed(StatusSeed { problem })?),
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

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(fail(self.problem, Error::NotAnObject))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::NotAnObject))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::NotAnObject))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::NotAnObject))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::NotAnObject))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::NotAnObject))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::NotAnObject))
    }
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

/// The `status` value: one of the five strings, as a code.
struct StatusSeed<'p> {
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
        StatusCode::from_value(value.as_bytes())
            .ok_or_else(|| fail(self.problem, Error::UnknownStatus))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(Field::Status)))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(Field::Status)))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(Field::Status)))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(Field::Status)))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(Field::Status)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(fail(self.problem, Error::WrongType(Field::Status)))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(fail(self.problem, Error::WrongType(Field::Status)))
    }
}

/// `null` or the inner value.
struct NullableSeed<S> {
    inner: S,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for NullableSeed<S> {
    type Value = Slot<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for NullableSeed<S> {
    type Value = Slot<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null or a value")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Slot::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.inner.deserialize(deserializer).map(Slot::Value)
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

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(self.field)))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(self.field)))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(self.field)))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(self.field)))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(self.field)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(fail(self.problem, Error::WrongType(self.field)))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(fail(self.problem, Error::WrongType(self.field)))
    }
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

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(Field::Warnings)))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(Field::Warnings)))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(Field::Warnings)))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(Field::Warnings)))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(Field::Warnings)))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(fail(self.problem, Error::WrongType(Field::Warnings)))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(fail(self.problem, Error::WrongType(Field::Warnings)))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<ParsedStatus<'_>, Error> {
        parse_status(input.as_bytes())
    }

    #[test]
    fn minimal_payload() {
        let parsed = parse(r#"{"status": "pending compilation"}"#).unwrap();
        assert_eq!(parsed.status, StatusCode::PendingCompilation);
        assert_eq!(parsed.message, Slot::Absent);
        assert_eq!(parsed.warnings, Slot::Absent);
    }

    #[test]
    fn every_status() {
        for status in StatusCode::ALL {
            let doc = format!(r#"{{"status":"{}"}}"#, status.value());
            assert_eq!(parse(&doc).unwrap().status, status);
        }
    }

    #[test]
    fn full_payload_borrows_plain_strings() {
        let parsed = parse(
            r#"{"status":"failed","message":"boom","warnings":["a","b\nc"],"x":[1,{"y":null}]}"#,
        )
        .unwrap();
        assert_eq!(parsed.status, StatusCode::Failed);
        let Slot::Value(message) = &parsed.message else {
            panic!("message")
        };
        assert!(matches!(message, Cow::Borrowed("boom")));
        let Slot::Value(StrList::Collected(warnings)) = &parsed.warnings else {
            panic!("warnings")
        };
        assert!(matches!(warnings[0], Cow::Borrowed("a")));
        assert!(matches!(&warnings[1], Cow::Owned(s) if s == "b\nc"));
    }

    /// A sink that records what the scanner hands it.
    struct Recording(Vec<(usize, Option<Vec<String>>, Vec<String>)>);

    impl<'a> PlainSink<'a> for Recording {
        type Text = String;
        type List = ();
        const KEEPS_ITEMS: bool = true;

        fn text(&mut self, text: &'a str, ascii: bool) -> Option<String> {
            assert_eq!(ascii, text.is_ascii());
            Some(text.to_owned())
        }

        fn list(&mut self, list: PlainList<'a, '_>) -> Option<()> {
            assert_eq!(list.ascii, list.span.is_ascii());
            let kept =
                (list.items).map(|items| items.iter().map(|item| item.to_string()).collect());
            let again = list.as_span().iter().map(str::to_owned).collect();
            self.0.push((list.len, kept, again));
            Some(())
        }
    }

    #[test]
    fn a_sink_gets_the_items_of_short_lists_as_they_are_read() {
        for count in [0, 1, KEPT_ITEMS, KEPT_ITEMS + 1, 3 * KEPT_ITEMS] {
            let items: Vec<String> = (0..count).map(|i| format!("w{i} \u{e9}")).collect();
            let doc = format!(
                r#"{{"message": "m", "status":"ready","warnings":[ {} ]}}"#,
                items
                    .iter()
                    .map(|item| format!("\"{item}\""))
                    .collect::<Vec<_>>()
                    .join(" ,")
            );
            let mut sink = Recording(Vec::new());
            let document = parse_plain_into(doc.as_bytes(), &mut sink).unwrap();
            assert_eq!(document.status, StatusCode::Ready);
            assert_eq!(document.message, Slot::Value("m".to_owned()));
            let [(len, kept, again)] = &sink.0[..] else {
                panic!("one list")
            };
            assert_eq!((*len, again), (count, &items));
            assert_eq!(kept.as_ref(), (count <= KEPT_ITEMS).then_some(&items));
        }
    }

    #[test]
    fn plain_lists_are_spans_read_item_by_item() {
        let doc =
            "{\"status\":\"ready\",\"warnings\":[ \"a\" ,\"\",\"caf\u{e9} \u{1f600}\", \"x y\"\t]}";
        let parsed = Plain::new(doc.as_bytes()).document().unwrap();
        let Slot::Value(warnings @ StrList::Plain { .. }) = &parsed.warnings else {
            panic!("a plain list is kept as its span")
        };
        assert_eq!(warnings.len(), 4);
        assert_eq!(warnings.iter().len(), 4);
        let items: Vec<&str> = warnings.iter().collect();
        assert_eq!(items, ["a", "", "caf\u{e9} \u{1f600}", "x y"]);
        assert_eq!(parsed, parse_with_serde(doc.as_bytes()).unwrap());
        let empty = Plain::new(br#"{"status":"ready","warnings":[ ]}"#)
            .document()
            .unwrap();
        assert_eq!(empty.warnings, Slot::Value(StrList::Collected(Vec::new())));
        assert!(
            matches!(&empty.warnings, Slot::Value(list) if list.is_empty() && list.iter().next().is_none())
        );
    }

    #[test]
    fn explicit_nulls_are_present() {
        let parsed = parse(r#"{"message":null,"warnings":null,"status":"ready"}"#).unwrap();
        assert_eq!(parsed.message, Slot::Null);
        assert_eq!(parsed.warnings, Slot::Null);
    }

    #[test]
    fn escaped_keys_match() {
        let parsed = parse(r#"{"st\u0061tus":"re\u0061dy"}"#).unwrap();
        assert_eq!(parsed.status, StatusCode::Ready);
    }

    #[test]
    fn semantic_problems_are_classified() {
        assert!(matches!(
            parse(r#"{"message":"x"}"#),
            Err(Error::MissingStatus)
        ));
        assert!(matches!(
            parse(r#"{"status":"Ready"}"#),
            Err(Error::UnknownStatus)
        ));
        assert!(matches!(
            parse(r#"{"status":1}"#),
            Err(Error::WrongType(Field::Status))
        ));
        assert!(matches!(
            parse(r#"{"status":"ready","message":1}"#),
            Err(Error::WrongType(Field::Message))
        ));
        assert!(matches!(
            parse(r#"{"status":"ready","warnings":[1]}"#),
            Err(Error::WrongType(Field::Warnings))
        ));
        assert!(matches!(
            parse(r#"{"status":"ready","warnings":"w"}"#),
            Err(Error::WrongType(Field::Warnings))
        ));
        assert!(matches!(
            parse(r#"{"status":"ready","st\u0061tus":"failed"}"#),
            Err(Error::DuplicateKey(Field::Status))
        ));
        for doc in ["[]", "\"ready\"", "1", "null", "true"] {
            assert!(matches!(parse(doc), Err(Error::NotAnObject)), "{doc}");
        }
    }

    #[test]
    fn what_json_loads_treats_differently_is_refused() {
        let big_int = format!(r#"{{"status":"ready","x":1{}}}"#, "0".repeat(5000));
        let deep = format!(
            r#"{{"status":"ready","x":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        for doc in [
            r#"{"status":"ready","x":NaN}"#,
            r#"{"status":"ready","x":1e400}"#,
            r#"{"status":"ready","message":"\ud800"}"#,
            "\u{feff}{\"status\":\"ready\"}",
            r#"{"status":"ready"} x"#,
            r#"{"status":"ready",}"#,
            "",
            deep.as_str(),
        ] {
            assert!(matches!(parse(doc), Err(Error::Json(_))), "{doc:.60}");
        }
        assert!(matches!(parse(&big_int), Err(Error::TooManyDigits)));
        assert!(matches!(
            parse_status(b"{\"status\":\"ready\",\"m\":\"\xff\"}"),
            Err(Error::Json(_))
        ));
    }

    #[test]
    fn long_integer_parts_are_refused_even_in_range() {
        // Found by the Python-level fuzzing: serde_json reads these as finite floats, but
        // pydantic's model_validate_json rejects an integer part over 4300 digits.
        let nines = "9".repeat(MAX_INTEGER_DIGITS + 1);
        for number in [
            format!("{nines}e-4000"),
            format!("-{nines}.5e-4000"),
            // A long exponent is refused too: rare, and the pure path is right either way.
            format!("0.5e-{nines}"),
        ] {
            let doc = format!(r#"{{"status":"ready","x":{number}}}"#);
            assert!(
                matches!(parse(&doc), Err(Error::TooManyDigits)),
                "{number:.20}"
            );
        }
        let in_range = format!(
            r#"{{"status":"ready","x":{}e-4000}}"#,
            "9".repeat(MAX_INTEGER_DIGITS)
        );
        assert!(parse(&in_range).is_ok());
        // Digits inside strings, even after escaped quotes, are text, not numbers.
        let in_string = format!(r#"{{"status":"ready","message":"\"{nines}","x":1}}"#);
        assert!(parse(&in_string).is_ok());
        let plain = format!(r#"{{"status":"ready","message":"{nines}"}}"#);
        assert!(parse_plain(plain.as_bytes()).is_some());
        assert!(parse_with_serde(plain.as_bytes()).is_ok());
    }

    #[test]
    fn nesting_just_under_the_limit_is_accepted() {
        let nested = format!(
            r#"{{"status":"ready","x":{}{}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(parse(&nested).is_ok());
    }

    #[test]
    fn plain_scanner_agrees_with_serde_where_it_answers() {
        let docs = [
            r#"{"status":"ready"}"#,
            r#" { "status" : "failed" , "message" : "m\u00e9" , "warnings" : [ "a" , "b" ] } "#,
            "{\"status\":\"failed\",\"message\":\"caf\u{e9} \u{1f600}\",\"warnings\":[]}",
            r#"{"warnings":null,"message":null,"status":"aborted"}"#,
            r#"{"status":"ready","x":1}"#,
            r#"{"status":"ready","status":"failed"}"#,
            r#"{"status":"ready","message":"a\"b"}"#,
            r#"{"status":"nope"}"#,
            r#"{"message":"m"}"#,
            r#"{"status":"ready"}  x"#,
            r#"{"status":"ready",}"#,
            r#"{"status":"ready","warnings":["a",]}"#,
            r#"{"status":"ready","message":nul}"#,
            "{\"status\":\"ready\",\"message\":\"tab\there\"}",
        ];
        let mut answered = 0;
        for doc in docs {
            if let Some(plain) = Plain::new(doc.as_bytes()).document() {
                answered += 1;
                assert_eq!(Some(plain), parse_with_serde(doc.as_bytes()).ok(), "{doc}");
            }
        }
        assert_eq!(answered, 3);
        let invalid_utf8 = b"{\"status\":\"ready\",\"message\":\"\xff\"}";
        assert!(Plain::new(invalid_utf8).document().is_none());
    }

    #[test]
    fn plain_ascii_run_stops_exactly_at_the_first_stop_byte() {
        let plain_ascii_len = |bytes: &[u8]| plain_ascii_run(bytes, 0);
        assert_eq!(plain_ascii_len(b"abcdefghijklmnop\""), 16);
        assert_eq!(plain_ascii_len(b""), 0);
        assert_eq!(plain_ascii_len(b"abc"), 3);
        // Runs that start inside the input, ending in its last 16 bytes or at its end.
        let text = b"0123456789abcdefghijklmnopqrstuvwxyz";
        for start in 0..=text.len() {
            assert_eq!(
                plain_ascii_run(text, start),
                text.len() - start,
                "from {start}"
            );
            let mut quoted = text.to_vec();
            quoted[text.len() - 1] = b'"';
            assert_eq!(
                plain_ascii_run(&quoted, start.min(text.len() - 1)),
                text.len() - 1 - start.min(text.len() - 1)
            );
        }
        for stop in [b'"', b'\\', 0x00, 0x01, 0x1f, 0x80, 0xff] {
            for len in 1..40 {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = stop;
                    // A second stop byte right after must not move the answer.
                    if at + 1 < len {
                        bytes[at + 1] = 0x00;
                    }
                    assert_eq!(plain_ascii_len(&bytes), at, "{stop:#x} at {at} of {len}");
                }
            }
        }
        for byte in 0..=255u8 {
            for len in [9, 17, 33] {
                let expected = if is_plain_ascii(byte) { len } else { 0 };
                let bytes = vec![byte; len];
                assert_eq!(plain_ascii_len(&bytes), expected, "{byte:#x}");
                assert_eq!(plain_ascii_len_by_words(&bytes), expected, "{byte:#x}");
            }
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let doc = r#"{"status":"failed","message":"m","warnings":["w1","w2"],"extra":{"k":[1,2.5,true,null]}}"#;
        for end in 0..doc.len() {
            assert!(parse(&doc[..end]).is_err(), "{}", &doc[..end]);
        }
        assert!(parse(doc).is_ok());
    }
}
