//! Shared-bot mode's one-time codes: the gateway shows a user a code, the
//! user sends it to the shared bot in a direct message from their Discord
//! account, and the registration links the user to that Discord account.
//! A code is random (40 bits), lives [`CODE_LIFETIME`], serves once, and
//! at most [`MAX_PENDING`] wait at a time; none is ever logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a code may be sent to the bot.
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How many codes may wait at once (older ones are not dropped: a new
/// code is refused until some expire).
pub(crate) const MAX_PENDING: usize = 256;
/// The code's characters: no 0/O nor 1/I, which read alike.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// One waiting code.
struct Pending {
    account: String,
    expires: Instant,
    /// The Discord user who sent it, once they have.
    linked: Option<u64>,
}

/// Where a code stands, for the registration that asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// The Discord user who sent it (the code is used up).
    Linked(u64),
    /// Not sent yet, still valid.
    Waiting,
    /// Expired, used, or never made for this account.
    Gone,
}

/// The codes waiting for a direct message.
#[derive(Default)]
pub(crate) struct Links {
    codes: Mutex<HashMap<String, Pending>>,
    claimed: Notify,
}

/// No room for another code now.
#[derive(Debug)]
pub(crate) struct Full;

impl Links {
    /// A new code for `account` (an earlier one of the account is dropped).
    pub fn new_code(&self, account: &str) -> Result<String, Full> {
        let mut codes = self.codes.lock().unwrap();
        let now = Instant::now();
        codes.retain(|_, p| p.expires > now && p.account != account);
        if codes.len() >= MAX_PENDING {
            return Err(Full);
        }
        let code = loop {
            let code = random_code();
            if !codes.contains_key(&code) {
                break code;
            }
        };
        codes.insert(
            code.clone(),
            Pending {
                account: account.to_owned(),
                expires: now + CODE_LIFETIME,
                linked: None,
            },
        );
        Ok(code)
    }

    /// A direct message `text` from Discord user `user`: whether it was a
    /// valid code not claimed yet (it then links to `user`).
    pub fn claim(&self, text: &str, user: u64) -> bool {
        let Some(code) = normalise(text) else {
            return false;
        };
        let mut codes = self.codes.lock().unwrap();
        let claimed = match codes.get_mut(&code) {
            Some(p) if p.expires > Instant::now() && p.linked.is_none() => {
                p.linked = Some(user);
                true
            }
            _ => false,
        };
        drop(codes);
        if claimed {
            self.claimed.notify_waiters();
        }
        claimed
    }

    /// Where `account`'s `code` stands; a linked code is used up.
    pub fn take(&self, code: &str, account: &str) -> Status {
        let mut codes = self.codes.lock().unwrap();
        let status = match codes.get(code) {
            Some(p) if p.account != account => return Status::Gone,
            Some(p) if p.linked.is_some() => Status::Linked(p.linked.unwrap_or_default()),
            Some(p) if p.expires > Instant::now() => return Status::Waiting,
            _ => Status::Gone,
        };
        codes.remove(code);
        status
    }

    /// As [`Links::take`], waiting up to `wait` for the code to be sent.
    pub async fn wait(&self, code: &str, account: &str, wait: Duration) -> Status {
        let deadline = Instant::now() + wait;
        loop {
            let claimed = self.claimed.notified();
            let status = self.take(code, account);
            if status != Status::Waiting {
                return status;
            }
            if tokio::time::timeout_at(deadline, claimed).await.is_err() {
                return self.take(code, account);
            }
        }
    }

    /// A test's hand: makes `code` (as given) expire now.
    #[cfg(test)]
    fn expire(&self, code: &str) {
        if let Some(p) = self.codes.lock().unwrap().get_mut(code) {
            p.expires = Instant::now();
        }
    }
}

/// A fresh code, `XXXX-XXXX`.
fn random_code() -> String {
    let mut bytes = [0u8; 8];
    // The OS's random source; without one nothing is secure anyway.
    getrandom::getrandom(&mut bytes).expect("the OS's random source");
    let mut code = String::with_capacity(9);
    for (i, b) in bytes.iter().enumerate() {
        if i == 4 {
            code.push('-');
        }
        code.push(ALPHABET[usize::from(b & 31)] as char);
    }
    code
}

/// A message's text as a code: letters and digits upper-cased, spaces
/// and dashes ignored; `None` unless that leaves eight characters.
pub(crate) fn normalise(text: &str) -> Option<String> {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if chars.len() != 8 || !chars.iter().all(char::is_ascii_alphanumeric) {
        return None;
    }
    let mut code: String = chars[..4].iter().collect();
    code.push('-');
    code.extend(&chars[4..]);
    Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_code_links_once_and_only_its_account() {
        let links = Links::default();
        let code = links.new_code("alice").unwrap();
        assert_eq!(code.len(), 9);
        assert_eq!(links.take(&code, "alice"), Status::Waiting);
        assert!(!links.claim("ABCD-EFGH", 42) || code == "ABCD-EFGH");
        // Sent as a person types it: lower case, no dash.
        assert!(links.claim(&code.to_lowercase().replace('-', " "), 42));
        assert!(!links.claim(&code, 43), "a code serves once");
        assert_eq!(links.take(&code, "mallory"), Status::Gone);
        assert_eq!(links.take(&code, "alice"), Status::Linked(42));
        assert_eq!(links.take(&code, "alice"), Status::Gone, "used up");
    }

    #[tokio::test]
    async fn an_expired_code_links_nobody() {
        let links = Links::default();
        let code = links.new_code("alice").unwrap();
        links.expire(&code);
        assert!(!links.claim(&code, 42));
        assert_eq!(links.take(&code, "alice"), Status::Gone);
    }

    #[tokio::test]
    async fn a_new_code_replaces_the_accounts_earlier_one() {
        let links = Links::default();
        let first = links.new_code("alice").unwrap();
        let second = links.new_code("alice").unwrap();
        assert_ne!(first, second);
        assert!(!links.claim(&first, 42));
        assert_eq!(links.take(&second, "alice"), Status::Waiting);
    }

    #[tokio::test]
    async fn waiting_sees_the_claim() {
        let links = std::sync::Arc::new(Links::default());
        let code = links.new_code("alice").unwrap();
        let waiter = {
            let (links, code) = (links.clone(), code.clone());
            tokio::spawn(async move { links.wait(&code, "alice", Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(links.claim(&code, 7));
        assert_eq!(waiter.await.unwrap(), Status::Linked(7));
    }

    #[test]
    fn codes_are_random_and_readable() {
        let a = random_code();
        let b = random_code();
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c == '-' || ALPHABET.contains(&(c as u8))));
        assert_eq!(normalise("abcd efgh").as_deref(), Some("ABCD-EFGH"));
        assert_eq!(normalise("hello there"), None);
    }
}
