//! The framer's byte-level XML scanner: where a byte stands lexically
//! (text, tags, quoted values, CDATA, processing instructions), and where
//! elements open and close, with their names hashed so that end tags are
//! matched without keeping names. One byte at a time, no allocation.

/// Where the scanner is, lexically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lex {
    /// Character data between tags.
    Text,
    /// Just after `<`.
    Open,
    /// Inside a start tag (`<name attr='v'`), outside quotes; `slash` when
    /// the last byte was `/`.
    StartTag { slash: bool },
    /// Inside a quoted attribute value.
    Quoted(u8),
    /// Inside an end tag (`</name`).
    EndTag,
    /// Inside `<?…?>`; `q` when the last byte was `?`.
    Pi { q: bool },
    /// After `<!`: how many bytes of `[CDATA[` matched so far.
    Bang { seen: u8 },
    /// Inside `<![CDATA[…]]>`: how many `]` just before.
    Cdata { brackets: u8 },
}

/// What a byte did to the element structure.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// Nothing of note.
    Byte,
    /// A start tag ended: an element opened (or, self-closing, opened and
    /// closed); `name` is a hash of its name.
    StartTagEnd { self_closing: bool, name: u64 },
    /// An end tag ended; `name` is a hash of its name.
    EndTagEnd { name: u64 },
    /// A comment or a DTD began: XMPP forbids both (RFC 6120 §11.1).
    Forbidden,
    /// A processing instruction began: allowed only before the stream header.
    Pi,
}

/// FNV-1a: a tag name's hash, so end tags can be matched without keeping names.
const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(hash: u64, b: u8) -> u64 {
    (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
}

/// The byte-level scanner: lexical state, and the name of the tag being read.
#[derive(Debug)]
pub(super) struct Scanner {
    /// Where it is, lexically.
    pub(super) lex: Lex,
    /// Hash of the tag name read so far.
    name: u64,
    /// Whether the tag's name is still being read.
    naming: bool,
}

impl Scanner {
    /// A scanner before the stream's first byte.
    pub(super) fn new() -> Self {
        Self {
            lex: Lex::Text,
            name: FNV_START,
            naming: false,
        }
    }

    /// Takes one byte: what it did to the element structure.
    pub(super) fn step(&mut self, b: u8) -> Step {
        match self.lex {
            Lex::Open if !matches!(b, b'/' | b'?' | b'!' | b'>') => {
                self.name = fnv(FNV_START, b);
                self.naming = true;
            }
            Lex::Open if b == b'/' => {
                self.name = FNV_START;
                self.naming = true;
            }
            Lex::StartTag { .. } | Lex::EndTag if self.naming => {
                if b.is_ascii_whitespace() || matches!(b, b'/' | b'>') {
                    self.naming = false;
                } else {
                    self.name = fnv(self.name, b);
                }
            }
            _ => {}
        }
        let name = self.name;
        const CDATA: &[u8] = b"[CDATA[";
        let (next, step) = match (self.lex, b) {
            (Lex::Text, b'<') => (Lex::Open, Step::Byte),
            (Lex::Text, _) => (Lex::Text, Step::Byte),
            (Lex::Open, b'/') => (Lex::EndTag, Step::Byte),
            (Lex::Open, b'?') => (Lex::Pi { q: false }, Step::Pi),
            (Lex::Open, b'!') => (Lex::Bang { seen: 0 }, Step::Byte),
            (Lex::Open, b'>') => (
                Lex::Text,
                Step::StartTagEnd {
                    self_closing: false,
                    name,
                },
            ),
            (Lex::Open, _) => (Lex::StartTag { slash: false }, Step::Byte),
            (Lex::StartTag { .. }, q @ (b'\'' | b'"')) => (Lex::Quoted(q), Step::Byte),
            (Lex::StartTag { slash }, b'>') => (
                Lex::Text,
                Step::StartTagEnd {
                    self_closing: slash,
                    name,
                },
            ),
            (Lex::StartTag { .. }, b'/') => (Lex::StartTag { slash: true }, Step::Byte),
            (Lex::StartTag { .. }, _) => (Lex::StartTag { slash: false }, Step::Byte),
            (Lex::Quoted(q), c) if c == q => (Lex::StartTag { slash: false }, Step::Byte),
            (Lex::Quoted(q), _) => (Lex::Quoted(q), Step::Byte),
            (Lex::EndTag, b'>') => (Lex::Text, Step::EndTagEnd { name }),
            (Lex::EndTag, _) => (Lex::EndTag, Step::Byte),
            (Lex::Pi { q: true }, b'>') => (Lex::Text, Step::Byte),
            (Lex::Pi { .. }, c) => (Lex::Pi { q: c == b'?' }, Step::Byte),
            (Lex::Bang { seen }, c) if CDATA.get(usize::from(seen)) == Some(&c) => {
                if usize::from(seen) + 1 == CDATA.len() {
                    (Lex::Cdata { brackets: 0 }, Step::Byte)
                } else {
                    (Lex::Bang { seen: seen + 1 }, Step::Byte)
                }
            }
            // A comment or a declaration: the stream ends at it.
            (Lex::Bang { .. }, _) => (Lex::Text, Step::Forbidden),
            (Lex::Cdata { brackets }, b'>') if brackets >= 2 => (Lex::Text, Step::Byte),
            (Lex::Cdata { brackets }, b']') => (
                Lex::Cdata {
                    brackets: brackets.saturating_add(1),
                },
                Step::Byte,
            ),
            (Lex::Cdata { .. }, _) => (Lex::Cdata { brackets: 0 }, Step::Byte),
        };
        self.lex = next;
        step
    }
}
