//! Given/when/then tests of the `Announcement` aggregate.

use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use ledger_core::Aggregate;
use ledger_core::announcement::{
    Announcement, AnnouncementCommand as C, AnnouncementError, AnnouncementEvent as E, BODY_MAX,
    TITLE_MAX,
};

use crate::fixtures::*;

fn given(events: Vec<E>) -> AggregateTestExecutor<Announcement> {
    TestFramework::<Announcement>::with(()).given(events)
}

fn publish(title: &str, body: &str) -> C {
    C::Publish {
        announcement_id: announcement_id(),
        title: title.into(),
        body: body.into(),
        now: later(6),
    }
}

fn published() -> E {
    E::AnnouncementPublished {
        announcement_id: announcement_id(),
        title: "春节营业安排".into(),
        body: "春节期间正常营业。".into(),
        published_at: later(6),
    }
}

fn too_long(field: &'static str, max: usize) -> AnnouncementError {
    AnnouncementError::InvalidField {
        field,
        reason: format!("1 to {max} characters"),
    }
}

#[test]
fn publishing_records_the_title_and_body() {
    given(vec![])
        .when(publish("春节营业安排", "春节期间正常营业。"))
        .then_expect_events(vec![published()]);
    let mut announcement = Announcement::default();
    announcement.apply(published());
    assert_eq!(announcement.id, Some(announcement_id()));
}

#[test]
fn publishing_the_same_announcement_twice_is_refused() {
    given(vec![published()])
        .when(publish("春节营业安排", "春节期间正常营业。"))
        .then_expect_error(AnnouncementError::AlreadyPublished);
}

#[test]
fn a_blank_or_too_long_title_is_refused() {
    for title in [String::new(), " \t".into(), "题".repeat(TITLE_MAX + 1)] {
        given(vec![])
            .when(publish(&title, "正文"))
            .then_expect_error(too_long("title", TITLE_MAX));
    }
}

#[test]
fn a_blank_or_too_long_body_is_refused() {
    for body in [String::new(), "\n\n".into(), "文".repeat(BODY_MAX + 1)] {
        given(vec![])
            .when(publish("标题", &body))
            .then_expect_error(too_long("body", BODY_MAX));
    }
}

#[test]
fn a_title_and_body_at_their_limits_are_accepted() {
    let (title, body) = ("题".repeat(TITLE_MAX), "文".repeat(BODY_MAX));
    given(vec![])
        .when(publish(&title, &body))
        .then_expect_events(vec![E::AnnouncementPublished {
            announcement_id: announcement_id(),
            title,
            body,
            published_at: later(6),
        }]);
}
