//! An XMPP correction (XEP-0308) as IRC users write one, for IRC, which
//! has no edits: a small change within one line as `s/old/new/`, anything
//! else as `* ` and the whole corrected text.
//!
//! The rule: the changed part is widened to whole words (IRC users replace
//! words, not letters); it becomes `s/old/new/` when the original text is
//! known, both texts are one line, `old` is not empty, occurs once in the
//! original (so the substitution is unambiguous), neither part holds a
//! `/`, each is at most [`MAX_PART`] characters, and `old` is not the
//! whole original (then the new text says it better). Otherwise
//! `* <corrected text>`.

/// The longest replaced or replacing part written as `s/old/new/`.
pub const MAX_PART: usize = 40;

/// The IRC text that tells a correction of `old` (if known) into `new`.
pub fn correction_line(old: Option<&str>, new: &str) -> String {
    let whole = format!("* {new}");
    let Some(old) = old else {
        return whole;
    };
    substitution(old, new).unwrap_or(whole)
}

/// `s/old/new/` for a small change of one line, if the rule allows it.
fn substitution(old: &str, new: &str) -> Option<String> {
    if old.contains('\n') || new.contains('\n') || old == new {
        return None;
    }
    let (o, n): (Vec<char>, Vec<char>) = (old.chars().collect(), new.chars().collect());
    let mut prefix = o.iter().zip(&n).take_while(|(a, b)| a == b).count();
    let room = o.len().min(n.len()) - prefix;
    let mut suffix = o
        .iter()
        .rev()
        .zip(n.iter().rev())
        .take(room)
        .take_while(|(a, b)| a == b)
        .count();
    // Whole words: back to the start of the word the change begins in, on
    // to the end of the word it ends in.
    while prefix > 0 && !o[prefix - 1].is_whitespace() {
        prefix -= 1;
    }
    while suffix > 0 && !o[o.len() - suffix].is_whitespace() {
        suffix -= 1;
    }
    let from: String = o[prefix..o.len() - suffix].iter().collect();
    let to: String = n[prefix..n.len() - suffix].iter().collect();
    let small = |s: &str| s.chars().count() <= MAX_PART && !s.contains('/');
    let once = !from.trim().is_empty()
        && from.trim() != old.trim()
        && old.matches(from.as_str()).count() == 1;
    (once && small(&from) && small(&to)).then(|| format!("s/{from}/{to}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_change_is_a_substitution_of_whole_words() {
        assert_eq!(
            correction_line(Some("hello wrold"), "hello world"),
            "s/wrold/world/"
        );
        assert_eq!(
            correction_line(
                Some("I like cats and dogs a lot"),
                "I like cats and frogs a lot"
            ),
            "s/dogs/frogs/"
        );
        assert_eq!(
            correction_line(Some("meet at 5 today"), "meet at 6 tomorrow"),
            "s/5 today/6 tomorrow/"
        );
        assert_eq!(
            correction_line(Some("héllo wörld"), "héllo world"),
            "s/wörld/world/"
        );
    }

    #[test]
    fn anything_else_is_the_whole_text_marked() {
        // Unknown original.
        assert_eq!(correction_line(None, "hello"), "* hello");
        // The replaced word occurs twice: s/// would be ambiguous.
        assert_eq!(
            correction_line(Some("the cat and the dog"), "the cat and a dog"),
            "* the cat and a dog"
        );
        // A slash in a part.
        assert_eq!(correction_line(Some("see a/b"), "see a/c"), "* see a/c");
        // Several lines.
        assert_eq!(correction_line(Some("a\nb"), "a\nc"), "* a\nc");
        // The whole original replaced: the new text says it better.
        assert_eq!(correction_line(Some("hi"), "hi there"), "* hi there");
        assert_eq!(correction_line(Some("helo"), "hello"), "* hello");
        // A large change.
        let long = "x".repeat(MAX_PART + 1);
        assert_eq!(
            correction_line(
                Some("one two three four five six"),
                &format!("one {long} three four five six")
            ),
            format!("* one {long} three four five six")
        );
        // No change.
        assert_eq!(correction_line(Some("same"), "same"), "* same");
    }
}
