//! The gateway's commands as chat messages to its domain, for clients
//! without ad-hoc commands: `help`, `register`, `status`, `leave`, `decline`,
//! `unregister`.

use std::sync::Arc;
use switchboard_bridge_api::{Credentials, LoginField};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::Message;

use super::registration::{StepInput, StepOutcome};
use super::Gateway;

impl Gateway {
    pub(super) async fn handle_chat_command(self: &Arc<Self>, message: Message) {
        let Some(from) = message.from.clone() else {
            return;
        };
        let Some((_, body)) = message.get_best_body(vec![]) else {
            return;
        };
        let user = from.to_bare();
        let mut words = body.split_whitespace();
        let reply = match words.next().map(str::to_ascii_lowercase).as_deref() {
            Some("help") | None => self.help_text(),
            Some("status") => self.status_text(&user).await,
            Some("register") => {
                let args: Vec<String> = words.map(str::to_owned).collect();
                // It may talk to the network: off the router, which serves every user.
                let this = Arc::clone(self);
                tokio::spawn(async move {
                    let reply = this.chat_register(&from, &args).await;
                    this.tell(&from.to_bare(), &reply).await;
                });
                return;
            }
            Some("leave") => self.chat_leave(&user, words.next()).await,
            Some("decline") => self.chat_decline(&user, words.next()).await,
            Some("unregister") => match self.unregister(&user).await {
                Ok(true) => "You are unregistered; your session has ended.".to_owned(),
                Ok(false) => "You were not registered.".to_owned(),
                Err(e) => format!("Could not unregister: {e}"),
            },
            Some(other) => format!("Unknown command \"{other}\".\n{}", self.help_text()),
        };
        self.tell(&user, &reply).await;
    }

    fn help_text(&self) -> String {
        let info = self.bridge.info();
        format!(
            "{} gateway commands:\n\
             help: this text\n\
             status: your registration and session\n\
             register [field=value ...]: register with the fields:\n{}\n\
             leave ROOM-JID: leave a room on the network (also one that stays joined without a client)\n\
             decline ROOM-JID: decline an invitation to a room\n\
             unregister: remove your registration\n\
             Your client's ad-hoc commands offer the same as forms.",
            info.display_name,
            field_lines(&info.fields)
        )
    }

    /// `register field=value…`: the login form's fields start a
    /// registration; the fields of a step that waits for the user answer it.
    async fn chat_register(self: &Arc<Self>, from: &Jid, args: &[String]) -> String {
        let mut pairs = Vec::new();
        for arg in args {
            let Some((k, v)) = arg.split_once('=') else {
                return format!("\"{arg}\" is not field=value. Send \"help\" for the fields.");
            };
            pairs.push((k, v));
        }
        let names: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
        let input = if self.answers_waiting_step(from, &names) {
            StepInput::Next {
                answers: pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                session: None,
            }
        } else {
            let mut creds: Credentials = self.registered(&from.to_bare()).await.unwrap_or_default();
            for (k, v) in &pairs {
                if !self.bridge.info().fields.iter().any(|f| f.name == *k) {
                    return match self.waiting_step(from) {
                        Some((_, _, fields)) => format!(
                            "Unknown field \"{k}\". The registration step under way asks for:\n{}",
                            field_lines(&fields)
                        ),
                        None => format!("Unknown field \"{k}\". Send \"help\" for the fields."),
                    };
                }
                creds.set(*k, *v);
            }
            StepInput::First(creds)
        };
        match self.registration_step(from, input, None).await {
            Ok(StepOutcome::Registered) => format!(
                "You are registered with the {} gateway.",
                self.bridge.info().display_name
            ),
            Ok(StepOutcome::NextStep {
                instructions,
                fields,
                ..
            }) => {
                let example: Vec<String> = fields.iter().map(|f| format!("{}=…", f.name)).collect();
                format!(
                    "{instructions}\nAnswer with: register {}\n{}",
                    example.join(" "),
                    field_lines(&fields)
                )
            }
            Err(e) => format!("Registration refused: {e}"),
        }
    }
}

/// A form's fields, a line each: `  name=Label (required)`.
fn field_lines(fields: &[LoginField]) -> String {
    fields
        .iter()
        .map(|f| {
            format!(
                "  {}={}{}",
                f.name,
                f.label,
                if f.required { " (required)" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
