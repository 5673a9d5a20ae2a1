//! The tokenizer shared by the label and field selector parsers.
//!
//! The rules are those of the Kubernetes label selector lexer
//! (`k8s.io/apimachinery/pkg/labels`), which Clusterpedia's enhanced field
//! selector reuses unchanged:
//!
//! * whitespace (space, `\t`, `\r`, `\n`) separates tokens and is skipped;
//! * the special characters `! = < > ( ) ,` form the operators `!`, `!=`, `=`,
//!   `==`, `<`, `>` and the punctuation `(`, `)`, `,` (longest match first);
//! * every other maximal run of characters is an identifier, unless the whole
//!   run is `in` or `notin`, which are keywords.
//!
//! Quotes are ordinary identifier characters: a field path such as
//! `.metadata.annotations['test.io']` is one identifier and is split into
//! segments by the field path parser. A quoted segment therefore cannot hold
//! whitespace or a special character, which no valid field name contains anyway.
//!
//! Kubernetes reads a NUL byte as the end of the input and silently drops the
//! rest; here it becomes an [`TokenKind::Error`] token, which no grammar rule
//! accepts.

/// What a [`Token`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenKind {
    /// A key or a value.
    Identifier,
    /// `(`
    OpenParen,
    /// `)`
    CloseParen,
    /// `,`
    Comma,
    /// `=`
    Equals,
    /// `==`
    DoubleEquals,
    /// `!=`
    NotEquals,
    /// `!` (the does-not-exist prefix)
    Bang,
    /// The keyword `in`.
    In,
    /// The keyword `notin`.
    NotIn,
    /// `>`
    GreaterThan,
    /// `<`
    LessThan,
    /// The end of the input.
    EndOfString,
    /// A character no token can hold (a NUL byte).
    Error,
}

/// One token: its kind, its text and the byte offset where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Token<'a> {
    pub(super) kind: TokenKind,
    pub(super) text: &'a str,
    pub(super) pos: usize,
}

impl Token<'_> {
    /// Whether the token can stand for a key or a value: outside the operator
    /// position the keywords `in` and `notin` are plain identifiers.
    pub(super) fn is_identifier(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::Identifier | TokenKind::In | TokenKind::NotIn
        )
    }

    /// The token as error messages show it.
    pub(super) fn describe(&self) -> String {
        match self.kind {
            TokenKind::EndOfString => "end of string".to_owned(),
            TokenKind::Error => format!("invalid character {:?}", self.text),
            _ => format!("{:?}", self.text),
        }
    }
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'!' | b'=' | b'<' | b'>' | b'(' | b')' | b',')
}

/// Splits `input` into tokens; the last one is always [`TokenKind::EndOfString`].
pub(super) fn tokenize(input: &str) -> Vec<Token<'_>> {
    let bytes = input.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    loop {
        while bytes.get(pos).copied().is_some_and(is_whitespace) {
            pos += 1;
        }
        let Some(&first) = bytes.get(pos) else {
            tokens.push(Token {
                kind: TokenKind::EndOfString,
                text: "",
                pos,
            });
            return tokens;
        };
        let two_char = bytes.get(pos + 1) == Some(&b'=');
        let (kind, len) = match first {
            b'=' if two_char => (TokenKind::DoubleEquals, 2),
            b'!' if two_char => (TokenKind::NotEquals, 2),
            b'=' => (TokenKind::Equals, 1),
            b'!' => (TokenKind::Bang, 1),
            b'<' => (TokenKind::LessThan, 1),
            b'>' => (TokenKind::GreaterThan, 1),
            b'(' => (TokenKind::OpenParen, 1),
            b')' => (TokenKind::CloseParen, 1),
            b',' => (TokenKind::Comma, 1),
            0 => (TokenKind::Error, 1),
            _ => {
                let len = bytes[pos..]
                    .iter()
                    .position(|&b| is_whitespace(b) || is_special(b) || b == 0)
                    .unwrap_or(bytes.len() - pos);
                (TokenKind::Identifier, len)
            }
        };
        // Token boundaries sit next to ASCII bytes, so they are char boundaries.
        let text = input.get(pos..pos + len).unwrap_or_default();
        let kind = match (kind, text) {
            (TokenKind::Identifier, "in") => TokenKind::In,
            (TokenKind::Identifier, "notin") => TokenKind::NotIn,
            (kind, _) => kind,
        };
        tokens.push(Token { kind, text, pos });
        pos += len;
    }
}

#[cfg(test)]
mod tests {
    use super::TokenKind::*;
    use super::*;

    fn kinds(input: &str) -> Vec<TokenKind> {
        tokenize(input).iter().map(|t| t.kind).collect()
    }

    #[test]
    fn single_tokens_keep_their_text() {
        let cases = [
            ("", EndOfString),
            (",", Comma),
            ("notin", NotIn),
            ("in", In),
            ("=", Equals),
            ("==", DoubleEquals),
            (">", GreaterThan),
            ("<", LessThan),
            ("!", Bang),
            ("!=", NotEquals),
            ("(", OpenParen),
            (")", CloseParen),
            ("~", Identifier),
            ("||", Identifier),
            ("inx", Identifier),
            ("xnotin", Identifier),
            (".metadata.annotations['test.io']", Identifier),
        ];
        for (input, kind) in cases {
            let first = tokenize(input)[0];
            assert_eq!(first.kind, kind, "{input:?}");
            assert_eq!(first.text, input, "{input:?}");
        }
    }

    #[test]
    fn sequences() {
        let cases: [(&str, &[TokenKind]); 11] = [
            ("key>2", &[Identifier, GreaterThan, Identifier, EndOfString]),
            ("key<1", &[Identifier, LessThan, Identifier, EndOfString]),
            (
                "key in ( value )",
                &[
                    Identifier,
                    In,
                    OpenParen,
                    Identifier,
                    CloseParen,
                    EndOfString,
                ],
            ),
            (
                "key notin ( value1, value2 )",
                &[
                    Identifier,
                    NotIn,
                    OpenParen,
                    Identifier,
                    Comma,
                    Identifier,
                    CloseParen,
                    EndOfString,
                ],
            ),
            ("key", &[Identifier, EndOfString]),
            ("!key", &[Bang, Identifier, EndOfString]),
            ("()", &[OpenParen, CloseParen, EndOfString]),
            (
                "x in (),y",
                &[
                    Identifier,
                    In,
                    OpenParen,
                    CloseParen,
                    Comma,
                    Identifier,
                    EndOfString,
                ],
            ),
            (
                "== != (), = notin",
                &[
                    DoubleEquals,
                    NotEquals,
                    OpenParen,
                    CloseParen,
                    Comma,
                    Equals,
                    NotIn,
                    EndOfString,
                ],
            ),
            // Longest match, then the rest: `!==` is `!=` then `=`, `>=` is `>` then `=`.
            (
                "a!==b>=c",
                &[
                    Identifier,
                    NotEquals,
                    Equals,
                    Identifier,
                    GreaterThan,
                    Equals,
                    Identifier,
                    EndOfString,
                ],
            ),
            (
                "spec.containers[].name!=container1",
                &[Identifier, NotEquals, Identifier, EndOfString],
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(kinds(input), expected, "{input:?}");
        }
    }

    #[test]
    fn positions_and_whitespace() {
        let tokens = tokenize(" a\t==\r\nb ,");
        let summary: Vec<_> = tokens.iter().map(|t| (t.kind, t.text, t.pos)).collect();
        assert_eq!(
            summary,
            [
                (Identifier, "a", 1),
                (DoubleEquals, "==", 3),
                (Identifier, "b", 7),
                (Comma, ",", 9),
                (EndOfString, "", 10),
            ]
        );
    }

    #[test]
    fn non_ascii_and_nul_never_panic() {
        assert_eq!(tokenize("é=ü")[0].text, "é");
        assert_eq!(tokenize("é=ü")[2].text, "ü");
        assert_eq!(kinds("a\0b"), [Identifier, Error, Identifier, EndOfString]);
        assert_eq!(tokenize("\0")[0].describe(), r#"invalid character "\0""#);
        assert_eq!(tokenize("")[0].describe(), "end of string");
    }
}
