//! Registration that talks to the network, through the gateway in-process
//! with a small two-step bridge (a Matrix-shaped login: a password, then a
//! code, and an access token stored in place of the password), driven by
//! the stanzas a client would send and read as the component would send
//! them to the XMPP server.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::archive::Archive;
use switchboard::component::{LinkEvent, Outgoing};
use switchboard::config::Config;
use switchboard::crypto::Vault;
use switchboard::gateway::{Gateway, Shared};
use switchboard::store::Store;
use switchboard_bridge_api::{
    session_channels, BoxFuture, Bridge, BridgeInfo, Capabilities, Command, Credentials, Event,
    FieldError, FieldKind, Login, LoginField, Registered, RegistrationStep, SessionHandle,
    StepState,
};
use tokio::sync::{mpsc, Semaphore};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::stanza::Stanza;

const DOMAIN: &str = "matrix.localhost";
const USER: &str = "alice@localhost/phone";
const PASSWORD: &str = "correct-horse-battery";
const CODE: &str = "424242";
const TOKEN: &str = "syt_access_token_0001";
const REFRESH: &str = "refresh-token-secret-0001";
const KEY: [u8; 32] = [7; 32];

/// The bridge's state between the password and the code.
struct HalfLoggedIn {
    user: String,
    login_session: String,
}

/// A network whose login takes a password, then a code sent elsewhere, and
/// gives an access token. The first step waits for a permit of `network`,
/// as a slow homeserver would.
struct TwoStepBridge {
    info: BridgeInfo,
    network: Arc<Semaphore>,
    logins: Arc<Mutex<Vec<Login>>>,
}

fn field(name: &'static str, label: &'static str, kind: FieldKind) -> LoginField {
    LoginField {
        name,
        label,
        description: "",
        kind,
        required: true,
        default: None,
    }
}

impl TwoStepBridge {
    fn new(permits: usize) -> Self {
        Self {
            info: BridgeInfo {
                name: "matrix",
                display_name: "Test",
                instructions: "Log in with your account.",
                fields: vec![
                    field("user", "User", FieldKind::Text),
                    field("password", "Password", FieldKind::Password),
                ],
                capabilities: Capabilities::default(),
                server_settings: Vec::new(),
            },
            network: Arc::new(Semaphore::new(permits)),
            logins: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl Bridge for TwoStepBridge {
    fn info(&self) -> &BridgeInfo {
        &self.info
    }

    fn register(
        &self,
        step: RegistrationStep,
    ) -> BoxFuture<'static, Result<Registered, FieldError>> {
        let network = Arc::clone(&self.network);
        Box::pin(async move {
            match step.state {
                None => {
                    network.acquire().await.unwrap().forget();
                    let user = step.answers.get("user").unwrap_or_default().to_owned();
                    if step.answers.get("password") != Some(PASSWORD) {
                        return Err(FieldError::new("password", "wrong password"));
                    }
                    Ok(Registered::NextStep {
                        instructions: format!("We sent a code to {user}'s phone."),
                        fields: vec![field("code", "Code", FieldKind::Text)],
                        state: StepState::new(HalfLoggedIn {
                            user,
                            login_session: "login-session-1".into(),
                        }),
                    })
                }
                Some(state) => {
                    let half = state.downcast::<HalfLoggedIn>().expect("our own state");
                    assert_eq!(half.login_session, "login-session-1");
                    if step.answers.get("code") != Some(CODE) {
                        return Err(FieldError::new("code", "that code is wrong"));
                    }
                    let mut store = Credentials::new();
                    store.set("user", half.user);
                    store.set("token", TOKEN);
                    Ok(Registered::Done { store })
                }
            }
        })
    }

    fn start(&self, login: Login) -> SessionHandle {
        self.logins.lock().unwrap().push(login);
        let (handle, mut end) = session_channels();
        tokio::spawn(async move {
            for (key, value, secret) in [("sync", "s_1", false), ("refresh", REFRESH, true)] {
                let event = Event::SaveState {
                    key: key.into(),
                    value: value.into(),
                    secret,
                };
                if end.events.send(event).await.is_err() {
                    return;
                }
            }
            while let Some(command) = end.commands.recv().await {
                if matches!(command, Command::Shutdown) {
                    break;
                }
            }
        });
        handle
    }
}

/// The gateway of one test network, fed stanzas as the XMPP server would.
struct World {
    gateway: Arc<Gateway>,
    bridge: Arc<TwoStepBridge>,
    store: Store,
    vault: Arc<Vault>,
    shared: Shared,
    to_gateway: mpsc::Sender<LinkEvent>,
    from_gateway: mpsc::Receiver<Outgoing>,
    _dir: tempfile::TempDir,
}

async fn world(permits: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("switchboard.db");
    // The test gives the gateway its own two-step bridge; the section's
    // kind only has to be one this build has.
    let config = Config::parse(
        &format!(
            "[database]\nurl = \"sqlite://{}?mode=rwc\"\n\
             [users]\nallowed_domains = [\"localhost\"]\n\
             [networks.matrix]\nkind = \"irc\"\njid = \"{DOMAIN}\"\nsecret = \"s\"\n",
            db.display()
        ),
        dir.path(),
        |_| None,
    )
    .unwrap();
    let store = Store::connect(&config.database_url).await.unwrap();
    let vault = Arc::new(Vault::from_key(&KEY));
    let (archive, _task) = Archive::start(store.clone(), config.archive);
    let shared = Shared {
        config: Arc::new(config),
        archive,
        store: store.clone(),
        vault: Arc::clone(&vault),
    };
    let bridge = Arc::new(TwoStepBridge::new(permits));
    let (out_tx, out_rx) = mpsc::channel(1024);
    let (in_tx, in_rx) = mpsc::channel(1024);
    let gateway = Gateway::new(
        "matrix",
        DOMAIN.parse().unwrap(),
        Arc::clone(&bridge) as Arc<dyn Bridge>,
        shared.clone(),
        out_tx,
    );
    tokio::spawn(Arc::clone(&gateway).run(in_rx));
    World {
        gateway,
        bridge,
        store,
        vault,
        shared,
        to_gateway: in_tx,
        from_gateway: out_rx,
        _dir: dir,
    }
}

/// Parses XML written as the XEPs show it (indented), without the
/// whitespace between elements.
fn xml(text: &str) -> Element {
    let compact: String = text.lines().map(str::trim).collect::<Vec<_>>().join("");
    compact.parse().unwrap()
}

impl World {
    async fn send(&self, stanza: &str) {
        let el = xml(stanza);
        let stanza = match el.name() {
            "iq" => Stanza::Iq(Iq::try_from(el).unwrap()),
            "message" => Stanza::Message(Message::try_from(el).unwrap()),
            other => panic!("not sent in these tests: {other}"),
        };
        self.to_gateway
            .send(LinkEvent::Stanza(stanza))
            .await
            .unwrap();
    }

    /// The next stanza the gateway sends that `pick` keeps.
    async fn next<T>(&mut self, mut pick: impl FnMut(Element) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stanza = tokio::time::timeout_at(deadline, self.from_gateway.recv())
                .await
                .expect("the gateway answered")
                .expect("the gateway runs")
                .stanza;
            let el = match stanza {
                Stanza::Iq(iq) => Element::from(iq),
                Stanza::Message(m) => Element::from(m),
                Stanza::Presence(p) => Element::from(p),
            };
            if let Some(found) = pick(el) {
                return found;
            }
        }
    }

    /// The answer to the iq `id`.
    async fn iq_answer(&mut self, id: &str) -> Element {
        self.next(|el| (el.name() == "iq" && el.attr("id") == Some(id)).then_some(el))
            .await
    }

    /// The body of the gateway's next chat message.
    async fn chat_reply(&mut self) -> String {
        self.next(|el| {
            (el.name() == "message")
                .then(|| {
                    el.get_child("body", "jabber:component:accept")
                        .map(Element::text)
                })
                .flatten()
        })
        .await
    }

    /// Sends a XEP-0050 request and returns the answer.
    async fn command(&mut self, id: &str, command: &str) -> Element {
        self.send(&format!(
            "<iq xmlns='jabber:component:accept' type='set' from='{USER}' to='{DOMAIN}' id='{id}'>{command}</iq>"
        ))
        .await;
        self.iq_answer(id).await
    }

    async fn say(&self, body: &str) {
        self.send(&format!(
            "<message xmlns='jabber:component:accept' type='chat' from='{USER}' to='{DOMAIN}' id='m-{}'><body>{body}</body></message>",
            body.len()
        ))
        .await;
    }

    /// The stored registration row, as the database holds it.
    async fn stored_row(&self) -> Option<String> {
        self.store
            .registration("alice@localhost", "matrix")
            .await
            .unwrap()
    }

    /// The session state rows, as the database holds them, once the
    /// session has saved both.
    async fn stored_state(&self) -> BTreeMap<String, String> {
        for _ in 0..200 {
            let state = self.store.state("alice@localhost", "matrix").await.unwrap();
            if state.len() == 2 {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the session never saved its state");
    }
}

const CMD: &str = "http://jabber.org/protocol/commands";

fn submit(fields: &[(&str, &str)]) -> String {
    let fields: String = fields
        .iter()
        .map(|(k, v)| format!("<field var='{k}'><value>{v}</value></field>"))
        .collect();
    format!("<x xmlns='jabber:x:data' type='submit'>{fields}</x>")
}

/// Asserts the stored registration holds the bridge's replacement (the
/// token), sealed, and never the password; and that the session was
/// started with the token.
async fn assert_token_stored_sealed(w: &World) {
    let row = w.stored_row().await.expect("registered");
    assert!(!row.contains(PASSWORD), "the password is stored: {row}");
    assert!(!row.contains(TOKEN), "the token is stored in clear: {row}");
    let opened = String::from_utf8(w.vault.open(&row).unwrap()).unwrap();
    assert!(opened.contains(TOKEN), "the token is not what is stored");
    assert!(!opened.contains(PASSWORD), "the password is stored, sealed");
    let logins = w.bridge.logins.lock().unwrap();
    let login = logins.last().expect("a session was started");
    assert_eq!(login.credentials.get("token"), Some(TOKEN));
    assert_eq!(login.credentials.get("user"), Some("ferris"));
    assert_eq!(login.credentials.get("password"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adhoc_register_runs_the_bridges_steps_as_stages() {
    let mut w = world(0).await;

    // Stage one: the login form (XEP-0050 Example 5/6).
    let stage = w
        .command(
            "e1",
            &format!("<command xmlns='{CMD}' node='register' action='execute'/>"),
        )
        .await;
    let command = stage.get_child("command", CMD).unwrap();
    let session = command.attr("sessionid").unwrap().to_owned();
    assert_eq!(
        stage,
        xml(&format!(
            "<iq xmlns='jabber:component:accept' type='result' from='{DOMAIN}' to='{USER}' id='e1'>
               <command xmlns='{CMD}' node='register' sessionid='{session}' status='executing'>
                 <actions execute='complete'><complete/></actions>
                 <x xmlns='jabber:x:data' type='form'>
                   <title>Test registration</title>
                   <instructions>Log in with your account.</instructions>
                   <field var='FORM_TYPE' type='hidden'><value>jabber:iq:register</value></field>
                   <field var='user' label='User'><required/></field>
                   <field var='password' type='text-private' label='Password'><required/></field>
                 </x>
               </command>
             </iq>"
        ))
    );

    // The password goes to the network, which is slow to answer.
    w.send(&format!(
        "<iq xmlns='jabber:component:accept' type='set' from='{USER}' to='{DOMAIN}' id='e2'>
           <command xmlns='{CMD}' node='register' sessionid='{session}' action='next'>{}</command>
         </iq>",
        submit(&[("user", "ferris"), ("password", PASSWORD)])
    ))
    .await;
    // Meanwhile the gateway answers other requests…
    w.send(&format!(
        "<iq xmlns='jabber:component:accept' type='get' from='{USER}' to='{DOMAIN}' id='p1'>
           <ping xmlns='urn:xmpp:ping'/>
         </iq>"
    ))
    .await;
    let pong = w.iq_answer("p1").await;
    assert_eq!(
        pong,
        xml(&format!(
            "<iq xmlns='jabber:component:accept' type='result' from='{DOMAIN}' to='{USER}' id='p1'/>"
        ))
    );
    // …and refuses a second registration while the first one runs.
    let second = w
        .command(
            "e3",
            &format!(
                "<command xmlns='{CMD}' node='register' action='complete'>{}</command>",
                submit(&[("user", "ferris"), ("password", PASSWORD)])
            ),
        )
        .await;
    assert_eq!(
        second,
        xml(&format!(
            "<iq xmlns='jabber:component:accept' type='error' from='{DOMAIN}' to='{USER}' id='e3'>
               <error type='wait'>
                 <unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
                 <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>a registration of yours is already under way; wait for its answer</text>
               </error>
             </iq>"
        ))
    );

    // The network answers: it wants a code. Stage two, same session (XEP-0050 Example 7).
    w.bridge.network.add_permits(1);
    let stage = w.iq_answer("e2").await;
    assert_eq!(
        stage,
        xml(&format!(
            "<iq xmlns='jabber:component:accept' type='result' from='{DOMAIN}' to='{USER}' id='e2'>
               <command xmlns='{CMD}' node='register' sessionid='{session}' status='executing'>
                 <actions execute='next'><next/><complete/></actions>
                 <x xmlns='jabber:x:data' type='form'>
                   <title>Test registration</title>
                   <instructions>We sent a code to ferris's phone.</instructions>
                   <field var='FORM_TYPE' type='hidden'><value>jabber:iq:register</value></field>
                   <field var='code' label='Code'><required/></field>
                 </x>
               </command>
             </iq>"
        ))
    );
    assert_eq!(
        w.stored_row().await,
        None,
        "nothing stored before the last step"
    );

    // A missing answer names the field; the step keeps waiting.
    let again = w
        .command(
            "e4",
            &format!(
                "<command xmlns='{CMD}' node='register' sessionid='{session}' action='complete'>{}</command>",
                submit(&[])
            ),
        )
        .await;
    let command = again.get_child("command", CMD).unwrap();
    assert_eq!(command.attr("status"), Some("executing"));
    let note = command.get_child("note", CMD).unwrap();
    assert_eq!(note.attr("type"), Some("error"));
    assert_eq!(note.text(), "code: this field is required");
    let code_field = command
        .get_child("x", "jabber:x:data")
        .unwrap()
        .children()
        .find(|f| f.attr("var") == Some("code"))
        .unwrap();
    assert_eq!(
        code_field
            .get_child("desc", "jabber:x:data")
            .unwrap()
            .text(),
        "Error: this field is required"
    );

    // The code completes it (XEP-0050 Example 10).
    let done = w
        .command(
            "e5",
            &format!(
                "<command xmlns='{CMD}' node='register' sessionid='{session}' action='complete'>{}</command>",
                submit(&[("code", CODE)])
            ),
        )
        .await;
    assert_eq!(
        done,
        xml(&format!(
            "<iq xmlns='jabber:component:accept' type='result' from='{DOMAIN}' to='{USER}' id='e5'>
               <command xmlns='{CMD}' node='register' sessionid='{session}' status='completed'>
                 <note type='info'>You are registered with the Test gateway.</note>
               </command>
             </iq>"
        ))
    );
    assert_token_stored_sealed(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adhoc_cancel_drops_the_waiting_step() {
    let mut w = world(10).await;
    let stage = w
        .command(
            "c1",
            &format!(
                "<command xmlns='{CMD}' node='register' sessionid='reg-s' action='next'>{}</command>",
                submit(&[("user", "ferris"), ("password", PASSWORD)])
            ),
        )
        .await;
    let command = stage.get_child("command", CMD).unwrap();
    assert_eq!(command.attr("status"), Some("executing"));
    assert_eq!(command.attr("sessionid"), Some("reg-s"));
    // XEP-0050 Example 13/14: cancel.
    let canceled = w
        .command(
            "c2",
            &format!("<command xmlns='{CMD}' node='register' sessionid='reg-s' action='cancel'/>"),
        )
        .await;
    assert_eq!(
        canceled,
        xml(&format!(
            "<iq xmlns='jabber:component:accept' type='result' from='{DOMAIN}' to='{USER}' id='c2'>
               <command xmlns='{CMD}' node='register' sessionid='reg-s' status='canceled'/>
             </iq>"
        ))
    );
    // The code no longer leads anywhere: the step is gone.
    let late = w
        .command(
            "c3",
            &format!(
                "<command xmlns='{CMD}' node='register' sessionid='reg-s' action='complete'>{}</command>",
                submit(&[("code", CODE)])
            ),
        )
        .await;
    assert_eq!(
        late,
        xml(&format!(
            "<iq xmlns='jabber:component:accept' type='error' from='{DOMAIN}' to='{USER}' id='c3'>
               <error type='cancel'>
                 <not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
                 <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>no registration step waits for your answers (it expired or was cancelled); start again</text>
               </error>
             </iq>"
        ))
    );
    assert_eq!(w.stored_row().await, None);
    assert!(w.bridge.logins.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused_naming_the_field() {
    let mut w = world(10).await;
    let refused = w
        .command(
            "w1",
            &format!(
                "<command xmlns='{CMD}' node='register' sessionid='reg-w' action='complete'>{}</command>",
                submit(&[("user", "ferris"), ("password", "guess")])
            ),
        )
        .await;
    let command = refused.get_child("command", CMD).unwrap();
    assert_eq!(command.attr("status"), Some("executing"));
    assert_eq!(
        command.get_child("note", CMD).unwrap().text(),
        "password: wrong password"
    );
    // XEP-0077: the same refusal, as not-acceptable naming the field.
    w.send(&format!(
        "<iq xmlns='jabber:component:accept' type='set' from='{USER}' to='{DOMAIN}' id='w2'>
           <query xmlns='jabber:iq:register'>{}</query>
         </iq>",
        submit(&[("user", "ferris"), ("password", "guess")])
    ))
    .await;
    assert_eq!(
        w.iq_answer("w2").await,
        xml(&format!(
            "<iq xmlns='jabber:component:accept' type='error' from='{DOMAIN}' to='{USER}' id='w2'>
               <error type='modify'>
                 <not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
                 <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>password: wrong password</text>
               </error>
             </iq>"
        ))
    );
    assert_eq!(w.stored_row().await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xep0077_refuses_a_further_step_then_serves_its_form() {
    let mut w = world(10).await;
    w.send(&format!(
        "<iq xmlns='jabber:component:accept' type='set' from='{USER}' to='{DOMAIN}' id='r1'>
           <query xmlns='jabber:iq:register'>{}</query>
         </iq>",
        submit(&[("user", "ferris"), ("password", PASSWORD)])
    ))
    .await;
    assert_eq!(
        w.iq_answer("r1").await,
        xml(&format!(
            "<iq xmlns='jabber:component:accept' type='error' from='{DOMAIN}' to='{USER}' id='r1'>
               <error type='modify'>
                 <not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
                 <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>We sent a code to ferris's phone. Registration needs a further step (code): fetch the registration form again, use the Register command, or send \"register code=…\" to {DOMAIN}.</text>
               </error>
             </iq>"
        ))
    );
    // The form, fetched again, is the step's (XEP-0077 Example 1/2).
    w.send(&format!(
        "<iq xmlns='jabber:component:accept' type='get' from='{USER}' to='{DOMAIN}' id='r2'>
           <query xmlns='jabber:iq:register'/>
         </iq>"
    ))
    .await;
    assert_eq!(
        w.iq_answer("r2").await,
        xml(&format!(
            "<iq xmlns='jabber:component:accept' type='result' from='{DOMAIN}' to='{USER}' id='r2'>
               <query xmlns='jabber:iq:register'>
                 <instructions>We sent a code to ferris's phone.</instructions>
                 <x xmlns='jabber:x:data' type='form'>
                   <title>Test registration</title>
                   <instructions>We sent a code to ferris's phone.</instructions>
                   <field var='FORM_TYPE' type='hidden'><value>jabber:iq:register</value></field>
                   <field var='code' label='Code'><required/></field>
                 </x>
               </query>
             </iq>"
        ))
    );
    // Its answer completes the registration: an empty result (XEP-0077 Example 4).
    w.send(&format!(
        "<iq xmlns='jabber:component:accept' type='set' from='{USER}' to='{DOMAIN}' id='r3'>
           <query xmlns='jabber:iq:register'>{}</query>
         </iq>",
        submit(&[("code", CODE)])
    ))
    .await;
    assert_eq!(
        w.iq_answer("r3").await,
        xml(&format!(
            "<iq xmlns='jabber:component:accept' type='result' from='{DOMAIN}' to='{USER}' id='r3'/>"
        ))
    );
    assert_token_stored_sealed(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_register_asks_the_next_step_and_takes_its_answer() {
    let mut w = world(0).await;
    w.say(&format!("register user=ferris password={PASSWORD}"))
        .await;
    // While the network is slow to answer, the gateway answers other
    // commands, and refuses a second registration.
    w.say("status").await;
    assert!(
        w.chat_reply().await.starts_with("You are not registered"),
        "status answered while the registration waits on the network"
    );
    w.say(&format!("register user=ferris password={PASSWORD}"))
        .await;
    assert_eq!(
        w.chat_reply().await,
        "Registration refused: a registration of yours is already under way; wait for its answer"
    );
    w.bridge.network.add_permits(2);
    assert_eq!(
        w.chat_reply().await,
        "We sent a code to ferris's phone.\n\
         Answer with: register code=…\n  \
         code=Code (required)"
    );
    w.say("register code=000000").await;
    assert_eq!(
        w.chat_reply().await,
        "Registration refused: code: that code is wrong"
    );
    assert_eq!(w.stored_row().await, None);
    // Start over: the code step again, then the right code.
    w.say(&format!("register user=ferris password={PASSWORD}"))
        .await;
    assert!(w.chat_reply().await.starts_with("We sent a code"));
    w.say(&format!("register code={CODE}")).await;
    assert_eq!(
        w.chat_reply().await,
        "You are registered with the Test gateway."
    );
    assert_token_stored_sealed(&w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_session_state_is_sealed_and_handed_back_open() {
    let mut w = world(10).await;
    w.say(&format!("register user=ferris password={PASSWORD}"))
        .await;
    assert!(w.chat_reply().await.starts_with("We sent a code"));
    w.say(&format!("register code={CODE}")).await;
    assert!(w.chat_reply().await.starts_with("You are registered"));

    // The rows: the sync position in clear, the refresh token sealed.
    let state = w.stored_state().await;
    assert_eq!(state["sync"], "s_1");
    assert!(
        state["refresh"].starts_with("sealed:"),
        "{}",
        state["refresh"]
    );
    assert!(!state["refresh"].contains(REFRESH));

    // After a restart (a new gateway on the same database), the session
    // starts from the token and gets the secret state opened.
    let (out_tx, _out_rx) = mpsc::channel(1024);
    let restarted = Gateway::new(
        "matrix",
        DOMAIN.parse().unwrap(),
        Arc::clone(&w.bridge) as Arc<dyn Bridge>,
        w.shared.clone(),
        out_tx,
    );
    w.gateway.stop_sessions().await;
    assert_eq!(restarted.start_sessions().await.unwrap(), 1);
    let logins = w.bridge.logins.lock().unwrap();
    let login = logins.last().unwrap();
    assert_eq!(login.account, "alice@localhost");
    assert_eq!(login.credentials.get("token"), Some(TOKEN));
    assert_eq!(login.credentials.get("password"), None);
    assert_eq!(login.state.get("sync").map(String::as_str), Some("s_1"));
    assert_eq!(
        login.state.get("refresh").map(String::as_str),
        Some(REFRESH)
    );
    let _: BareJid = login.account.parse().unwrap();
}
