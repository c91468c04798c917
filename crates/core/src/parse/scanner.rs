//! The scanner for the shape nearly every status has: only the three known keys, and strings
//! without escapes. It answers those documents much faster than serde_json and gives up on
//! anything else, so it only needs to be right on what it accepts.

use std::borrow::Cow;

use super::types::{ParsedStatus, Presence, StrList};
use crate::error::Field;
use crate::simd::unescaped_ascii_run;
use crate::status::{StatusCode, Vocabulary};

/// The scanner alone: `Some` only for documents it answers itself. Exposed so the
/// fuzz targets can check it against [`parse_with_serde`] on every input.
#[doc(hidden)]
#[inline(always)]
pub fn scan_status<'a>(vocabulary: &Vocabulary, input: &'a [u8]) -> Option<ParsedStatus<'a>> {
    Scanner::new(vocabulary, input).document()
}

/// The scanner, handing each string to `sink` as it is read. `None` when the
/// scanner does not answer (the caller then runs [`parse_with_serde`]) or the sink refused.
pub fn scan_status_into<'a, S: ScanSink<'a>>(
    vocabulary: &Vocabulary,
    input: &'a [u8],
    sink: &mut S,
) -> Option<ScannedDocument<S::Text, S::List>> {
    Scanner::new(vocabulary, input).document_into(sink)
}

/// The fields of a document the scanner read, with the values its sink made.
pub struct ScannedDocument<T, L> {
    pub status: StatusCode,
    pub message: Presence<T>,
    pub warnings: Presence<L>,
}

/// What the scanner makes of the strings it reads, as it reads them: borrowed text for a
/// [`ParsedStatus`], or the Python objects of a single payload, built in the same pass.
pub trait ScanSink<'a> {
    type Text;
    type List;
    /// Whether [`Self::list`] wants the items as well as the span (a list of up to
    /// [`KEPT_ITEMS`] items is then read once, not again from its span).
    const KEEPS_ITEMS: bool;
    /// A `message` string, `ascii` if all of it is; `None` refuses the document.
    fn text(&mut self, text: &'a str, ascii: bool) -> Option<Self::Text>;
    /// A `warnings` list; `None` refuses the document.
    fn list(&mut self, list: ScannedList<'a, '_>) -> Option<Self::List>;
}

/// A `warnings` list of unescaped strings, as the scanner read it.
pub struct ScannedList<'a, 'k> {
    /// Its text between the brackets.
    pub span: &'a str,
    pub len: usize,
    /// The strings themselves, when the sink [keeps them](ScanSink::KEEPS_ITEMS) and there
    /// are at most [`KEPT_ITEMS`].
    pub items: Option<&'k [&'a str]>,
    /// Whether every item is ASCII.
    pub ascii: bool,
}

impl<'a> ScannedList<'a, '_> {
    /// The list as its span, its items found again as they are read.
    pub fn as_span(&self) -> StrList<'a> {
        StrList::Span {
            span: self.span,
            len: self.len,
        }
    }
}

/// The most items of a list the scanner keeps for a sink that wants them.
pub const KEPT_ITEMS: usize = 8;

/// The sink behind [`ParsedStatus`]: strings stay borrowed, a list stays its span.
struct BorrowingSink;

impl<'a> ScanSink<'a> for BorrowingSink {
    type Text = Cow<'a, str>;
    type List = StrList<'a>;
    const KEEPS_ITEMS: bool = false;

    fn text(&mut self, text: &'a str, _: bool) -> Option<Self::Text> {
        Some(Cow::Borrowed(text))
    }

    fn list(&mut self, list: ScannedList<'a, '_>) -> Option<Self::List> {
        Some(list.as_span())
    }
}

/// A scanner for the shape nearly every status has: only the three known keys, and strings
/// without escapes. It gives up (`None`) at anything else, leaving it to serde_json, so it only
/// needs to be right on what it accepts.
struct Scanner<'a, 'v> {
    vocabulary: &'v Vocabulary,
    input: &'a [u8],
    at: usize,
}

impl<'a, 'v> Scanner<'a, 'v> {
    fn new(vocabulary: &'v Vocabulary, input: &'a [u8]) -> Self {
        Scanner {
            vocabulary,
            input,
            at: 0,
        }
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
    fn unescaped_string(&mut self) -> Option<(&'a str, bool)> {
        self.eat(b'"')?;
        let start = self.at;
        let end = start + unescaped_ascii_run(self.input, start);
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

    /// The rest of [`Self::unescaped_string`] once it meets a non-ASCII byte: found the simple way,
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

    fn nullable<T>(&mut self, value: impl FnOnce(&mut Self) -> Option<T>) -> Option<Presence<T>> {
        self.skip_whitespace();
        if self.eat_literal(b"null") {
            return Some(Presence::Null);
        }
        value(self).map(Presence::Value)
    }

    /// A list of unescaped strings, handed to the sink as its span (and its items, if the sink
    /// keeps them): nothing is allocated. Inlined: returned through memory, the list would cost
    /// a store-forwarding stall, a large share of a short parse.
    #[inline(always)]
    fn string_list<S: ScanSink<'a>>(&mut self, sink: &mut S) -> Option<S::List> {
        self.eat(b'[')?;
        let start = self.at;
        let mut len = 0;
        let mut items: [&'a str; KEPT_ITEMS] = [""; KEPT_ITEMS];
        let mut all_ascii = true;
        if self.eat(b']').is_none() {
            loop {
                let (item, ascii) = self.unescaped_string()?;
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
        // `unescaped_string` checked to be valid UTF-8, so it is valid UTF-8 too.
        let span = unsafe { std::str::from_utf8_unchecked(span) };
        let kept = if S::KEEPS_ITEMS {
            items.get(..len)
        } else {
            None
        };
        sink.list(ScannedList {
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

    /// One of the vocabulary's values, written plainly (one with an escape gives up).
    #[inline(always)]
    fn status_value(&mut self) -> Option<StatusCode> {
        self.eat(b'"')?;
        let (status, len) = self.vocabulary.plain_value_at(self.input.get(self.at..)?)?;
        self.at += len;
        Some(status)
    }

    #[inline(always)]
    fn document(self) -> Option<ParsedStatus<'a>> {
        let document = self.document_into(&mut BorrowingSink)?;
        Some(ParsedStatus {
            status: document.status,
            message: document.message,
            warnings: document.warnings,
        })
    }

    #[inline(always)]
    fn document_into<S: ScanSink<'a>>(
        mut self,
        sink: &mut S,
    ) -> Option<ScannedDocument<S::Text, S::List>> {
        self.eat(b'{')?;
        let mut status = None;
        let mut message = Presence::Absent;
        let mut warnings = Presence::Absent;
        loop {
            let field = self.key()?;
            self.eat(b':')?;
            match field {
                Field::Status if status.is_none() => status = Some(self.status_value()?),
                Field::Message if !message.is_present() => {
                    message = self.nullable(|p| {
                        let (text, ascii) = p.unescaped_string()?;
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
        Some(ScannedDocument {
            status: status?,
            message,
            warnings,
        })
    }
}
