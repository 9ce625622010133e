//! The login form a bridge asks its users to fill in.

use crate::Credentials;

/// One field of a bridge's login form; the core renders it as an XEP-0004 field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginField {
    /// Machine name (form `var`).
    pub name: &'static str,
    /// Label shown to the user.
    pub label: &'static str,
    /// Longer help text.
    pub description: &'static str,
    /// Kind of input.
    pub kind: FieldKind,
    /// Whether the form is refused without it.
    pub required: bool,
    /// Pre-filled value.
    pub default: Option<&'static str>,
}

/// The kind of a login field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// One line of text.
    Text,
    /// A secret: shown masked, stored encrypted, never logged.
    Password,
    /// Yes or no.
    Boolean,
    /// One of the given options.
    Choice(Vec<&'static str>),
}

/// A field's value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The field at fault.
    pub field: String,
    /// Why, in words for the user.
    pub reason: String,
}

impl FieldError {
    /// A refusal of `field` for `reason`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The default check of a form: every required field is filled, booleans
/// and choices hold one of their values. Bridges may use it on the forms of
/// their further registration steps.
pub fn check_required(fields: &[LoginField], credentials: &Credentials) -> Result<(), FieldError> {
    for field in fields {
        let value = credentials.get(field.name);
        match (value, field.required) {
            (None, true) => return Err(FieldError::new(field.name, "this field is required")),
            (None, false) => continue,
            (Some(v), _) => match &field.kind {
                FieldKind::Boolean if !matches!(v, "0" | "1" | "true" | "false") => {
                    return Err(FieldError::new(field.name, "must be true or false"))
                }
                FieldKind::Choice(options) if !options.contains(&v) => {
                    return Err(FieldError::new(
                        field.name,
                        format!("must be one of: {}", options.join(", ")),
                    ))
                }
                _ => {}
            },
        }
    }
    Ok(())
}
