//! XEP-0050 ad-hoc commands: the `<command/>` payload xmpp-parsers lacks.
//!
//! ```xml
//! <iq type='set' to='irc.example.org' id='exec1'>
//!   <command xmlns='http://jabber.org/protocol/commands' node='register' action='execute'/>
//! </iq>
//! ```

use xmpp_parsers::data_forms::DataForm;
use xmpp_parsers::iq::{IqResultPayload, IqSetPayload};
use xso::{AsXml, FromXml};

/// XEP-0050's namespace; also the disco node that lists the commands.
pub const NS: &str = "http://jabber.org/protocol/commands";

/// A `<command/>` request or response.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = NS, name = "command")]
pub struct Command {
    /// Which command.
    #[xml(attribute)]
    pub node: String,
    /// The responder's session of a multi-stage command.
    #[xml(attribute(default))]
    pub sessionid: Option<String>,
    /// `execute`, `cancel`, `complete`, `next`, `prev` (requests).
    #[xml(attribute(default))]
    pub action: Option<String>,
    /// `executing`, `completed`, `canceled` (responses).
    #[xml(attribute(default))]
    pub status: Option<String>,
    /// The actions the requester may take next.
    #[xml(child(default))]
    pub actions: Option<Actions>,
    /// Notes for the user.
    #[xml(child(n = ..))]
    pub notes: Vec<Note>,
    /// The form.
    #[xml(child(default))]
    pub form: Option<DataForm>,
}

impl IqSetPayload for Command {}
impl IqResultPayload for Command {}

/// `<actions/>`: what the requester may do next.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq, Default)]
#[xml(namespace = NS, name = "actions")]
pub struct Actions {
    /// The default action.
    #[xml(attribute(default))]
    pub execute: Option<String>,
    /// `<next/>` is allowed: another stage may follow.
    #[xml(flag)]
    pub next: bool,
    /// `<complete/>` is allowed.
    #[xml(flag)]
    pub complete: bool,
}

/// `<note/>`: a message to the user.
#[derive(FromXml, AsXml, Debug, Clone, PartialEq)]
#[xml(namespace = NS, name = "note")]
pub struct Note {
    /// `info`, `warn` or `error`.
    #[xml(attribute(name = "type", default))]
    pub type_: Option<String>,
    /// The text.
    #[xml(text)]
    pub text: String,
}

impl Note {
    /// A note of the given type.
    pub fn new(type_: &str, text: impl Into<String>) -> Self {
        Self {
            type_: Some(type_.to_owned()),
            text: text.into(),
        }
    }
}

/// A new session id: unique in this process (sessions are also bound to
/// the requester's JID).
fn new_session(node: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{node}-{}-{n}", std::process::id())
}

impl Command {
    /// A response in the same node and session (a new session if the
    /// request had none).
    pub fn response(&self, status: &str) -> Self {
        Self {
            node: self.node.clone(),
            sessionid: Some(
                self.sessionid
                    .clone()
                    .unwrap_or_else(|| new_session(&self.node)),
            ),
            action: None,
            status: Some(status.to_owned()),
            actions: None,
            notes: Vec::new(),
            form: None,
        }
    }

    /// An `executing` response asking for a form, with `complete` as the action.
    pub fn ask(&self, form: DataForm) -> Self {
        Self {
            actions: Some(Actions {
                execute: Some("complete".into()),
                next: false,
                complete: true,
            }),
            form: Some(form),
            ..self.response("executing")
        }
    }

    /// An `executing` response asking for the form of a further stage
    /// (XEP-0050 §3.4): `next` is the default action, and another stage may
    /// follow; `complete` is allowed too.
    pub fn ask_next(&self, form: DataForm) -> Self {
        Self {
            actions: Some(Actions {
                execute: Some("next".into()),
                next: true,
                complete: true,
            }),
            ..self.ask(form)
        }
    }

    /// A `completed` response with one note.
    pub fn done(&self, note_type: &str, text: impl Into<String>) -> Self {
        Self {
            notes: vec![Note::new(note_type, text)],
            ..self.response("completed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::minidom::Element;

    // XEP-0050 Example 5 and Example 6 (abridged).
    #[test]
    fn parses_execute_and_serializes_response() {
        let el: Element =
            "<command xmlns='http://jabber.org/protocol/commands' node='list' action='execute'/>"
                .parse()
                .unwrap();
        let cmd = Command::try_from(el).unwrap();
        assert_eq!(cmd.node, "list");
        assert_eq!(cmd.action.as_deref(), Some("execute"));

        let reply = cmd.done("info", "Service 'httpd' has been configured.");
        let el = Element::from(reply);
        assert_eq!(el.attr("status"), Some("completed"));
        let note = el.get_child("note", NS).unwrap();
        assert_eq!(note.attr("type"), Some("info"));
        assert_eq!(note.text(), "Service 'httpd' has been configured.");
    }

    // XEP-0050 Example 7: a stage that another may follow.
    #[test]
    fn a_further_stage_offers_next() {
        let cmd = Command::try_from(
            "<command xmlns='http://jabber.org/protocol/commands' node='register' sessionid='s1' action='next'/>"
                .parse::<Element>()
                .unwrap(),
        )
        .unwrap();
        let form = DataForm::new(xmpp_parsers::data_forms::DataFormType::Form, "", vec![]);
        let el = Element::from(cmd.ask_next(form));
        assert_eq!(el.attr("status"), Some("executing"));
        assert_eq!(el.attr("sessionid"), Some("s1"));
        let expected: Element =
            "<actions xmlns='http://jabber.org/protocol/commands' execute='next'><next/><complete/></actions>"
                .parse()
                .unwrap();
        assert_eq!(el.get_child("actions", NS), Some(&expected));
    }

    #[test]
    fn new_sessions_differ() {
        let cmd = Command::try_from(
            "<command xmlns='http://jabber.org/protocol/commands' node='register' action='execute'/>"
                .parse::<Element>()
                .unwrap(),
        )
        .unwrap();
        assert_ne!(
            cmd.response("executing").sessionid,
            cmd.response("executing").sessionid
        );
    }
}
