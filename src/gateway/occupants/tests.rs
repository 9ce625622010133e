use super::*;

fn member(nick: &str, user: &str, role: Role) -> Member {
    Member {
        user: UserId(user.into()),
        nick: nick.into(),
        role,
        away: None,
    }
}

/// A key as the gateway makes them: from the user id (any stable function will do here).
fn key_of(user: &str) -> OccupantKey {
    OccupantKey::from_bits(hash(user).wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

fn add(o: &mut Occupants, m: &Member) -> Inserted {
    o.insert(m, || key_of(m.user.as_str()), Own::default())
}

fn nicks(o: &Occupants) -> Vec<String> {
    let mut n: Vec<String> = o.iter().map(|m| m.nick().to_owned()).collect();
    n.sort();
    n
}

#[test]
fn an_entry_stays_small() {
    assert_eq!(std::mem::size_of::<Occupant>(), 16);
}

#[test]
fn members_are_found_by_id_and_by_nick_with_their_role() {
    let mut o = Occupants::default();
    add(
        &mut o,
        &member("ferris", "ferris%irc.example.net", Role::Operator),
    );
    add(&mut o, &member("corro", "u-42", Role::Member));
    let f = o.get("ferris").unwrap();
    assert_eq!(f.nick(), "ferris");
    assert_eq!(f.user().as_str(), "ferris%irc.example.net");
    assert_eq!(f.role(), Role::Operator);
    assert!(!f.away());
    assert_eq!(f.key(), key_of("ferris%irc.example.net"));
    assert_eq!(o.get_user(&UserId::from("u-42")).unwrap().nick(), "corro");
    assert!(o.get("ferri").is_none());
    assert_eq!(o.len(), 2);
}

#[test]
fn every_role_and_the_away_bit_survive_the_packing() {
    let mut o = Occupants::default();
    for role in [
        Role::Visitor,
        Role::Member,
        Role::Voiced,
        Role::Operator,
        Role::Owner,
    ] {
        let mut m = member("r", "packed", role);
        m.away = Some(String::new());
        add(&mut o, &m);
        let got = o.get("r").unwrap();
        assert_eq!((got.role(), got.away()), (role, true));
        assert_eq!(got.key(), key_of("packed"));
    }
}

#[test]
fn two_alex_with_different_ids_are_two_occupants_with_stable_nicks() {
    let a = member("Alex", "@alex:one.example", Role::Member);
    let b = member("Alex", "@alex:two.example", Role::Member);
    let mut o = Occupants::default();
    assert_eq!(add(&mut o, &a), Inserted::Here);
    assert_eq!(add(&mut o, &b), Inserted::Here);
    assert_eq!(o.len(), 2);
    let second = format!("Alex ({})", key_of("@alex:two.example").hex(4));
    assert_eq!(nicks(&o), ["Alex".to_owned(), second.clone()]);
    assert_eq!(o.get(&second).unwrap().user().as_str(), "@alex:two.example");
    assert_eq!(o.get("Alex").unwrap().user().as_str(), "@alex:one.example");
    // Seen again (a member update): no new entry, the same nick.
    assert_eq!(add(&mut o, &b), Inserted::Here);
    assert_eq!(o.len(), 2);
    assert_eq!(o.get_user(&b.user).unwrap().nick(), second);
    // After a restart, in the same order: the same nicks.
    let mut again = Occupants::default();
    add(&mut again, &a);
    add(&mut again, &b);
    assert_eq!(nicks(&again), nicks(&o));
    // The other way round: the suffix is the other's own, never a counter.
    let mut flipped = Occupants::default();
    add(&mut flipped, &b);
    add(&mut flipped, &a);
    let first = format!("Alex ({})", key_of("@alex:one.example").hex(4));
    assert_eq!(flipped.get_user(&a.user).unwrap().nick(), first);
    assert_eq!(flipped.get_user(&b.user).unwrap().nick(), "Alex");
}

#[test]
fn a_suffixed_nick_stays_when_the_first_alex_leaves() {
    let mut o = Occupants::default();
    add(&mut o, &member("Alex", "u-1", Role::Member));
    add(&mut o, &member("Alex", "u-2", Role::Member));
    let second = format!("Alex ({})", key_of("u-2").hex(4));
    o.remove(&UserId::from("u-1"));
    // An update (away, role) is no rename: the nick the room knows stays.
    let mut away = member("Alex", "u-2", Role::Voiced);
    away.away = Some("lunch".into());
    assert_eq!(add(&mut o, &away), Inserted::Here);
    let a = o.get_user(&UserId::from("u-2")).unwrap();
    assert_eq!(
        (a.nick(), a.role(), a.away()),
        (second.as_str(), Role::Voiced, true)
    );
}

#[test]
fn a_name_that_clashes_with_a_suffixed_nick_gets_a_longer_suffix() {
    let mut o = Occupants::default();
    add(&mut o, &member("Alex", "u-1", Role::Member));
    add(&mut o, &member("Alex", "u-2", Role::Member));
    let taken = format!("Alex ({})", key_of("u-2").hex(4));
    // Someone whose network name is exactly that nick.
    add(&mut o, &member(&taken, "u-3", Role::Member));
    let third = o.get_user(&UserId::from("u-3")).unwrap().nick().to_owned();
    assert_eq!(third, format!("{taken} ({})", key_of("u-3").hex(4)));
    assert_eq!(o.len(), 3);
}

#[test]
fn the_users_own_nick_is_never_suffixed() {
    let me = UserId::from("@me:hs");
    let own = Own {
        user: Some(&me),
        nick: Some("Alex"),
    };
    let mut o = Occupants::default();
    // Another Alex first: suffixed although the name is free.
    o.insert(
        &member("Alex", "@other:hs", Role::Member),
        || key_of("@other:hs"),
        own,
    );
    let other = format!("Alex ({})", key_of("@other:hs").hex(4));
    assert_eq!(
        o.get_user(&UserId::from("@other:hs")).unwrap().nick(),
        other
    );
    o.insert(
        &member("Alex", "@me:hs", Role::Member),
        || key_of("@me:hs"),
        own,
    );
    assert_eq!(o.get("Alex").unwrap().user(), me);

    // The user renames to a name another member holds: the other moves aside first.
    o.insert(
        &member("Sam", "@sam:hs", Role::Voiced),
        || key_of("@sam:hs"),
        own,
    );
    let own = Own {
        user: Some(&me),
        nick: Some("Sam"),
    };
    let changes = o.rename(&me, None, "Sam", own);
    let sam = format!("Sam ({})", key_of("@sam:hs").hex(4));
    assert_eq!(
        changes,
        [
            NickChange {
                old: "Sam".into(),
                new: sam.clone(),
                role: Role::Voiced,
                key: key_of("@sam:hs"),
            },
            NickChange {
                old: "Alex".into(),
                new: "Sam".into(),
                role: Role::Member,
                key: key_of("@me:hs"),
            }
        ]
    );
    assert_eq!(o.get("Sam").unwrap().user(), me);
    assert_eq!(o.get(&sam).unwrap().user().as_str(), "@sam:hs");
}

#[test]
fn a_rename_by_id_keeps_the_entry_and_its_key() {
    let mut o = Occupants::default();
    add(&mut o, &member("Alex", "@alex:hs", Role::Operator));
    let key = o.get("Alex").unwrap().key();
    let changes = o.rename(&UserId::from("@alex:hs"), None, "Alexandra", Own::default());
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].old.as_str(), changes[0].new.as_str()),
        ("Alex", "Alexandra")
    );
    assert_eq!(o.len(), 1);
    let a = o.get_user(&UserId::from("@alex:hs")).unwrap();
    assert_eq!(
        (a.nick(), a.role(), a.key()),
        ("Alexandra", Role::Operator, key)
    );
    assert!(o.get("Alex").is_none());
}

#[test]
fn an_irc_rename_carries_the_new_id_and_keeps_the_key() {
    let mut o = Occupants::default();
    add(&mut o, &member("ferris", "ferris%irc", Role::Operator));
    let key = key_of("ferris%irc");
    let old = UserId::from("ferris%irc");
    let new = UserId::from("crab%irc");
    let changes = o.rename(&old, Some(&new), "crab", Own::default());
    assert_eq!(changes[0].key, key);
    assert!(o.get_user(&old).is_none());
    let c = o.get_user(&new).unwrap();
    assert_eq!((c.nick(), c.role(), c.key()), ("crab", Role::Operator, key));
    // A later update of the new id keeps the key it was first seen with.
    add(&mut o, &member("crab", "crab%irc", Role::Voiced));
    assert_eq!(o.get("crab").unwrap().key(), key);
    assert_eq!(
        o.rename(&UserId::from("nobody"), None, "x", Own::default()),
        []
    );
    assert_eq!(o.remove(&new), Some(("crab".into(), Role::Voiced, key)));
    assert_eq!(o.remove(&new), None);
    assert_eq!(o.len(), 0);
}

#[test]
fn a_member_update_under_a_new_name_is_a_rename() {
    let mut o = Occupants::default();
    add(&mut o, &member("Alex", "u-1", Role::Member));
    let got = add(&mut o, &member("Lex", "u-1", Role::Voiced));
    let Inserted::Renamed(changes) = got else {
        panic!("{got:?}")
    };
    assert_eq!(
        (changes[0].old.as_str(), changes[0].new.as_str()),
        ("Alex", "Lex")
    );
    assert_eq!(o.get("Lex").unwrap().role(), Role::Voiced);
    assert_eq!(o.len(), 1);
}

#[test]
fn removing_keeps_the_indexes_right_for_the_member_moved_into_the_gap() {
    let mut o = Occupants::default();
    for n in 0..10 {
        add(
            &mut o,
            &member(&format!("n{n}"), &format!("u{n}"), Role::Member),
        );
    }
    o.remove(&UserId::from("u0"));
    o.remove(&UserId::from("u5"));
    for n in [1, 2, 3, 4, 6, 7, 8, 9] {
        let m = o.get(&format!("n{n}")).unwrap();
        assert_eq!(m.user().as_str(), format!("u{n}"));
        assert_eq!(o.get_user(&m.user()).unwrap().nick(), format!("n{n}"));
    }
    assert!(o.get("n0").is_none() && o.get_user(&UserId::from("u5")).is_none());
}

#[test]
fn sessions_in_one_room_share_member_texts_until_the_last_lets_go() {
    let text = "sharedsharedone%irc.example.net";
    let held = || {
        TEXTS
            .lock()
            .unwrap()
            .get(text)
            .map(|t| Arc::strong_count(&t.0))
    };
    let mut a = Occupants::default();
    let mut b = Occupants::default();
    add(
        &mut a,
        &member("sharedshared", "one%irc.example.net", Role::Member),
    );
    add(
        &mut b,
        &member("sharedshared", "one%irc.example.net", Role::Voiced),
    );
    assert_eq!(held(), Some(3), "one text for both rooms and the table");
    assert_eq!(b.get("sharedshared").unwrap().role(), Role::Voiced);
    // Seen again in the same room: the entry is updated in place.
    add(
        &mut b,
        &member("sharedshared", "one%irc.example.net", Role::Operator),
    );
    assert_eq!(held(), Some(3));
    a.remove(&UserId::from("one%irc.example.net"));
    assert_eq!(held(), Some(2));
    drop(b);
    assert_eq!(held(), None, "the last room let go: the text is gone");
}

#[test]
fn a_renamed_member_lets_go_of_the_old_text() {
    let mut a = Occupants::default();
    add(&mut a, &member("renamedold", "u-renamed", Role::Member));
    a.rename(
        &UserId::from("u-renamed"),
        None,
        "renamednew",
        Own::default(),
    );
    let texts = TEXTS.lock().unwrap();
    assert!(texts.get("renamedoldu-renamed").is_none());
    assert!(texts.get("renamednewu-renamed").is_some());
}

#[test]
fn an_emptied_room_gives_its_tables_back() {
    let mut o = Occupants::default();
    for n in 0..1000 {
        add(
            &mut o,
            &member(&format!("n{n}"), &format!("u{n}"), Role::Member),
        );
    }
    let full = (o.all.capacity(), o.by_user.capacity(), o.by_nick.capacity());
    for n in 0..990 {
        o.remove(&UserId::from(format!("u{n}")));
    }
    assert!(
        o.all.capacity() < full.0 / 4,
        "capacity {}",
        o.all.capacity()
    );
    assert!(o.by_user.capacity() < full.1 / 4);
    assert!(o.by_nick.capacity() < full.2 / 4);
    assert_eq!(o.len(), 10);
    assert_eq!(o.get("n995").unwrap().user().as_str(), "u995");
}

#[test]
fn a_very_long_name_is_cut_at_a_character() {
    let mut o = Occupants::default();
    let long = "é".repeat(3000);
    add(&mut o, &member(&long, "long", Role::Member));
    let nick = o.get_user(&UserId::from("long")).unwrap().nick().to_owned();
    assert!(nick.len() <= MAX_NICK && long.starts_with(&nick));
}

#[test]
fn a_room_past_65536_members_keeps_finding_everyone() {
    // The indexes hold two-byte positions up to 65,536 members, four after.
    let mut o = Occupants::default();
    let n = 70_000;
    for i in 0..n {
        add(
            &mut o,
            &member(&format!("n{i}"), &format!("u{i}"), Role::Member),
        );
    }
    assert_eq!(o.len(), n);
    for i in [0, 1, 65_535, 65_536, 65_537, n - 1] {
        assert_eq!(
            o.get(&format!("n{i}")).unwrap().user().as_str(),
            format!("u{i}")
        );
        assert_eq!(
            o.get_user(&UserId(format!("u{i}"))).unwrap().nick(),
            format!("n{i}")
        );
    }
    // The last member moves into a leaver's place, and is still found.
    assert!(o.remove(&UserId("u3".into())).is_some());
    assert!(o.get("n3").is_none());
    assert_eq!(
        o.get(&format!("n{}", n - 1)).unwrap().user().as_str(),
        format!("u{}", n - 1)
    );
    // Back under the narrow size, a rename still finds its member.
    for i in 10..n {
        o.remove(&UserId(format!("u{i}")));
    }
    o.shrink();
    assert_eq!(
        nicks(&o),
        ["n0", "n1", "n2", "n4", "n5", "n6", "n7", "n8", "n9"]
    );
    assert!(
        o.rename(&UserId("u5".into()), None, "five", Own::default())
            .len()
            == 1
    );
    assert_eq!(o.get("five").unwrap().user().as_str(), "u5");
}
