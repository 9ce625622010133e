//! The wire, both ways: every line to the server is made safe here (one
//! line, whatever its fields held), and lines from it are read within a
//! bounded buffer.

use std::borrow::Cow;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::charset::Charsets;

/// Longest line read (IRCv3 tags plus the classic 512).
pub(crate) const MAX_LINE: usize = 8191 + 512;

/// Whether a character may never reach the socket inside a line: CR and LF
/// end a line (and would start another command), NUL ends it on many servers.
fn breaks_line(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\0')
}

/// A line as it may be sent: CR, LF and NUL, from whatever field they came
/// (a room key, a nick, a topic, a command after connecting), become
/// spaces, so a line is always one IRC command. Borrows when nothing needs
/// changing (nearly always).
pub fn safe(line: &str) -> Cow<'_, str> {
    if line.contains(breaks_line) {
        Cow::Owned(
            line.chars()
                .map(|c| if breaks_line(c) { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(line)
    }
}

/// Appends one line, made [`safe`] and then encoded as `charsets` say, and
/// its CR LF to `out`: the only way a line is put on the wire. Encoding
/// cannot bring a line break back: every encoding IRC may use writes CR
/// and LF only for CR and LF.
pub fn frame(line: &str, charsets: &Charsets, out: &mut Vec<u8>) {
    charsets.encode(&safe(line), out);
    out.extend_from_slice(b"\r\n");
}

/// Writes one line at once in UTF-8 (see [`frame`]): for the protocol's own lines.
pub async fn write_raw<W: AsyncWrite + Unpin>(w: &mut W, line: &str) -> std::io::Result<()> {
    write_line(w, line, &Charsets::default()).await
}

/// Writes one line at once, encoded as `charsets` say (see [`frame`]).
pub async fn write_line<W: AsyncWrite + Unpin>(
    w: &mut W,
    line: &str,
    charsets: &Charsets,
) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(line.len() + 2);
    frame(line, charsets, &mut bytes);
    w.write_all(&bytes).await?;
    w.flush().await
}

/// Reads one line into `buf`, keeping at most [`MAX_LINE`] bytes of it: a
/// server that never sends a line feed cannot make the buffer grow. Returns
/// how many bytes were read (0 at the end of the stream). Cancel-safe: what
/// was read stays in `buf`, and the next call goes on with the same line.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut read = 0;
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(read);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..=end], true),
            None => (available, false),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let n = chunk.len();
        r.consume(n);
        read += n;
        if done {
            return Ok(read);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    #[test]
    fn line_breaks_and_nul_never_pass() {
        let mut out = Vec::new();
        frame(
            "JOIN #a key\r\nPRIVMSG #a :injected\0",
            &Charsets::default(),
            &mut out,
        );
        assert_eq!(out, b"JOIN #a key  PRIVMSG #a :injected \r\n");
        // Nor through a legacy encoding.
        let latin = Charsets {
            channels: crate::charset::channel_encodings("#a=windows-1252").unwrap(),
            ..Charsets::default()
        };
        out.clear();
        frame("PRIVMSG #a :é\r\nQUIT\u{2028}", &latin, &mut out);
        assert_eq!(out, b"PRIVMSG #a :\xe9  QUIT?\r\n");
        assert!(matches!(safe("PRIVMSG #a :fine"), Cow::Borrowed(_)));
    }

    #[tokio::test]
    async fn an_endless_line_is_cut_and_the_next_line_still_read() {
        let mut input = vec![b'x'; 100_000];
        input.extend_from_slice(b"\r\nPING :next\r\n");
        let mut r = BufReader::with_capacity(512, &input[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf).await.unwrap(), 100_002);
        assert_eq!(buf.len(), MAX_LINE);
        buf.clear();
        read_line(&mut r, &mut buf).await.unwrap();
        assert_eq!(buf, b"PING :next\r\n");
        buf.clear();
        assert_eq!(read_line(&mut r, &mut buf).await.unwrap(), 0);
    }
}
