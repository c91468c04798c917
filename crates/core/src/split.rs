//! Splitting a JSON array, or NDJSON text, into its payloads, without Python.
//!
//! [`split_array`] validates the whole document against the grammar `json.loads` reads (JSON
//! with `NaN`, `Infinity` and `-Infinity`, strict strings, UTF-8 in which `surrogatepass`
//! surrogates are allowed) and returns the byte slice of each top-level element. It keeps its
//! own stack of open containers instead of recursing, so any depth takes linear time and one
//! byte of stack a level. Only the grammar is checked here: what an element means (a long
//! integer, nesting past a parser's limit, a duplicate key) is for the parse of that element.

use std::collections::TryReserveError;

/// The UTF-8 byte order mark, which `json.loads` skips at the start of `bytes` (not of `str`).
pub const BOM: &[u8] = b"\xef\xbb\xbf";

/// Why a document was not split into array elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitError {
    /// Not a document `json.loads` reads: bad grammar, invalid UTF-8, a stray byte order mark.
    Invalid,
    /// A valid document whose top-level value is not an array: the name of the Python type
    /// `json.loads` gives it.
    NotAnArray(&'static str),
    /// Room for the elements, or for the stack of open containers, could not be reserved.
    OutOfMemory,
}

impl From<TryReserveError> for SplitError {
    fn from(_: TryReserveError) -> Self {
        SplitError::OutOfMemory
    }
}

/// Whether a byte is JSON whitespace (the only whitespace `json.loads` skips).
pub fn is_json_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// The encoding `json.loads` reads `bytes` in, as `json.detect_encoding` decides it from the
/// first four bytes; `None` for UTF-8 (with or without a byte order mark), which is read here.
pub fn foreign_encoding(doc: &[u8]) -> Option<&'static str> {
    const UTF32_BOMS: [&[u8]; 2] = [b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"];
    const UTF16_BOMS: [&[u8]; 2] = [b"\xfe\xff", b"\xff\xfe"];
    if UTF32_BOMS.iter().any(|bom| doc.starts_with(bom)) {
        return Some("utf-32");
    }
    if UTF16_BOMS.iter().any(|bom| doc.starts_with(bom)) {
        return Some("utf-16");
    }
    if doc.starts_with(BOM) {
        return None;
    }
    match doc {
        [0, 0, _, _, ..] => Some("utf-32-be"),
        [0, _, _, _, ..] => Some("utf-16-be"),
        [_, 0, 0, 0, ..] => Some("utf-32-le"),
        [_, 0, _, _, ..] => Some("utf-16-le"),
        [0, _] => Some("utf-16-be"),
        [_, 0] => Some("utf-16-le"),
        _ => None,
    }
}

/// Whether `bytes` decode with Python's `utf-8` codec and the `surrogatepass` handler: UTF-8,
/// plus the three-byte forms of U+D800 to U+DFFF.
pub fn is_utf8_surrogatepass(mut bytes: &[u8]) -> bool {
    loop {
        let Err(error) = std::str::from_utf8(bytes) else {
            return true;
        };
        match bytes.get(error.valid_up_to()..) {
            Some([0xed, 0xa0..=0xbf, 0x80..=0xbf, rest @ ..]) => bytes = rest,
            _ => return false,
        }
    }
}

/// The top-level elements of the JSON array `doc`, each as the bytes from its first to its
/// last character (no surrounding whitespace). `skip_bom`: whether a leading UTF-8 byte order
/// mark is skipped, as `json.loads` does for `bytes`; for `str` it is an error.
pub fn split_array(doc: &[u8], skip_bom: bool) -> Result<Vec<&[u8]>, SplitError> {
    if !is_utf8_surrogatepass(doc) {
        return Err(SplitError::Invalid);
    }
    let start = if skip_bom && doc.starts_with(BOM) {
        BOM.len()
    } else {
        0
    };
    let mut scanner = Scanner {
        doc,
        pos: start,
        stack: Vec::new(),
    };
    scanner.skip_space();
    let first = scanner.peek();
    let mut elements = Vec::new();
    let last = scanner.document(&mut elements)?;
    match first {
        Some(b'[') => Ok(elements),
        Some(b'{') => Err(SplitError::NotAnArray("dict")),
        Some(b'"') => Err(SplitError::NotAnArray("str")),
        Some(b't' | b'f') => Err(SplitError::NotAnArray("bool")),
        Some(b'n') => Err(SplitError::NotAnArray("NoneType")),
        _ => Err(SplitError::NotAnArray(last.python_type())),
    }
}

/// The non-blank lines of NDJSON text: split at `\n`, lines of only JSON whitespace skipped.
pub fn ndjson_lines(text: &[u8]) -> Result<Vec<&[u8]>, TryReserveError> {
    let mut lines = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|line| !is_blank(line)) {
        // As a push grows the list, but an allocation that fails is an error, not an abort.
        lines.try_reserve(1)?;
        lines.push(line);
    }
    Ok(lines)
}

/// Whether an NDJSON line (which holds no `\n`) has only JSON whitespace.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| is_json_space(b))
}

/// NDJSON read a chunk at a time: the whole lines are handed on as soon as they are complete,
/// and the rest waits for the next chunk. The search for a line end covers only the bytes a
/// chunk added (what came before holds none), so each byte is searched once however long a
/// line grows over many chunks.
#[derive(Debug, Default)]
pub struct LineStream {
    pending: Vec<u8>,
    /// Bytes searched for a line end so far, over the stream's life.
    searched: usize,
}

impl LineStream {
    /// Appends `chunk` (the room for it reserved fallibly) and returns the length of the whole
    /// lines now at the start (up to and including the last `\n`), if any: take them with
    /// [`LineStream::whole_lines`], then [`LineStream::consume`] them.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Option<usize>, TryReserveError> {
        self.pending.try_reserve(chunk.len())?;
        let start = self.pending.len();
        self.pending.extend_from_slice(chunk);
        let unsearched = self.pending.get(start..).unwrap_or_default();
        self.searched = self.searched.saturating_add(unsearched.len());
        Ok(unsearched
            .iter()
            .rposition(|&b| b == b'\n')
            .map(|at| start + at + 1))
    }

    /// The first `len` bytes waiting.
    pub fn whole_lines(&self, len: usize) -> &[u8] {
        self.pending.get(..len).unwrap_or_default()
    }

    /// Drops the first `len` bytes (whole lines, once parsed); the rest holds no line end.
    pub fn consume(&mut self, len: usize) {
        self.pending.drain(..len.min(self.pending.len()));
    }

    /// The bytes waiting: at the end of the stream, its last line, which has no `\n`.
    pub fn rest(&self) -> &[u8] {
        &self.pending
    }

    /// Bytes searched for a line end so far: the bytes pushed, once each.
    pub fn searched(&self) -> usize {
        self.searched
    }
}

/// The kind of the last scalar read, for the Python type of a scalar document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scalar {
    Other,
    Int,
    Float,
}

impl Scalar {
    fn python_type(self) -> &'static str {
        match self {
            Scalar::Int => "int",
            Scalar::Float => "float",
            // Only reached for containers, strings and literals, named by their first byte.
            Scalar::Other => "object",
        }
    }
}

/// What the scanner expects next.
#[derive(Clone, Copy)]
enum Next {
    Value,
    AfterValue,
}

struct Scanner<'a> {
    doc: &'a [u8],
    pos: usize,
    /// The open containers, innermost last: `[` or `{`.
    stack: Vec<u8>,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.doc.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_json_space) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), SplitError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(SplitError::Invalid)
        }
    }

    fn literal(&mut self, text: &[u8]) -> Result<(), SplitError> {
        match self.doc.get(self.pos..) {
            Some(rest) if rest.starts_with(text) => {
                self.pos += text.len();
                Ok(())
            }
            _ => Err(SplitError::Invalid),
        }
    }

    /// Whether the value that just ended is an element of the top-level array.
    fn in_top_array(&self) -> bool {
        self.stack.len() == 1 && self.stack.first() == Some(&b'[')
    }

    /// Reads the whole document, pushing the top-level array's elements to `elements`.
    /// Returns the kind of the last scalar read (the document's own, if it is a scalar).
    fn document(&mut self, elements: &mut Vec<&'a [u8]>) -> Result<Scalar, SplitError> {
        let mut next = Next::Value;
        let mut element_start = self.pos;
        let mut scalar = Scalar::Other;
        loop {
            match next {
                Next::Value => {
                    self.skip_space();
                    if self.in_top_array() {
                        element_start = self.pos;
                    }
                    scalar = Scalar::Other;
                    match self.peek().ok_or(SplitError::Invalid)? {
                        open @ (b'[' | b'{') => {
                            self.pos += 1;
                            self.skip_space();
                            let close = if open == b'[' { b']' } else { b'}' };
                            if self.peek() == Some(close) {
                                self.pos += 1;
                                next = Next::AfterValue;
                            } else {
                                self.stack.try_reserve(1)?;
                                self.stack.push(open);
                                if open == b'{' {
                                    self.key()?;
                                }
                            }
                        }
                        b'"' => {
                            self.string()?;
                            next = Next::AfterValue;
                        }
                        b't' => {
                            self.literal(b"true")?;
                            next = Next::AfterValue;
                        }
                        b'f' => {
                            self.literal(b"false")?;
                            next = Next::AfterValue;
                        }
                        b'n' => {
                            self.literal(b"null")?;
                            next = Next::AfterValue;
                        }
                        b'N' => {
                            self.literal(b"NaN")?;
                            scalar = Scalar::Float;
                            next = Next::AfterValue;
                        }
                        b'I' => {
                            self.literal(b"Infinity")?;
                            scalar = Scalar::Float;
                            next = Next::AfterValue;
                        }
                        b'-' | b'0'..=b'9' => {
                            scalar = self.number()?;
                            next = Next::AfterValue;
                        }
                        _ => return Err(SplitError::Invalid),
                    }
                }
                Next::AfterValue => {
                    if self.in_top_array() {
                        let element = self
                            .doc
                            .get(element_start..self.pos)
                            .ok_or(SplitError::Invalid)?;
                        elements.try_reserve(1)?;
                        elements.push(element);
                    }
                    self.skip_space();
                    let Some(&open) = self.stack.last() else {
                        // The top-level value is complete: only whitespace may follow.
                        return if self.pos == self.doc.len() {
                            Ok(scalar)
                        } else {
                            Err(SplitError::Invalid)
                        };
                    };
                    let close = if open == b'[' { b']' } else { b'}' };
                    match self.peek() {
                        Some(b',') => {
                            self.pos += 1;
                            if open == b'{' {
                                self.key()?;
                            }
                            next = Next::Value;
                        }
                        Some(byte) if byte == close => {
                            self.pos += 1;
                            self.stack.pop();
                        }
                        _ => return Err(SplitError::Invalid),
                    }
                }
            }
        }
    }

    /// An object key and its colon, with the whitespace around them.
    fn key(&mut self) -> Result<(), SplitError> {
        self.skip_space();
        if self.peek() != Some(b'"') {
            return Err(SplitError::Invalid);
        }
        self.string()?;
        self.skip_space();
        self.expect(b':')
    }

    /// A string, from its opening quote: strict, as `json.loads` reads it (no raw control
    /// characters; escapes `\" \\ \/ \b \f \n \r \t` and `\u` with four hex digits). Lone
    /// surrogate escapes are valid here; the element's parse decides what they mean.
    fn string(&mut self) -> Result<(), SplitError> {
        self.pos += 1;
        loop {
            // Plain characters are skipped in one pass; only these three stop the scan.
            let rest = self.doc.get(self.pos..).unwrap_or_default();
            let plain = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .ok_or(SplitError::Invalid)?;
            self.pos += plain;
            match self.peek().ok_or(SplitError::Invalid)? {
                b'"' => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\\' => match self.doc.get(self.pos + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                        self.pos += 2;
                    }
                    Some(b'u') => {
                        let hex = self.doc.get(self.pos + 2..self.pos + 6);
                        if !hex.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                            return Err(SplitError::Invalid);
                        }
                        self.pos += 6;
                    }
                    _ => return Err(SplitError::Invalid),
                },
                // A raw control character; multi-byte characters were validated up front.
                _ => return Err(SplitError::Invalid),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`) or `-Infinity`. Any other
    /// spelling leaves bytes that no grammar rule takes, so it is an error either way.
    fn number(&mut self) -> Result<Scalar, SplitError> {
        if self.peek() == Some(b'-') {
            if self.literal(b"-Infinity").is_ok() {
                return Ok(Scalar::Float);
            }
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(SplitError::Invalid),
        }
        let mut scalar = Scalar::Int;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(SplitError::Invalid);
            }
            scalar = Scalar::Float;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(SplitError::Invalid);
            }
            scalar = Scalar::Float;
        }
        Ok(scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn split(doc: &str) -> Result<Vec<&str>, SplitError> {
        split_array(doc.as_bytes(), true).map(|elements| {
            elements
                .into_iter()
                .map(|e| std::str::from_utf8(e).unwrap())
                .collect()
        })
    }

    #[test]
    fn splits_top_level_elements() {
        assert_eq!(split("[]"), Ok(vec![]));
        assert_eq!(split(" \t\r\n[ \n ] \n"), Ok(vec![]));
        assert_eq!(
            split(r#"[ {"status": "ready"} ,{"a":[1,{"b":"]"}]},"x\"]" , 1e5,-0.5,[],{}, null ]"#),
            Ok(vec![
                r#"{"status": "ready"}"#,
                r#"{"a":[1,{"b":"]"}]}"#,
                r#""x\"]""#,
                "1e5",
                "-0.5",
                "[]",
                "{}",
                "null"
            ])
        );
        assert_eq!(
            split("[NaN, Infinity, -Infinity, true, false]"),
            Ok(vec!["NaN", "Infinity", "-Infinity", "true", "false"])
        );
        // Lone surrogate escapes are grammar; their meaning is the element parse's business.
        assert_eq!(
            split(r#"["\ud800", "\uDFFFx"]"#),
            Ok(vec![r#""\ud800""#, r#""\uDFFFx""#])
        );
    }

    #[test]
    fn names_the_type_of_a_non_array() {
        let not = |doc: &str| match split(doc) {
            Err(SplitError::NotAnArray(name)) => name,
            other => panic!("{doc}: {other:?}"),
        };
        assert_eq!(not(r#"{"status": "ready"}"#), "dict");
        assert_eq!(not(r#" "s" "#), "str");
        assert_eq!(not("3"), "int");
        assert_eq!(not("-3"), "int");
        assert_eq!(not("3.5"), "float");
        assert_eq!(not("3e2"), "float");
        assert_eq!(not("NaN"), "float");
        assert_eq!(not("-Infinity"), "float");
        assert_eq!(not("true"), "bool");
        assert_eq!(not("null"), "NoneType");
        assert_eq!(not(" 12 \n"), "int");
        // Only valid documents are named: an invalid one is an error whatever its start.
        assert_eq!(split(r#"{"status": }"#), Err(SplitError::Invalid));
    }

    #[test]
    fn refuses_what_json_loads_refuses() {
        for doc in [
            "",
            " ",
            "[",
            "]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "[01]",
            "[1.]",
            "[.5]",
            "[1e]",
            "[1e+]",
            "[-]",
            "[-NaN]",
            "[nan]",
            "[+1]",
            "[tru]",
            "[nul]",
            "[1] x",
            "[1][2]",
            r#"[{"a" 1}]"#,
            r#"[{"a":1,}]"#,
            r#"[{1:1}]"#,
            r#"[{"a":1 "b":2}]"#,
            r#"[{"status":"ready" x}]"#,
            "[\"a\nb\"]",
            "[\"a\u{0}\"]",
            r#"["\x"]"#,
            r#"["\u12"]"#,
            r#"["\u12g4"]"#,
            r#"["abc]"#,
            "[\u{a0}1]",
            "[\u{feff}1]",
            "\u{feff}\u{feff}[]",
            "[1]\u{0}",
        ] {
            assert_eq!(split(doc), Err(SplitError::Invalid), "{doc:?}");
        }
        assert_eq!(split_array(b"[\"\xff\"]", true), Err(SplitError::Invalid));
        assert_eq!(split_array(b"[\"\xc3\"]", true), Err(SplitError::Invalid));
        // A BOM is skipped for bytes only, and only once.
        assert_eq!(split_array(b"\xef\xbb\xbf[1]", true), Ok(vec![&b"1"[..]]));
        assert_eq!(
            split_array(b"\xef\xbb\xbf[1]", false),
            Err(SplitError::Invalid)
        );
    }

    #[test]
    fn deep_nesting_is_linear_and_does_not_recurse() {
        let depth = 1_000_000;
        let doc = format!("[1,{}{},2]", "[".repeat(depth), "]".repeat(depth));
        let elements = split(&doc).unwrap();
        assert_eq!(elements.len(), 3);
        assert_eq!(elements[1].len(), 2 * depth);
        let doc = format!("[{}1{}]", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        assert_eq!(split(&doc).unwrap().len(), 1);
        let unclosed = format!("[{}]", "[".repeat(depth));
        assert_eq!(split(&unclosed), Err(SplitError::Invalid));
    }

    #[test]
    fn encoded_surrogates_pass_other_invalid_utf8_does_not() {
        assert!(is_utf8_surrogatepass(b"a\xed\xa0\x80b\xed\xbf\xbf"));
        assert!(is_utf8_surrogatepass("caf\u{e9} \u{1f600}".as_bytes()));
        assert!(!is_utf8_surrogatepass(b"\xed\xa0"));
        assert!(!is_utf8_surrogatepass(b"\xc0\xaf"));
        assert!(!is_utf8_surrogatepass(b"\xf4\x90\x80\x80"));
        assert!(!is_utf8_surrogatepass(b"\xed\xa0\x80\xff"));
        assert_eq!(
            split_array(b"[\"\xed\xa0\x80\"]", false),
            Ok(vec![&b"\"\xed\xa0\x80\""[..]])
        );
    }

    #[test]
    fn agrees_with_serde_where_serde_splits() {
        let docs = [
            r#"[{"status":"ready","message":"m","warnings":["w"]},{"status":"failed"}]"#,
            "[ 1 , \"two\" , [3] , {\"4\" : 4} ]",
            r#"[{"x":"\u00e9\n\"","y":-1.5e-7}]"#,
            "[]",
        ];
        for doc in docs {
            let serde: Vec<&RawValue> = serde_json::from_str(doc).unwrap();
            let ours = split_array(doc.as_bytes(), true).unwrap();
            let serde: Vec<&[u8]> = serde.iter().map(|raw| raw.get().as_bytes()).collect();
            assert_eq!(ours, serde);
        }
    }

    #[test]
    fn detects_encodings_as_json_detect_encoding_does() {
        assert_eq!(foreign_encoding(b"[{}]"), None);
        assert_eq!(foreign_encoding(b"\xef\xbb\xbf[]"), None);
        assert_eq!(foreign_encoding(b""), None);
        assert_eq!(foreign_encoding(b"["), None);
        assert_eq!(foreign_encoding(b"[]\x00"), None);
        assert_eq!(
            foreign_encoding(b"\xff\xfe\x00\x00[\x00\x00\x00"),
            Some("utf-32")
        );
        assert_eq!(foreign_encoding(b"\xff\xfe[\x00"), Some("utf-16"));
        assert_eq!(foreign_encoding(b"\xfe\xff\x00["), Some("utf-16"));
        assert_eq!(foreign_encoding(b"\x00\x00\x00["), Some("utf-32-be"));
        assert_eq!(foreign_encoding(b"\x00[\x00]"), Some("utf-16-be"));
        assert_eq!(foreign_encoding(b"[\x00\x00\x00"), Some("utf-32-le"));
        assert_eq!(foreign_encoding(b"[\x00]\x00"), Some("utf-16-le"));
        assert_eq!(foreign_encoding(b"\x001"), Some("utf-16-be"));
        assert_eq!(foreign_encoding(b"1\x00"), Some("utf-16-le"));
        assert_eq!(foreign_encoding(b"1\x00\x00"), None);
    }

    #[test]
    fn ndjson_lines_skip_blank_lines() {
        let text = b"\n{\"a\":1}\r\n  \n\t\r\n{\"b\":2}\n x \n\n";
        assert_eq!(
            ndjson_lines(text).unwrap(),
            vec![&b"{\"a\":1}\r"[..], &b"{\"b\":2}"[..], &b" x "[..]]
        );
        assert!(ndjson_lines(b"").unwrap().is_empty());
        assert!(ndjson_lines(b" \n\t\n\r").unwrap().is_empty());
        assert_eq!(ndjson_lines(b"a\nb").unwrap(), vec![&b"a"[..], &b"b"[..]]);
        // Not JSON whitespace: a form feed or NUL makes a line a payload (an invalid one).
        assert_eq!(
            ndjson_lines(b"\x0c\n\x00").unwrap(),
            vec![&b"\x0c"[..], &b"\x00"[..]]
        );
    }

    #[test]
    fn a_line_stream_hands_on_whole_lines_and_searches_each_byte_once() {
        let mut stream = LineStream::default();
        assert_eq!(stream.push(b"ab\ncd").unwrap(), Some(3));
        assert_eq!(stream.whole_lines(3), b"ab\n");
        stream.consume(3);
        assert_eq!(stream.push(b"ef").unwrap(), None);
        assert_eq!(stream.push(b"g\nh\ni").unwrap(), Some(8));
        assert_eq!(stream.whole_lines(8), b"cdefg\nh\n");
        stream.consume(8);
        assert_eq!(stream.rest(), b"i");
        // One long line over many chunks: searched once each, not again with every chunk.
        let mut long = LineStream::default();
        let chunk = [b'x'; 1000];
        for _ in 0..1000 {
            assert_eq!(long.push(&chunk).unwrap(), None);
        }
        assert_eq!(long.push(b"\n").unwrap(), Some(1_000_001));
        assert_eq!(long.searched(), 1_000_001);
    }
}
