//! A bridge's login form as an XEP-0004 data form, and back.

use switchboard_bridge_api::{Credentials, FieldKind, LoginField};
use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType, Option_};

/// The `FORM_TYPE` of registration forms (XEP-0077 §5 / XEP-0068).
pub const REGISTER_FORM_TYPE: &str = "jabber:iq:register";

/// Renders the login form. `current` pre-fills values (passwords are never
/// sent back); `error` marks one field with a reason in its description.
pub fn login_form(
    title: &str,
    instructions: &str,
    fields: &[LoginField],
    current: Option<&Credentials>,
    error: Option<(&str, &str)>,
) -> DataForm {
    let mut form = DataForm::new(
        DataFormType::Form,
        REGISTER_FORM_TYPE,
        fields
            .iter()
            .map(|f| {
                let type_ = match &f.kind {
                    FieldKind::Text => FieldType::TextSingle,
                    FieldKind::Password => FieldType::TextPrivate,
                    FieldKind::Boolean => FieldType::Boolean,
                    FieldKind::Choice(_) => FieldType::ListSingle,
                };
                let mut field = Field::new(f.name, type_);
                field.label = Some(f.label.to_owned());
                field.required = f.required;
                field.desc = match error {
                    Some((name, reason)) if name == f.name => Some(format!("Error: {reason}")),
                    _ if f.description.is_empty() => None,
                    _ => Some(f.description.to_owned()),
                };
                if let FieldKind::Choice(options) = &f.kind {
                    field.options = options
                        .iter()
                        .map(|o| Option_ {
                            label: None,
                            value: (*o).to_owned(),
                        })
                        .collect();
                }
                let value = match (&f.kind, current.and_then(|c| c.get(f.name))) {
                    (FieldKind::Password, _) => None,
                    (_, Some(v)) => Some(v.to_owned()),
                    (_, None) => f.default.map(str::to_owned),
                };
                field.values.extend(value);
                field
            })
            .collect(),
    );
    form.title = Some(title.to_owned());
    form.instructions = Some(instructions.to_owned());
    form
}

/// Reads a submitted form into credentials: only the bridge's own fields,
/// first value each.
pub fn read_submission(form: &DataForm, fields: &[LoginField]) -> Credentials {
    form.fields
        .iter()
        .filter_map(|f| {
            let var = f.var.as_deref()?;
            let known = fields.iter().find(|l| l.name == var)?;
            let value = f.values.first().cloned().unwrap_or_default();
            let value = match known.kind {
                FieldKind::Boolean if value == "1" => "true".to_owned(),
                FieldKind::Boolean if value == "0" => "false".to_owned(),
                _ => value,
            };
            Some((var.to_owned(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<LoginField> {
        vec![
            LoginField {
                name: "nick",
                label: "Nickname",
                description: "",
                kind: FieldKind::Text,
                required: true,
                default: None,
            },
            LoginField {
                name: "password",
                label: "Password",
                description: "",
                kind: FieldKind::Password,
                required: false,
                default: None,
            },
        ]
    }

    #[test]
    fn passwords_are_never_sent_back() {
        let mut current = Credentials::new();
        current.set("nick", "ferris");
        current.set("password", "hunter2");
        let form = login_form("t", "i", &fields(), Some(&current), None);
        let xml = String::from(&xmpp_parsers::minidom::Element::from(form));
        assert!(xml.contains("ferris"));
        assert!(!xml.contains("hunter2"));
    }

    #[test]
    fn error_is_shown_on_its_field() {
        let form = login_form(
            "t",
            "i",
            &fields(),
            None,
            Some(("nick", "this field is required")),
        );
        let nick = form
            .fields
            .iter()
            .find(|f| f.var.as_deref() == Some("nick"))
            .unwrap();
        assert_eq!(nick.desc.as_deref(), Some("Error: this field is required"));
    }

    #[test]
    fn submission_keeps_only_known_fields() {
        let mut form = login_form("t", "i", &fields(), None, None);
        form.type_ = DataFormType::Submit;
        for f in &mut form.fields {
            f.values = vec!["x".into()];
        }
        form.fields.push(Field::text_single("evil", "y"));
        let c = read_submission(&form, &fields());
        assert_eq!(c.get("nick"), Some("x"));
        assert_eq!(c.get("evil"), None);
    }
}
