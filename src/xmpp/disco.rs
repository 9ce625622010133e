//! XEP-0030 service discovery and XEP-0115 caps for a component domain.

use std::collections::BTreeSet;
use switchboard_bridge_api::BridgeInfo;
use xmpp_parsers::caps::{compute_disco, hash_caps, Caps};
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::hashes::Algo;
use xmpp_parsers::ns;

/// The caps node Switchboard advertises.
pub const CAPS_NODE: &str = "https://switchboard.invalid/caps";

/// The features every component domain offers, one per handler.
pub const DOMAIN_FEATURES: &[&str] = &[
    ns::DISCO_INFO,
    ns::DISCO_ITEMS,
    ns::PING,
    ns::VERSION,
    ns::REGISTER,
    crate::xmpp::adhoc::NS,
];

/// XEP-0163 filtered notifications of the users' XEP-0084 avatars, asked
/// where the network shows the user's own picture (`gateway/avatars/own.rs`).
pub const AVATAR_NOTIFY: &str = "urn:xmpp:avatar:metadata+notify";

/// XEP-0100's address translation (a person's id → their JID), offered
/// where the network has direct messages.
pub const GATEWAY: &str = "jabber:iq:gateway";

/// disco#info of a component domain: `gateway/<network>` and
/// `conference/text`; the message features the network's capabilities
/// allow (`rich.rs`) besides the handlers', and its reaction limits
/// (`reactions.rs`).
pub fn domain_info(info: &BridgeInfo) -> DiscoInfoResult {
    let (network, display_name) = (info.name, info.display_name);
    DiscoInfoResult {
        node: None,
        identities: vec![
            Identity::new("gateway", network, "en", format!("{display_name} gateway")),
            Identity::new("conference", "text", "en", format!("{display_name} rooms")),
        ],
        features: DOMAIN_FEATURES
            .iter()
            .copied()
            .chain(info.capabilities.direct_messages.then_some(GATEWAY))
            .chain(info.capabilities.own_avatar.then_some(AVATAR_NOTIFY))
            .chain(super::rich::features(&info.capabilities))
            .map(str::to_owned)
            .collect::<BTreeSet<_>>(),
        // XEP-0444: the network's limits on reactions, if any.
        extensions: super::reactions::restrictions_form(&info.capabilities)
            .into_iter()
            .collect(),
    }
}

/// The XEP-0115 `<c/>` for a disco#info result.
pub fn caps_for(info: &DiscoInfoResult) -> Caps {
    let hash = hash_caps(&compute_disco(info), Algo::Sha_1).expect("SHA-1 is supported");
    Caps::new(CAPS_NODE, hash)
}

/// Whether `node` is the caps node with this domain's hash (`node#ver`),
/// which XEP-0115 §6.2 says answers with the same info as the domain.
pub fn is_caps_node(node: &str, info: &BridgeInfo) -> bool {
    use base64::Engine as _;
    let caps = caps_for(&domain_info(info));
    let ver = base64::engine::general_purpose::STANDARD.encode(&caps.ver);
    node.strip_prefix(CAPS_NODE)
        .and_then(|rest| rest.strip_prefix('#'))
        .is_some_and(|v| v == ver)
}

/// disco#info of the XEP-0050 command list node.
pub fn command_list_info() -> DiscoInfoResult {
    DiscoInfoResult {
        node: Some(crate::xmpp::adhoc::NS.to_owned()),
        identities: vec![Identity::new(
            "automation",
            "command-list",
            "en",
            "Commands",
        )],
        features: BTreeSet::new(),
        extensions: Vec::new(),
    }
}
