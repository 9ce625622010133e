//! A member's permissions in a channel, computed as Discord documents it
//! ("Permission Overwrites" in the permissions topic): the @everyone
//! role's permissions and the member's roles' together; administrator
//! (or owning the guild) allows everything; then the channel's @everyone
//! overwrite, its role overwrites (all denies, then all allows) and the
//! member's own overwrite. Without VIEW_CHANNEL nothing else counts.
//! Used in shared-bot mode, where the bot sees more than the user may.

use serenity::model::Permissions;

/// One permission overwrite of a channel, as kept (32 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overwrite {
    /// The role or member it is for.
    pub id: u64,
    /// For a member (else a role).
    pub member: bool,
    pub allow: u64,
    pub deny: u64,
}

impl Overwrite {
    /// From serenity's model.
    pub fn from_model(o: &serenity::model::channel::PermissionOverwrite) -> Self {
        use serenity::model::channel::PermissionOverwriteType as Kind;
        let (id, member) = match o.kind {
            Kind::Member(user) => (user.get(), true),
            Kind::Role(role) => (role.get(), false),
            _ => (0, false),
        };
        Self {
            id,
            member,
            allow: o.allow.bits(),
            deny: o.deny.bits(),
        }
    }
}

/// What the computation needs of a guild and a member.
#[derive(Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub guild: u64,
    pub owner: u64,
    pub user: u64,
    /// The member's roles (not @everyone).
    pub roles: &'a [u64],
    /// A role's permissions by id (the @everyone role's id is the guild's).
    pub role_permissions: &'a dyn Fn(u64) -> u64,
}

/// The member's permissions in a channel with these overwrites.
pub(crate) fn in_channel(subject: &Subject<'_>, overwrites: &[Overwrite]) -> Permissions {
    let role = subject.role_permissions;
    let mut base = role(subject.guild);
    for r in subject.roles {
        base |= role(*r);
    }
    if subject.user == subject.owner || base & Permissions::ADMINISTRATOR.bits() != 0 {
        return Permissions::all();
    }
    let mut perms = base;
    let apply = |perms: &mut u64, allow: u64, deny: u64| {
        *perms &= !deny;
        *perms |= allow;
    };
    if let Some(everyone) = overwrites
        .iter()
        .find(|o| !o.member && o.id == subject.guild)
    {
        apply(&mut perms, everyone.allow, everyone.deny);
    }
    let (mut allow, mut deny) = (0, 0);
    for o in overwrites
        .iter()
        .filter(|o| !o.member && subject.roles.contains(&o.id))
    {
        allow |= o.allow;
        deny |= o.deny;
    }
    apply(&mut perms, allow, deny);
    if let Some(own) = overwrites.iter().find(|o| o.member && o.id == subject.user) {
        apply(&mut perms, own.allow, own.deny);
    }
    let perms = Permissions::from_bits_truncate(perms);
    if perms.contains(Permissions::VIEW_CHANNEL) {
        perms
    } else {
        Permissions::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUILD: u64 = 2000;
    const MODS: u64 = 2100;
    const GUESTS: u64 = 2200;
    const VIEW: u64 = Permissions::VIEW_CHANNEL.bits();
    const SEND: u64 = Permissions::SEND_MESSAGES.bits();

    fn perms(roles: &[u64], user: u64, overwrites: &[Overwrite]) -> Permissions {
        let role = |id: u64| match id {
            GUILD => VIEW | SEND,
            MODS => Permissions::MANAGE_MESSAGES.bits(),
            GUESTS => 0,
            _ => Permissions::ADMINISTRATOR.bits(),
        };
        let subject = Subject {
            guild: GUILD,
            owner: 1,
            user,
            roles,
            role_permissions: &role,
        };
        in_channel(&subject, overwrites)
    }

    fn role(id: u64, allow: u64, deny: u64) -> Overwrite {
        Overwrite {
            id,
            member: false,
            allow,
            deny,
        }
    }

    #[test]
    fn everyone_and_roles_without_overwrites() {
        let p = perms(&[MODS], 7, &[]);
        assert!(p.contains(Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES));
        assert!(p.contains(Permissions::MANAGE_MESSAGES));
    }

    #[test]
    fn a_role_deny_hides_and_a_member_allow_wins_over_it() {
        let hidden = [role(GUESTS, 0, VIEW)];
        assert!(perms(&[GUESTS], 7, &hidden).is_empty());
        // Another role of the member allowing it wins over the deny (all
        // role allows are applied after all role denies).
        let both = [role(GUESTS, 0, VIEW), role(MODS, VIEW, 0)];
        assert!(perms(&[GUESTS, MODS], 7, &both).contains(Permissions::VIEW_CHANNEL));
        let own = [
            role(GUESTS, 0, VIEW),
            Overwrite {
                id: 7,
                member: true,
                allow: VIEW,
                deny: 0,
            },
        ];
        assert!(perms(&[GUESTS], 7, &own).contains(Permissions::VIEW_CHANNEL));
        // Someone else's member overwrite does nothing for this member.
        assert!(perms(&[GUESTS], 8, &own).is_empty());
    }

    #[test]
    fn everyone_overwrite_then_roles() {
        let private = [role(GUILD, 0, VIEW), role(MODS, VIEW, 0)];
        assert!(perms(&[], 7, &private).is_empty());
        assert!(perms(&[MODS], 7, &private).contains(Permissions::VIEW_CHANNEL));
        let read_only = [role(GUILD, 0, SEND)];
        let p = perms(&[], 7, &read_only);
        assert!(p.contains(Permissions::VIEW_CHANNEL) && !p.contains(Permissions::SEND_MESSAGES));
    }

    #[test]
    fn administrator_and_owner_bypass_overwrites() {
        let private = [role(GUILD, 0, VIEW)];
        assert_eq!(perms(&[9999], 7, &private), Permissions::all());
        assert_eq!(perms(&[], 1, &private), Permissions::all());
    }
}
