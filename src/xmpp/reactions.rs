//! XEP-0444 restricted reactions: the XEP-0128 form a room, contact or
//! component lists in its disco#info where the network limits each
//! person's reactions (how many, which), and the check of a client's
//! reactions against those limits before they reach the network.
//!
//! ```xml
//! <x xmlns='jabber:x:data' type='result'>
//!   <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:reactions:0:restrictions</value></field>
//!   <field var='max_reactions_per_user' type='text-single'><value>1</value></field>
//!   <field var='allowlist' type='list-multi'><value>👍</value><value>❤️</value></field>
//! </x>
//! ```

use switchboard_bridge_api::{Capabilities, ReactionLimits};
use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType};

/// The form's `FORM_TYPE`.
pub const RESTRICTIONS: &str = "urn:xmpp:reactions:0:restrictions";

/// The restrictions form, where the network has reactions and limits
/// them; `None` where it has none or does not limit them.
pub fn restrictions_form(caps: &Capabilities) -> Option<DataForm> {
    let limits = caps.reaction_limits;
    if !caps.reactions || !limits.any() {
        return None;
    }
    let mut fields = Vec::new();
    if let Some(max) = limits.per_user {
        fields.push(Field::text_single(
            "max_reactions_per_user",
            &max.to_string(),
        ));
    }
    if let Some(allowed) = limits.allowlist {
        let mut list = Field::new("allowlist", FieldType::ListMulti);
        list.values = allowed.iter().map(|&e| e.to_owned()).collect();
        fields.push(list);
    }
    Some(DataForm::new(DataFormType::Result_, RESTRICTIONS, fields))
}

/// Why a person's whole set of reactions is beyond the network's limits
/// (a text for the error), or `None` when it is within them.
pub fn beyond_limits(limits: &ReactionLimits, reactions: &[String]) -> Option<String> {
    if let Some(max) = limits.per_user {
        if reactions.len() > max as usize {
            let plural = if max == 1 { "" } else { "s" };
            return Some(format!("at most {max} reaction{plural} per message"));
        }
    }
    if let Some(allowed) = limits.allowlist {
        if let Some(other) = reactions.iter().find(|r| !allowed.contains(&r.as_str())) {
            return Some(format!(
                "{other} is not a reaction here; these are: {}",
                allowed.join(" ")
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEARTS: &[&str] = &["💘", "❤️"];

    fn caps(per_user: Option<u32>, allowlist: Option<&'static [&'static str]>) -> Capabilities {
        Capabilities {
            reactions: true,
            reaction_limits: ReactionLimits {
                per_user,
                allowlist,
            },
            ..Capabilities::default()
        }
    }

    #[test]
    fn no_form_without_limits_or_without_reactions() {
        assert!(restrictions_form(&caps(None, None)).is_none());
        let off = Capabilities {
            reactions: false,
            ..caps(Some(1), None)
        };
        assert!(restrictions_form(&off).is_none());
    }

    #[test]
    fn the_form_says_the_limits() {
        let form = restrictions_form(&caps(Some(1), Some(HEARTS))).unwrap();
        assert_eq!(form.form_type(), Some(RESTRICTIONS));
        let field = |var: &str| {
            form.fields
                .iter()
                .find(|f| f.var.as_deref() == Some(var))
                .map(|f| f.values.clone())
        };
        assert_eq!(field("max_reactions_per_user"), Some(vec!["1".to_owned()]));
        assert_eq!(field("allowlist"), Some(vec!["💘".into(), "❤️".into()]));
        let only_max = restrictions_form(&caps(Some(20), None)).unwrap();
        assert!(only_max
            .fields
            .iter()
            .all(|f| f.var.as_deref() != Some("allowlist")));
    }

    #[test]
    fn reactions_beyond_the_limits_are_named() {
        let limits = caps(Some(1), Some(HEARTS)).reaction_limits;
        assert_eq!(beyond_limits(&limits, &["💘".into()]), None);
        assert_eq!(beyond_limits(&limits, &[]), None);
        let two = beyond_limits(&limits, &["💘".into(), "❤️".into()]).unwrap();
        assert!(two.contains("at most 1 reaction "), "{two}");
        let other = beyond_limits(&limits, &["👍".into()]).unwrap();
        assert!(other.starts_with("👍 is not"), "{other}");
        assert_eq!(
            beyond_limits(
                &ReactionLimits::default(),
                &std::iter::repeat_n("👍".to_owned(), 30).collect::<Vec<_>>()
            ),
            None
        );
    }
}
