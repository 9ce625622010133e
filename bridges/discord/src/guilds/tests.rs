//! The guild tables' tests: overwrites kept, channel texts, guild order,
//! one channel table for sessions in the same guild.

use super::*;
use serenity::model::id::ChannelId;
use switchboard_discord_double::fixture;

/// The limited bot's guild, with a member overwrite for alice in
/// `#random` besides the bot's.
fn guilds(shared: bool) -> Guilds {
    let mut json = fixture::bot_limited_guild();
    for channel in json["channels"].as_array_mut().unwrap() {
        if channel["id"] == fixture::RANDOM_ID {
            let alice = serde_json::json!({ "id": fixture::ALICE_ID, "type": 1, "allow": "0", "deny": "1024" });
            channel["permission_overwrites"]
                .as_array_mut()
                .unwrap()
                .push(alice);
        }
    }
    let guild: Guild = serde_json::from_value(json).unwrap();
    let mut guilds = Guilds::new(shared);
    guilds.own = Some(fixture::BOT_ID.parse().unwrap());
    guilds.create(&guild);
    guilds
}

#[test]
fn the_own_bot_keeps_only_its_own_member_overwrites() {
    let random: u64 = fixture::RANDOM_ID.parse().unwrap();
    let own = guilds(false);
    let kept = own.overwrites(random);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id.to_string(), fixture::BOT_ID);
    let p = own.own_permissions(random).unwrap();
    assert!(p.contains(Permissions::VIEW_CHANNEL));
    assert!(!p.intersects(Permissions::MANAGE_MESSAGES | Permissions::MANAGE_WEBHOOKS));
    // Shared-bot mode keeps alice's: a linked alice may not see it.
    let shared = guilds(true);
    assert_eq!(shared.overwrites(random).len(), 2);
    let alice = fixture::ALICE_ID.parse().unwrap();
    let mods = fixture::MODS_ROLE_ID.parse().unwrap();
    assert!(shared.permissions(random, alice, &[mods]).is_empty());
}

#[test]
fn channel_texts_follow_updates_and_do_not_grow_for_ever() {
    let guild: Guild = serde_json::from_value(fixture::large_guild(50, 0, 100)).unwrap();
    let mut guilds = Guilds::new(false);
    guilds.create(&guild);
    let first: u64 = 10_000;
    assert_eq!(guilds.channel_name(first), Some("chan-0"));
    assert_eq!(guilds.topic(first), Some("Topic of channel 0"));
    let mut channel = guild.channels[&ChannelId::new(first)].clone();
    for round in 0..200 {
        channel.name = format!("renamed-{round}");
        channel.topic = (round % 2 == 0).then(|| format!("topic {round}"));
        let changed = guilds.update(&channel);
        assert_eq!(changed, Some(channel.topic.clone().unwrap_or_default()));
        // The same again: no change to tell.
        assert_eq!(guilds.update(&channel), None);
    }
    assert_eq!(guilds.channel_name(first), Some("renamed-199"));
    assert_eq!(guilds.topic(first), None, "an empty topic is none");
    assert_eq!(guilds.topic(first + 1), Some("Topic of channel 1"));
    assert_eq!(guilds.channel_name(first + 49), Some("chan-49"));
    let table = guilds.table.get();
    let live: usize = table.channels.iter().map(|(_, c)| c.text.len()).sum();
    assert_eq!(table.texts.len(), live, "no unused bytes kept");
    guilds.remove(first + 1);
    assert_eq!(guilds.channel_name(first + 1), None);
    assert_eq!(guilds.topic(first + 2), Some("Topic of channel 2"));
    // 24 bytes a channel, and its id.
    assert_eq!(std::mem::size_of::<(u64, Channel)>(), 32);
}

#[test]
fn a_guild_created_before_another_in_order_keeps_each_ones_channels() {
    let mut guilds = Guilds::new(false);
    let first: Guild = serde_json::from_value(fixture::guild()).unwrap();
    guilds.create(&first);
    // A second guild whose id sorts before the first's.
    let mut json = fixture::large_guild(2, 0, 10);
    json["id"] = "1000".into();
    json["name"] = "Other".into();
    json["channels"] =
        serde_json::json!([json["channels"][5].clone(), json["channels"][6].clone()]);
    for channel in json["channels"].as_array_mut().unwrap() {
        channel["guild_id"] = "1000".into();
    }
    let other: Guild = serde_json::from_value(json).unwrap();
    let other_channels: Vec<u64> = other.channels.keys().map(|c| c.get()).collect();
    guilds.create(&other);
    let general: u64 = fixture::GENERAL_ID.parse().unwrap();
    let guild_id: u64 = fixture::GUILD_ID.parse().unwrap();
    assert_eq!(guilds.channel(general).unwrap().guild, guild_id);
    assert!(guilds
        .room_name(general)
        .unwrap()
        .starts_with(fixture::GUILD_NAME));
    for id in &other_channels {
        assert_eq!(guilds.channel(*id).unwrap().guild, 1000);
        assert!(guilds.room_name(*id).unwrap().starts_with("Other / #"));
    }
    // The first guild again (a reconnect): the other's channels stay.
    guilds.create(&first);
    assert_eq!(guilds.channel(general).unwrap().guild, guild_id);
    assert_eq!(
        guilds.listing(Some(1000), None, 50, &|_| true).len(),
        other_channels.len()
    );
    assert_eq!(guilds.channel(other_channels[0]).unwrap().guild, 1000);
}

/// Two users' bots in one guild: one channel table; a rename seen by
/// one session first gives it a copy of its own until the other sees
/// it too.
#[test]
fn sessions_in_the_same_guild_share_one_channel_table() {
    let json = fixture::large_guild(30, 0, 50);
    let mut a = Guilds::new(false);
    a.create(&serde_json::from_value(json.clone()).unwrap());
    // Shared-bot mode keeps other overwrites, not other channels.
    let mut b = Guilds::new(true);
    b.create(&serde_json::from_value(json.clone()).unwrap());
    assert!(a.table.shares_with(&b.table));

    let guild: Guild = serde_json::from_value(json).unwrap();
    let mut channel = guild.channels[&ChannelId::new(10_003)].clone();
    channel.name = "renamed".into();
    assert_eq!(a.update(&channel), None, "the topic did not change");
    assert!(!a.table.shares_with(&b.table));
    assert_eq!(a.channel_name(10_003), Some("renamed"));
    assert_eq!(b.channel_name(10_003), Some("chan-3"));
    b.update(&channel);
    assert!(a.table.shares_with(&b.table));
    assert_eq!(b.channel_name(10_003), Some("renamed"));
}
