//! XMPP building blocks the gateway uses: payloads xmpp-parsers lacks, forms,
//! ids as JID localparts (escaping), disco and error replies.

pub mod adhoc;
pub mod bookmarks;
pub mod delay;
pub mod disco;
pub mod errors;
pub mod escape;
pub mod forms;
pub mod localpart;
pub mod privilege;
pub mod reactions;
pub mod reply;
pub mod rich;
pub mod sfs;
