//! Structured documents: status objects whose keys and strings mix raw ASCII, raw Unicode,
//! short and `\u` escapes, surrogate pairs, lone surrogates and stray bytes. Besides the checks
//! on raw bytes, the document's meaning is known by construction, so the parse is compared with
//! what `json.loads` + `from_dict` must give.
#![no_main]

use arbitrary::Arbitrary;
use iqm_runstatus_core::parse::Presence;
use libfuzzer_sys::fuzz_target;

/// One piece of a JSON string literal.
#[derive(Arbitrary, Debug)]
enum Piece {
    /// A raw byte below 0x80 (control characters make the document invalid).
    Ascii(u8),
    /// A raw UTF-8 character.
    Char(char),
    /// One of the eight short escapes.
    Short(u8),
    /// `\uXXXX` of any code unit, surrogates included; `bool`: upper-case hex.
    Unit(u16, bool),
    /// A character as `\u` escapes: a surrogate pair above the BMP.
    Escaped(char, bool),
    /// Any byte, possibly breaking UTF-8.
    Raw(u8),
}

/// A string: either free pieces, or a known name with some of its characters `\u`-escaped.
#[derive(Arbitrary, Debug)]
enum Text {
    Pieces(Vec<Piece>),
    /// A field name (0..3) or status value (3..8), escaped where `mask` has a bit set.
    Known(u8, u16),
}

#[derive(Arbitrary, Debug)]
enum Value {
    Str(Text),
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    List(Vec<Text>),
    /// Arrays nested this deep around `null`.
    Nested(u8),
}

#[derive(Arbitrary, Debug)]
struct Member {
    key: Text,
    value: Value,
}

#[derive(Arbitrary, Debug)]
struct Document {
    members: Vec<Member>,
    /// Whitespace between tokens, two bits per token, used in turn.
    spacing: Vec<u8>,
}

const NAMES: [&str; 8] = [
    "status",
    "message",
    "warnings",
    "pending compilation",
    "pending execution",
    "ready",
    "failed",
    "aborted",
];

/// What the reference makes of a value, as far as the model cares.
#[derive(Clone, Debug, PartialEq)]
enum Meaning {
    Null,
    Str(String),
    StrList(Vec<String>),
    /// Any other JSON value: a wrong type for every field, ignored under an extra key.
    Other,
}

struct Writer<'a> {
    out: Vec<u8>,
    spacing: &'a [u8],
    next: usize,
    /// Whether `json.loads` would accept the document and the fast path must give its meaning:
    /// false after a lone surrogate, a raw control character, a non-finite number, or nesting
    /// near the limit, where the fast path must refuse or may decline.
    certain: bool,
    /// Whether the fast path must refuse: a lone surrogate or a non-finite number (which
    /// `json.loads` reads differently from serde_json), or invalid JSON.
    must_refuse: bool,
}

impl Writer<'_> {
    fn space(&mut self) {
        let Some(&byte) = self.spacing.get(self.next / 4) else {
            return;
        };
        let bits = (byte >> ((self.next % 4) * 2)) & 3;
        self.next += 1;
        if bits != 0 {
            self.out
                .push([b' ', b'\t', b'\n', b'\r'][usize::from(bits)]);
        }
    }

    fn unit(&mut self, unit: u16, upper: bool) {
        let hex = if upper {
            format!("\\u{unit:04X}")
        } else {
            format!("\\u{unit:04x}")
        };
        self.out.extend_from_slice(hex.as_bytes());
    }

    /// Writes a string literal; returns its decoded value if it is valid text.
    fn string(&mut self, text: &Text) -> Option<String> {
        self.space();
        self.out.push(b'"');
        let start = self.out.len();
        let mut decoded = Vec::new();
        let mut valid = true;
        match text {
            Text::Known(index, mask) => {
                let name = NAMES[usize::from(*index) % NAMES.len()];
                for (at, byte) in name.bytes().enumerate() {
                    if mask >> (at % 16) & 1 == 1 {
                        self.unit(u16::from(byte), at % 3 == 0);
                    } else {
                        self.out.push(byte);
                    }
                }
                decoded.extend_from_slice(name.as_bytes());
            }
            Text::Pieces(pieces) => {
                for piece in pieces {
                    match *piece {
                        Piece::Ascii(byte) | Piece::Raw(byte @ 0..=0x7f) => {
                            let byte = byte & 0x7f;
                            match byte {
                                b'"' | b'\\' => self.out.extend_from_slice(&[b'\\', byte]),
                                0..=0x1f => {
                                    // json.loads (strict) and serde_json both reject it.
                                    self.out.push(byte);
                                    valid = false;
                                    self.must_refuse = true;
                                }
                                _ => self.out.push(byte),
                            }
                            decoded.push(byte);
                        }
                        Piece::Raw(byte) => {
                            self.out.push(byte);
                            decoded.push(byte);
                        }
                        Piece::Char(c) => {
                            let mut buf = [0; 4];
                            match c {
                                '"' | '\\' => self.out.extend_from_slice(&[b'\\', c as u8]),
                                '\0'..='\x1f' => self.unit(c as u16, false),
                                _ => self
                                    .out
                                    .extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
                            }
                            decoded.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                        }
                        Piece::Short(which) => {
                            let (escape, byte) = [
                                (b'"', b'"'),
                                (b'\\', b'\\'),
                                (b'/', b'/'),
                                (b'b', 0x08),
                                (b'f', 0x0c),
                                (b'n', b'\n'),
                                (b'r', b'\r'),
                                (b't', b'\t'),
                            ][usize::from(which) % 8];
                            self.out.extend_from_slice(&[b'\\', escape]);
                            decoded.push(byte);
                        }
                        Piece::Unit(unit, upper) => {
                            self.unit(unit, upper);
                            match char::from_u32(u32::from(unit)) {
                                Some(c) => {
                                    decoded.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes())
                                }
                                None => {
                                    // A lone surrogate unless the next piece pairs with it;
                                    // either way too subtle for this oracle, and a lone one
                                    // must be refused: it is decided from the bytes below.
                                    valid = false;
                                }
                            }
                        }
                        Piece::Escaped(c, upper) => {
                            let mut units = [0; 2];
                            for &unit in c.encode_utf16(&mut units).iter() {
                                self.unit(unit, upper);
                            }
                            decoded.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                    }
                }
            }
        }
        let literal_ok = std::str::from_utf8(&self.out[start..]).is_ok();
        self.out.push(b'"');
        if !literal_ok {
            // Invalid UTF-8: json.loads raises UnicodeDecodeError, so the core must refuse.
            self.must_refuse = true;
            valid = false;
        }
        if has_lone_surrogate(&self.out[start..self.out.len() - 1]) {
            self.must_refuse = true;
            valid = false;
        }
        if !valid {
            self.certain = false;
            return None;
        }
        String::from_utf8(decoded).ok()
    }

    fn value(&mut self, value: &Value) -> Meaning {
        match value {
            Value::Str(text) => self.string(text).map_or(Meaning::Other, Meaning::Str),
            Value::Null => self.token(b"null", Meaning::Null),
            Value::Bool(true) => self.token(b"true", Meaning::Other),
            Value::Bool(false) => self.token(b"false", Meaning::Other),
            Value::Int(number) => self.token(number.to_string().as_bytes(), Meaning::Other),
            Value::Float(number) => {
                if !number.is_finite() {
                    // NaN and Infinity are json.loads extensions serde_json rejects.
                    self.must_refuse = true;
                    self.certain = false;
                    let text: &[u8] = if number.is_nan() {
                        b"NaN"
                    } else if *number > 0.0 {
                        b"Infinity"
                    } else {
                        b"-Infinity"
                    };
                    return self.token(text, Meaning::Other);
                }
                // Debug keeps a fraction or exponent, so json.loads reads a float back.
                self.token(format!("{number:?}").as_bytes(), Meaning::Other)
            }
            Value::List(items) => {
                self.space();
                self.out.push(b'[');
                let mut strings = Some(Vec::new());
                for (at, item) in items.iter().enumerate() {
                    if at > 0 {
                        self.space();
                        self.out.push(b',');
                    }
                    let text = self.string(item);
                    strings = strings.zip(text).map(|(mut all, one)| {
                        all.push(one);
                        all
                    });
                }
                self.space();
                self.out.push(b']');
                strings.map_or(Meaning::Other, Meaning::StrList)
            }
            Value::Nested(depth) => {
                let depth = usize::from(*depth);
                // The object itself is one level; serde_json's limit is 128 levels. Close to
                // it the two parsers may differ by a level: no expectation there.
                if (100..=160).contains(&depth) {
                    self.certain = false;
                } else if depth > 160 {
                    self.must_refuse = true;
                    self.certain = false;
                }
                self.space();
                self.out.extend(std::iter::repeat_n(b'[', depth));
                self.out.extend_from_slice(b"null");
                self.out.extend(std::iter::repeat_n(b']', depth));
                if depth == 0 {
                    Meaning::Null
                } else {
                    Meaning::Other
                }
            }
        }
    }

    fn token(&mut self, text: &[u8], meaning: Meaning) -> Meaning {
        self.space();
        self.out.extend_from_slice(text);
        meaning
    }
}

/// Whether a string literal's `\u` escapes hold a surrogate that is not part of a pair.
fn has_lone_surrogate(literal: &[u8]) -> bool {
    let mut at = 0;
    let mut pending_high = false;
    while at < literal.len() {
        if literal[at] != b'\\' {
            if pending_high {
                return true;
            }
            at += 1;
            continue;
        }
        let Some(&kind) = literal.get(at + 1) else {
            return pending_high;
        };
        if kind != b'u' {
            if pending_high {
                return true;
            }
            at += 2;
            continue;
        }
        let unit = literal
            .get(at + 2..at + 6)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
            .unwrap_or(0);
        at += 6;
        match unit {
            0xd800..=0xdbff if !pending_high => pending_high = true,
            0xd800..=0xdbff => return true,
            0xdc00..=0xdfff if pending_high => pending_high = false,
            0xdc00..=0xdfff => return true,
            _ if pending_high => return true,
            _ => {}
        }
    }
    pending_high
}

fuzz_target!(|doc: Document| {
    let mut writer = Writer {
        out: Vec::new(),
        spacing: &doc.spacing,
        next: 0,
        certain: true,
        must_refuse: false,
    };
    writer.space();
    writer.out.push(b'{');
    let mut members: Vec<(Option<String>, Meaning)> = Vec::new();
    for (at, member) in doc.members.iter().enumerate() {
        if at > 0 {
            writer.space();
            writer.out.push(b',');
        }
        let key = writer.string(&member.key);
        writer.space();
        writer.out.push(b':');
        let meaning = writer.value(&member.value);
        members.push((key, meaning));
    }
    writer.space();
    writer.out.push(b'}');
    writer.space();

    let parsed = iqm_runstatus_fuzz::check_document(&writer.out);
    if writer.must_refuse {
        assert!(
            parsed.is_none(),
            "accepted what json.loads reads differently"
        );
    }
    if !writer.certain {
        return;
    }
    // Every key decoded: the expected answer, from the members as json.loads would see them.
    let count = |name: &str| {
        members
            .iter()
            .filter(|(key, _)| key.as_deref() == Some(name))
            .count()
    };
    let value_of = |name: &str| {
        members
            .iter()
            .find(|(key, _)| key.as_deref() == Some(name))
            .map(|(_, meaning)| meaning.clone())
    };
    let duplicates = ["status", "message", "warnings"]
        .iter()
        .any(|name| count(name) > 1);
    let status = match value_of("status") {
        Some(Meaning::Str(text)) => iqm_runstatus_fuzz::vocabulary().code_of(text.as_bytes()),
        _ => None,
    };
    let message = match value_of("message") {
        None => Some(Presence::Absent),
        Some(Meaning::Null) => Some(Presence::Null),
        Some(Meaning::Str(text)) => Some(Presence::Value(text)),
        Some(_) => None,
    };
    let warnings = match value_of("warnings") {
        None => Some(Presence::Absent),
        Some(Meaning::Null) => Some(Presence::Null),
        Some(Meaning::StrList(items)) => Some(Presence::Value(items)),
        Some(_) => None,
    };
    match (duplicates, status, message, warnings) {
        (false, Some(status), Some(message), Some(warnings)) => {
            let parsed = parsed.expect("refused a valid status document");
            assert_eq!(parsed.status, status);
            let got_message = match &parsed.message {
                Presence::Absent => Presence::Absent,
                Presence::Null => Presence::Null,
                Presence::Value(text) => Presence::Value(text.to_string()),
            };
            assert_eq!(got_message, message);
            let got_warnings = match &parsed.warnings {
                Presence::Absent => Presence::Absent,
                Presence::Null => Presence::Null,
                Presence::Value(items) => Presence::Value(items.iter().map(|w| w.to_string()).collect()),
            };
            assert_eq!(got_warnings, warnings);
        }
        _ => assert!(
            parsed.is_none(),
            "accepted a document the reference rejects"
        ),
    }
});
