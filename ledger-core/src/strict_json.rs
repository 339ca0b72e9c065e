//! A strict JSON reader for request bodies.
//!
//! Stricter than a general-purpose parser in the three ways a request body needs:
//! - a key that appears twice in one object is refused (a general parser keeps the last one,
//!   so a signed body could mean one thing to a proxy and another to us);
//! - nesting is bounded ([`DEPTH_MAX`]), so a body of ten thousand `[` is a plain refusal;
//! - numbers keep their literal class: an integer literal beyond 64 bits stays an integer
//!   ([`JsonNumber::BigInt`]) instead of turning into a float, and a literal with a fraction or
//!   an exponent is never an integer ([`JsonNumber::Fraction`]). No float is ever computed.
//!
//! Pure and total: any input gives a value or a [`JsonError`], never a panic.

use std::collections::BTreeMap;

/// Deepest nesting of arrays and objects accepted. Request bodies are flat objects with at
/// most a list inside; the bound keeps the recursion of the reader shallow.
pub const DEPTH_MAX: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonValue {
    Null,
    Bool(bool),
    Number(JsonNumber),
    String(String),
    Array(Vec<JsonValue>),
    Object(BTreeMap<String, JsonValue>),
}

/// A number by its literal class (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonNumber {
    /// An integer literal that fits in `i64`.
    Int(i64),
    /// An integer literal beyond `i64` (its sign kept): never wrapped, never rounded.
    BigInt { negative: bool },
    /// A literal with a fraction or an exponent (`5.0`, `1e3`, `1e400`): never an integer.
    Fraction,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("not valid JSON (at byte {0})")]
    Malformed(usize),
    #[error("nested deeper than {DEPTH_MAX} levels")]
    TooDeep,
    #[error("key {0:?} appears twice in one object")]
    DuplicateKey(String),
}

impl JsonValue {
    /// The JSON type name, for error details (`object`, `array`, `string`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            JsonValue::Null => "null",
            JsonValue::Bool(_) => "boolean",
            JsonValue::Number(_) => "number",
            JsonValue::String(_) => "string",
            JsonValue::Array(_) => "array",
            JsonValue::Object(_) => "object",
        }
    }
}

/// Reads one JSON value filling all of `input` (surrounding whitespace allowed).
pub fn parse(input: &[u8]) -> Result<JsonValue, JsonError> {
    // JSON text is UTF-8; checking it once up front lets the reader slice strings freely
    // (every byte it stops at is ASCII, so always a character boundary).
    let text = std::str::from_utf8(input).map_err(|e| JsonError::Malformed(e.valid_up_to()))?;
    let mut reader = Reader { text, pos: 0 };
    reader.skip_whitespace();
    let value = reader.value(0)?;
    reader.skip_whitespace();
    if reader.pos == text.len() {
        Ok(value)
    } else {
        Err(reader.malformed())
    }
}

struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl Reader<'_> {
    fn malformed(&self) -> JsonError {
        JsonError::Malformed(self.pos)
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Result<(), JsonError> {
        if self.next() == Some(byte) {
            Ok(())
        } else {
            Err(JsonError::Malformed(self.pos.saturating_sub(1)))
        }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// A value whose containers sit `depth` levels deep.
    fn value(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => {
                self.pos += 1;
                self.string().map(JsonValue::String)
            }
            Some(b'-' | b'0'..=b'9') => self.number().map(JsonValue::Number),
            Some(b't') => self.literal("true", JsonValue::Bool(true)),
            Some(b'f') => self.literal("false", JsonValue::Bool(false)),
            Some(b'n') => self.literal("null", JsonValue::Null),
            _ => Err(self.malformed()),
        }
    }

    fn literal(&mut self, word: &str, value: JsonValue) -> Result<JsonValue, JsonError> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.malformed())
        }
    }

    fn object(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        if depth > DEPTH_MAX {
            return Err(JsonError::TooDeep);
        }
        self.expect(b'{')?;
        let mut members = BTreeMap::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(JsonValue::Object(members));
        }
        loop {
            self.skip_whitespace();
            self.expect(b'"')?;
            let key = self.string()?;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            let value = self.value(depth)?;
            if members.contains_key(&key) {
                return Err(JsonError::DuplicateKey(key));
            }
            members.insert(key, value);
            self.skip_whitespace();
            match self.next() {
                Some(b',') => {}
                Some(b'}') => return Ok(JsonValue::Object(members)),
                _ => return Err(JsonError::Malformed(self.pos.saturating_sub(1))),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        if depth > DEPTH_MAX {
            return Err(JsonError::TooDeep);
        }
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(JsonValue::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.next() {
                Some(b',') => {}
                Some(b']') => return Ok(JsonValue::Array(items)),
                _ => return Err(JsonError::Malformed(self.pos.saturating_sub(1))),
            }
        }
    }

    /// The rest of a string whose opening quote was read.
    fn string(&mut self) -> Result<String, JsonError> {
        let mut out = String::new();
        let mut run_start = self.pos;
        loop {
            match self.next() {
                None => return Err(self.malformed()),
                Some(b'"') => {
                    out.push_str(&self.text[run_start..self.pos - 1]);
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(&self.text[run_start..self.pos - 1]);
                    out.push(self.escape()?);
                    run_start = self.pos;
                }
                Some(byte) if byte < 0x20 => return Err(JsonError::Malformed(self.pos - 1)),
                Some(_) => {}
            }
        }
    }

    /// The character of an escape whose backslash was read.
    fn escape(&mut self) -> Result<char, JsonError> {
        Ok(match self.next() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let unit = self.hex4()?;
                let code = match unit {
                    // A high surrogate must be followed by an escaped low one.
                    0xD800..=0xDBFF => {
                        self.expect(b'\\')?;
                        self.expect(b'u')?;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(self.malformed());
                        }
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(self.malformed()),
                    _ => unit,
                };
                char::from_u32(code).ok_or_else(|| self.malformed())?
            }
            _ => return Err(JsonError::Malformed(self.pos.saturating_sub(1))),
        })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut unit = 0;
        for _ in 0..4 {
            let digit = self
                .next()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or_else(|| JsonError::Malformed(self.pos.saturating_sub(1)))?;
            unit = unit * 16 + digit;
        }
        Ok(unit)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, classified by its form.
    fn number(&mut self) -> Result<JsonNumber, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.next() {
            Some(b'0') => {}
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(JsonError::Malformed(self.pos.saturating_sub(1))),
        }
        let integer_end = self.pos;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.at_least_one_digit()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.at_least_one_digit()?;
        }
        if self.pos != integer_end {
            return Ok(JsonNumber::Fraction);
        }
        let literal = &self.text[start..integer_end];
        Ok(match literal.parse::<i64>() {
            Ok(n) => JsonNumber::Int(n),
            Err(_) => JsonNumber::BigInt {
                negative: literal.starts_with('-'),
            },
        })
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn at_least_one_digit(&mut self) -> Result<(), JsonError> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.malformed());
        }
        self.digits();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(pairs: &[(&str, JsonValue)]) -> JsonValue {
        JsonValue::Object(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn a_flat_request_body_reads_as_an_object() {
        let value = parse(br#" {"a": "x\u00e9\ud83d\ude00\n", "n": -5, "b": [true, null]} "#);
        assert_eq!(
            value,
            Ok(object(&[
                ("a", JsonValue::String("xé😀\n".into())),
                ("n", JsonValue::Number(JsonNumber::Int(-5))),
                (
                    "b",
                    JsonValue::Array(vec![JsonValue::Bool(true), JsonValue::Null])
                ),
            ]))
        );
    }

    #[test]
    fn numbers_keep_their_literal_class() {
        let number = |text: &str| match parse(text.as_bytes()) {
            Ok(JsonValue::Number(n)) => n,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(number("0"), JsonNumber::Int(0));
        assert_eq!(number("-0"), JsonNumber::Int(0));
        assert_eq!(number("9223372036854775807"), JsonNumber::Int(i64::MAX));
        assert_eq!(number("-9223372036854775808"), JsonNumber::Int(i64::MIN));
        assert_eq!(
            number("9223372036854775808"),
            JsonNumber::BigInt { negative: false }
        );
        assert_eq!(
            number("99999999999999999999"),
            JsonNumber::BigInt { negative: false }
        );
        assert_eq!(
            number("-99999999999999999999"),
            JsonNumber::BigInt { negative: true }
        );
        for fraction in ["5.0", "1e3", "1E+3", "1e400", "-0.5e-7"] {
            assert_eq!(number(fraction), JsonNumber::Fraction, "{fraction}");
        }
    }

    #[test]
    fn a_key_given_twice_is_refused_even_when_spelled_differently() {
        assert_eq!(
            parse(br#"{"a": 1, "a": 2}"#),
            Err(JsonError::DuplicateKey("a".into()))
        );
        assert_eq!(
            parse(br#"{"a": 1, "\u0061": 2}"#),
            Err(JsonError::DuplicateKey("a".into()))
        );
        assert_eq!(
            parse(br#"{"o": {"k": 1, "k": 1}}"#),
            Err(JsonError::DuplicateKey("k".into()))
        );
    }

    #[test]
    fn nesting_beyond_the_bound_is_refused_without_deep_recursion() {
        let at_bound = format!("{}{}", "[".repeat(DEPTH_MAX), "]".repeat(DEPTH_MAX));
        assert!(parse(at_bound.as_bytes()).is_ok());
        let beyond = format!("{}{}", "[".repeat(DEPTH_MAX + 1), "]".repeat(DEPTH_MAX + 1));
        assert_eq!(parse(beyond.as_bytes()), Err(JsonError::TooDeep));
        assert_eq!(
            parse("[".repeat(10_000).as_bytes()),
            Err(JsonError::TooDeep)
        );
        assert_eq!(
            parse("{\"a\":".repeat(10_000).as_bytes()),
            Err(JsonError::TooDeep)
        );
    }

    #[test]
    fn malformed_text_is_refused() {
        for bad in [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "01",
            "1.",
            ".5",
            "1e",
            "-",
            "+1",
            "tru",
            "nul",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"a\nb\"",
            "{} {}",
            "NaN",
            "Infinity",
            "'a'",
            "\u{feff}{}",
        ] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(JsonError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(parse(b"\"\xff\""), Err(JsonError::Malformed(1))));
    }

    #[test]
    fn kinds_are_named() {
        assert_eq!(parse(b"[]").unwrap().kind(), "array");
        assert_eq!(parse(b"\"s\"").unwrap().kind(), "string");
        assert_eq!(parse(b"1").unwrap().kind(), "number");
        assert_eq!(parse(b"{}").unwrap().kind(), "object");
    }
}
