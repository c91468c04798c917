//! What a parse produces: a status with its two optional fields, borrowed from the input where
//! the text allows.

use std::borrow::Cow;

use crate::simd::unescaped_ascii_run;
use crate::status::StatusCode;

/// A field that may be absent, explicitly `null`, or hold a value: the reference counts an
/// explicit `null` as set (`model_fields_set`), so the distinction is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Presence<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Presence<T> {
    pub fn is_present(&self) -> bool {
        !matches!(self, Presence::Absent)
    }

    /// The same presence, with `convert` applied to a value.
    pub fn try_map<U, E>(
        &self,
        convert: impl FnOnce(&T) -> Result<U, E>,
    ) -> Result<Presence<U>, E> {
        Ok(match self {
            Presence::Absent => Presence::Absent,
            Presence::Null => Presence::Null,
            Presence::Value(value) => Presence::Value(convert(value)?),
        })
    }
}

/// One parsed job status; strings borrow from the input unless they held escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedStatus<'a> {
    pub status: StatusCode,
    pub message: Presence<Cow<'a, str>>,
    pub warnings: Presence<StrList<'a>>,
}

/// The items of a `warnings` list.
///
/// The scanner keeps the list as one span of the input and finds the items again when
/// they are read: nearly every list then costs no allocation. serde_json's path collects them.
#[derive(Clone, Debug)]
pub enum StrList<'a> {
    /// The text between the brackets of a list of `len` unescaped strings. A unescaped string holds no
    /// quote, so each item is the text between one quote and the next.
    Span {
        span: &'a str,
        len: usize,
    },
    Collected(Vec<Cow<'a, str>>),
}

impl<'a> StrList<'a> {
    pub fn len(&self) -> usize {
        match self {
            StrList::Span { len, .. } => *len,
            StrList::Collected(items) => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items in order.
    pub fn iter(&self) -> StrListIter<'_, 'a> {
        match self {
            StrList::Span { span, len } => StrListIter::Span {
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
    /// The rest of a scanned list: `left` items in `span` from byte `at` on.
    Span {
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
            StrListIter::Span { span, at, left } => {
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
            StrListIter::Span { left, .. } => *left,
            StrListIter::Collected(items) => items.len(),
        };
        (left, Some(left))
    }
}

impl ExactSizeIterator for StrListIter<'_, '_> {}

/// The position of the first quote at or after `start` in `text`, where `start` begins the
/// content of a unescaped string (no escapes, no control characters): found 16 bytes at a time
/// while the text is ASCII.
#[inline(always)]
fn closing_quote(text: &[u8], start: usize) -> Option<usize> {
    let end = start + unescaped_ascii_run(text, start);
    match text.get(end)? {
        b'"' => Some(end),
        _ => text
            .iter()
            .skip(end)
            .position(|&byte| byte == b'"')
            .map(|offset| end + offset),
    }
}
