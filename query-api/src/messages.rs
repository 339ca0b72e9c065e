//! The text of operators' messages, per language.
//!
//! A message row keeps its `kind` and the facts behind it (`data`); the title and body are
//! rendered when read, in the request's language (zh-CN unless `Accept-Language` prefers
//! English), so a message reads right in either language and the wording can improve without
//! touching stored rows. Announcements are shown as the staff wrote them. A kind this version
//! does not know is shown by its name with an empty body rather than refused.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::context::Lang;

/// China Standard Time (UTC+8 all year): times in message text are shown in it, the
/// product's default zone.
const CHINA_UTC_OFFSET_SECONDS: i32 = 8 * 3600;

/// Title and body of a message of `kind` with `data`, in `lang`.
pub fn render(kind: &str, data: &Value, lang: Lang) -> (String, String) {
    let field = |name: &str| text_of(data.get(name));
    match (kind, lang) {
        ("announcement", _) => (field("title"), field("body")),
        ("price_change", Lang::Zh) => (
            "价格调整通知".to_owned(),
            format!(
                "应用「{}」的单价由 ¥{} 调整为 ¥{}，自下一次授权起生效。",
                field("app_name"),
                field("old_price"),
                field("new_price")
            ),
        ),
        ("price_change", Lang::En) => (
            "Price change".to_owned(),
            format!(
                "The unit price of {} changed from ¥{} to ¥{}; it applies from the next authorization.",
                field("app_name"),
                field("old_price"),
                field("new_price")
            ),
        ),
        ("low_balance", Lang::Zh) => (
            "余额不足提醒".to_owned(),
            format!(
                "当前余额 ¥{}，已低于提醒阈值 ¥{}，请及时充值。",
                field("balance"),
                field("threshold")
            ),
        ),
        ("low_balance", Lang::En) => (
            "Low balance".to_owned(),
            format!(
                "Your balance is ¥{}, below your alert threshold of ¥{}. Please recharge.",
                field("balance"),
                field("threshold")
            ),
        ),
        ("grant_expiry", Lang::Zh) => (
            "授权即将到期".to_owned(),
            format!(
                "应用「{}」的授权将于 {}（北京时间）到期，如需继续使用请联系管理员。",
                field("app_name"),
                china_time(&field("expires_at"))
            ),
        ),
        ("grant_expiry", Lang::En) => (
            "Authorization expiring".to_owned(),
            format!(
                "Your authorization for {} expires at {} (UTC+8). Contact us to keep using it.",
                field("app_name"),
                china_time(&field("expires_at"))
            ),
        ),
        (other, _) => (other.to_owned(), String::new()),
    }
}

/// A data field as text: strings as they are, numbers printed, anything else empty.
fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => String::new(),
    }
}

/// An RFC 3339 time as `YYYY-MM-DD HH:MM` in China Standard Time; other text unchanged.
fn china_time(text: &str) -> String {
    let zone = FixedOffset::east_opt(CHINA_UTC_OFFSET_SECONDS).expect("UTC+8 is a valid offset");
    match DateTime::parse_from_rfc3339(text) {
        Ok(time) => time
            .with_timezone(&zone)
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn announcements_are_shown_as_written_in_every_language() {
        let data = json!({ "title": "维护通知", "body": "今晚 22:00 维护" });
        for lang in [Lang::Zh, Lang::En] {
            assert_eq!(
                render("announcement", &data, lang),
                ("维护通知".to_owned(), "今晚 22:00 维护".to_owned())
            );
        }
    }

    #[test]
    fn price_changes_name_the_app_and_both_prices() {
        let data = json!({ "app_id": "x", "app_name": "Space Quest", "old_price": "10.00", "new_price": "12.50" });
        let (title, body) = render("price_change", &data, Lang::Zh);
        assert_eq!(title, "价格调整通知");
        assert!(body.contains("Space Quest") && body.contains("¥10.00") && body.contains("¥12.50"));
        let (title, body) = render("price_change", &data, Lang::En);
        assert_eq!(title, "Price change");
        assert!(body.contains("from ¥10.00 to ¥12.50"), "{body}");
    }

    #[test]
    fn low_balance_and_grant_expiry_read_in_both_languages() {
        let data = json!({ "balance": "40.00", "threshold": "50.00" });
        assert!(render("low_balance", &data, Lang::Zh).1.contains("¥40.00"));
        assert!(
            render("low_balance", &data, Lang::En)
                .1
                .contains("threshold of ¥50.00")
        );
        let data = json!({ "app_name": "Deep Sea", "expires_at": "2026-05-01T00:00:00Z" });
        let (_, zh) = render("grant_expiry", &data, Lang::Zh);
        assert!(zh.contains("2026-05-01 08:00"), "{zh}");
        let (title, en) = render("grant_expiry", &data, Lang::En);
        assert_eq!(title, "Authorization expiring");
        assert!(en.contains("Deep Sea") && en.contains("2026-05-01 08:00 (UTC+8)"));
    }

    #[test]
    fn an_unknown_kind_is_shown_by_its_name() {
        assert_eq!(
            render("future_kind", &json!({}), Lang::En),
            ("future_kind".to_owned(), String::new())
        );
    }
}
