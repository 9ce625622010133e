//! Registration as XMPP forms: XEP-0077 (`jabber:iq:register`) and the
//! XEP-0050 `register` command, both able to carry a bridge's further steps.
//!
//! XEP-0050 §3.4 runs further steps as stages of one command session:
//! `status='executing'`, the same `sessionid`, the step's form with
//! `<actions execute='next'><next/><complete/></actions>`, until `completed`;
//! `cancel` drops the step. XEP-0077 has no stages: an iq result to a
//! submission means "registered" (§3.1), so a further step cannot be sent
//! as a result. It is refused with `not-acceptable`, its text naming the way
//! on; the step waits, the next `get` returns its form, and a submission of
//! its fields continues it.

use std::sync::Arc;
use xmpp_parsers::data_forms::{DataForm, DataFormType};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::stanza_error::DefinedCondition;

use super::{RegisterError, StepInput, StepOutcome};
use crate::gateway::Gateway;
use crate::xmpp::adhoc::{self, Command};
use crate::xmpp::forms;

/// An iq reply: a payload, or an error.
type Reply = Result<Option<Element>, (DefinedCondition, String)>;

/// The iq error a refused registration answers with.
fn condition(e: RegisterError) -> (DefinedCondition, String) {
    let condition = match &e {
        RegisterError::Forbidden(_) => DefinedCondition::Forbidden,
        RegisterError::Field(_) => DefinedCondition::NotAcceptable,
        RegisterError::Busy => DefinedCondition::UnexpectedRequest,
        RegisterError::Full => DefinedCondition::ResourceConstraint,
        RegisterError::Expired => DefinedCondition::NotAllowed,
        RegisterError::Timeout => DefinedCondition::RemoteServerTimeout,
        RegisterError::Internal(_) => DefinedCondition::InternalServerError,
    };
    (condition, e.to_string())
}

/// The submitted field names of a form, without its `FORM_TYPE`.
fn form_vars(form: &DataForm) -> Vec<&str> {
    form.fields
        .iter()
        .filter_map(|f| f.var.as_deref())
        .filter(|v| *v != "FORM_TYPE")
        .collect()
}

impl Gateway {
    fn registration_title(&self) -> String {
        format!("{} registration", self.bridge.info().display_name)
    }

    /// XEP-0077 §3.1: the registration form, with `<registered/>` when
    /// registered; the form of the step that waits for the user, if one does.
    pub(in crate::gateway) async fn register_form(&self, from: &Jid) -> Reply {
        if !self.may_register(from) {
            return Err((
                DefinedCondition::Forbidden,
                "your domain may not register here".into(),
            ));
        }
        let current = self.registered(&from.to_bare()).await;
        let info = self.bridge.info();
        let (instructions, form) = match self.waiting_step(from) {
            Some((_, instructions, fields)) => {
                let form = forms::login_form(
                    &self.registration_title(),
                    &instructions,
                    &fields,
                    None,
                    None,
                );
                (instructions, form)
            }
            None => (
                info.instructions.to_owned(),
                forms::login_form(
                    &self.registration_title(),
                    info.instructions,
                    &info.fields,
                    current.as_ref(),
                    None,
                ),
            ),
        };
        let mut query = Element::builder("query", ns::REGISTER)
            .append(Element::builder("instructions", ns::REGISTER).append(instructions));
        if current.is_some() {
            query = query.append(Element::builder("registered", ns::REGISTER));
        }
        Ok(Some(query.append(Element::from(form)).build()))
    }

    /// XEP-0077 §3.1 submit (form or plain fields) and §3.2 `<remove/>`.
    pub(in crate::gateway) async fn register_submit(
        self: &Arc<Self>,
        from: &Jid,
        payload: &Element,
    ) -> Reply {
        if payload.get_child("remove", ns::REGISTER).is_some() {
            return match self.unregister(&from.to_bare()).await {
                Ok(true) => Ok(None),
                Ok(false) => Err((
                    DefinedCondition::RegistrationRequired,
                    "not registered".into(),
                )),
                Err(e) => Err((DefinedCondition::InternalServerError, e.to_string())),
            };
        }
        let form = match payload.get_child("x", ns::DATA_FORMS) {
            Some(x) => match DataForm::try_from(x.clone()) {
                Ok(form) => Some(form),
                Err(e) => return Err((DefinedCondition::BadRequest, format!("bad form: {e}"))),
            },
            None => None,
        };
        let names: Vec<&str> = match &form {
            Some(form) => form_vars(form),
            None => payload.children().map(|c| c.name()).collect(),
        };
        let waiting = self
            .answers_waiting_step(from, &names)
            .then(|| self.waiting_step(from))
            .flatten();
        let fields = match &waiting {
            Some((_, _, fields)) => fields.clone(),
            None => self.bridge.info().fields.clone(),
        };
        let answers = match &form {
            Some(form) => forms::read_submission(form, &fields),
            // Clients without forms send the fields as elements (<nick/>, <password/>).
            None => payload
                .children()
                .filter(|c| fields.iter().any(|f| f.name == c.name()))
                .map(|c| (c.name().to_owned(), c.text()))
                .collect(),
        };
        let input = match waiting {
            Some(_) => StepInput::Next {
                answers,
                session: None,
            },
            None => StepInput::First(answers),
        };
        match self.registration_step(from, input, None).await {
            Ok(StepOutcome::Registered) => Ok(None),
            Ok(StepOutcome::NextStep {
                instructions,
                fields,
                ..
            }) => {
                let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                Err((
                    DefinedCondition::NotAcceptable,
                    format!(
                        "{instructions} Registration needs a further step ({}): fetch the registration form again, use the Register command, or send \"register {}=…\" to {}.",
                        names.join(", "),
                        names.join("=… "),
                        self.domain
                    ),
                ))
            }
            Err(e) => Err(condition(e)),
        }
    }

    /// The XEP-0050 `register` command, one stage at a time.
    pub(in crate::gateway) async fn register_command(
        self: &Arc<Self>,
        from: &Jid,
        cmd: Command,
    ) -> Result<Command, (DefinedCondition, String)> {
        if !self.may_register(from) {
            return Err((
                DefinedCondition::Forbidden,
                "your domain may not register here".into(),
            ));
        }
        if cmd.action.as_deref() == Some("cancel") {
            self.cancel_registration(from, cmd.sessionid.as_deref());
            return Ok(cmd.response("canceled"));
        }
        let info = self.bridge.info();
        let title = self.registration_title();
        let Some(submitted) = cmd
            .form
            .as_ref()
            .filter(|f| f.type_ == DataFormType::Submit)
        else {
            let current = self.registered(&from.to_bare()).await;
            let form = forms::login_form(
                &title,
                info.instructions,
                &info.fields,
                current.as_ref(),
                None,
            );
            return Ok(cmd.ask(form));
        };
        // A stage of a step that waits in this session, or the login form.
        let waiting = self
            .waiting_step(from)
            .filter(|(session, _, _)| cmd.sessionid.as_deref() == Some(session.as_str()));
        let input = match &waiting {
            Some((_, _, fields)) => StepInput::Next {
                answers: forms::read_submission(submitted, fields),
                session: cmd.sessionid.clone(),
            },
            // Answers of a later stage whose step is gone (XEP-0050 §4.6).
            None if cmd.sessionid.is_some()
                && !form_vars(submitted).is_empty()
                && !form_vars(submitted)
                    .iter()
                    .any(|v| info.fields.iter().any(|f| f.name == *v)) =>
            {
                return Err(condition(RegisterError::Expired));
            }
            None => StepInput::First(forms::read_submission(submitted, &info.fields)),
        };
        let typed = match &input {
            StepInput::First(c) => Some(c.clone()),
            StepInput::Next { .. } => None,
        };
        match self
            .registration_step(from, input, cmd.sessionid.clone())
            .await
        {
            Ok(StepOutcome::Registered) => Ok(cmd.done(
                "info",
                format!("You are registered with the {} gateway.", info.display_name),
            )),
            Ok(StepOutcome::NextStep {
                session,
                instructions,
                fields,
            }) => {
                let form = forms::login_form(&title, &instructions, &fields, None, None);
                let mut stage = cmd.ask_next(form);
                stage.sessionid = Some(session);
                Ok(stage)
            }
            Err(RegisterError::Field(e)) => {
                // The step still waits (a required answer was missing): its
                // form again; else the exchange is over: the login form again.
                let error = Some((e.field.as_str(), e.reason.as_str()));
                let still = waiting
                    .as_ref()
                    .and_then(|(w, _, _)| self.waiting_step(from).filter(|(s, _, _)| s == w));
                let mut again = match still {
                    Some((_, instructions, fields)) => cmd.ask_next(forms::login_form(
                        &title,
                        &instructions,
                        &fields,
                        None,
                        error,
                    )),
                    None => cmd.ask(forms::login_form(
                        &title,
                        info.instructions,
                        &info.fields,
                        typed.as_ref(),
                        error,
                    )),
                };
                again.notes.push(adhoc::Note::new("error", e.to_string()));
                Ok(again)
            }
            Err(e) => Err(condition(e)),
        }
    }
}
