//! What a Discord message shows besides its text, as readable lines after
//! it: stickers (`sticker_items`) by name, embeds (a bot's or webhook's
//! rich cards, a shared post) by title, description, fields and link, the
//! embed quoted (XEP-0393 `> `). A message of only a sticker or an embed
//! so never arrives empty. An embed Discord made for a link the text
//! already holds (a link preview) is left out: XMPP clients preview links
//! themselves.

use serenity::model::channel::Embed;
use serenity::model::sticker::StickerItem;

use crate::markdown;

/// `text` with the stickers and embeds after it, one block each.
pub(crate) fn with_extras(
    text: String,
    content: &str,
    stickers: &[StickerItem],
    embeds: &[Embed],
) -> String {
    let mut blocks: Vec<String> = Vec::new();
    if !text.is_empty() {
        blocks.push(text);
    }
    for sticker in stickers {
        blocks.push(format!("[sticker: {}]", sticker.name));
    }
    for embed in embeds {
        let previews_the_text = embed
            .url
            .as_deref()
            .is_some_and(|url| !content.is_empty() && content.contains(url));
        if previews_the_text {
            continue;
        }
        if let Some(block) = embed_block(embed) {
            blocks.push(block);
        }
    }
    blocks.join("\n")
}

/// An embed as quoted lines: its author, title, description (markdown as
/// XEP-0393), fields (`name: value`) and link; `None` when it has none.
fn embed_block(embed: &Embed) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();
    if let Some(author) = embed
        .author
        .as_ref()
        .map(|a| a.name.trim())
        .filter(|n| !n.is_empty())
    {
        lines.push(author.to_owned());
    }
    if let Some(title) = embed
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        lines.push(markdown::to_styling(title));
    }
    if let Some(text) = embed
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        lines.extend(markdown::to_styling(text).lines().map(str::to_owned));
    }
    for field in &embed.fields {
        let value = markdown::to_styling(field.value.trim());
        lines.push(format!(
            "{}: {}",
            field.name.trim(),
            value.replace('\n', " ")
        ));
    }
    if let Some(url) = embed.url.as_deref().filter(|u| !u.is_empty()) {
        lines.push(url.to_owned());
    }
    (!lines.is_empty()).then(|| {
        lines
            .iter()
            .map(|l| format!("> {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A sticker item as the gateway sends it (fields: id, name, format_type).
    fn sticker(name: &str) -> StickerItem {
        serde_json::from_value(
            json!({ "id": "749054660769218631", "name": name, "format_type": 1 }),
        )
        .unwrap()
    }

    /// An embed with the documented fields a bot's card carries.
    fn card() -> Embed {
        serde_json::from_value(json!({
            "title": "Release 1.4",
            "type": "rich",
            "description": "**Faster** joins\nand fixes",
            "url": "https://example.org/releases/1.4",
            "timestamp": "2026-12-02T13:00:00.000000+00:00",
            "color": 5814783,
            "footer": { "text": "ci" },
            "author": { "name": "Build bot" },
            "fields": [{ "name": "Status", "value": "passed", "inline": true }]
        }))
        .unwrap()
    }

    #[test]
    fn a_sticker_alone_is_read_by_name() {
        assert_eq!(
            with_extras(String::new(), "", &[sticker("Wave")], &[]),
            "[sticker: Wave]"
        );
        assert_eq!(
            with_extras("hi".into(), "hi", &[sticker("Wave")], &[]),
            "hi\n[sticker: Wave]"
        );
    }

    #[test]
    fn an_embed_is_quoted_after_the_text() {
        assert_eq!(
            with_extras(String::new(), "", &[], &[card()]),
            "> Build bot\n> Release 1.4\n> *Faster* joins\n> and fixes\n> Status: passed\n\
             > https://example.org/releases/1.4"
        );
    }

    #[test]
    fn a_link_preview_is_left_to_the_client() {
        let preview: Embed = serde_json::from_value(json!({
            "type": "link", "url": "https://example.org/a", "title": "A page"
        }))
        .unwrap();
        let text = "see https://example.org/a";
        assert_eq!(with_extras(text.into(), text, &[], &[preview]), text);
    }
}
