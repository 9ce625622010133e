//! The gateway's commands as chat messages to its domain, for clients
//! without ad-hoc commands: `help`, `register`, `status`, `leave`, `unregister`.

use std::sync::Arc;
use switchboard_bridge_api::Credentials;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::Message;

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
                let args: Vec<&str> = words.collect();
                self.chat_register(&from, &args).await
            }
            Some("leave") => self.chat_leave(&user, words.next()).await,
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
        let fields: Vec<String> = info
            .fields
            .iter()
            .map(|f| {
                format!(
                    "  {}={}{}",
                    f.name,
                    f.label,
                    if f.required { " (required)" } else { "" }
                )
            })
            .collect();
        format!(
            "{} gateway commands:\n\
             help: this text\n\
             status: your registration and session\n\
             register [field=value ...]: register with the fields:\n{}\n\
             leave ROOM-JID: leave a room on the network (also one that stays joined without a client)\n\
             unregister: remove your registration\n\
             Your client's ad-hoc commands offer the same as forms.",
            info.display_name,
            fields.join("\n")
        )
    }

    async fn chat_register(self: &Arc<Self>, from: &Jid, args: &[&str]) -> String {
        let mut creds: Credentials = self.registered(&from.to_bare()).await.unwrap_or_default();
        for arg in args {
            let Some((k, v)) = arg.split_once('=') else {
                return format!("\"{arg}\" is not field=value. Send \"help\" for the fields.");
            };
            if !self.bridge.info().fields.iter().any(|f| f.name == k) {
                return format!("Unknown field \"{k}\". Send \"help\" for the fields.");
            }
            creds.set(k, v);
        }
        match self.register(from, creds).await {
            Ok(()) => format!(
                "You are registered with the {} gateway.",
                self.bridge.info().display_name
            ),
            Err(e) => format!("Registration refused: {e}"),
        }
    }
}
