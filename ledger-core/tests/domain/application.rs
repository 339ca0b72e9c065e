//! Given/when/then tests of the `Application` aggregate (the catalog).

use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use ledger_core::application::{
    APP_NAME_MAX, AppCommand as C, AppError, AppEvent as E, AppStatus, Application,
    MAX_PLAYERS_CEILING, MIN_PLAYERS_FLOOR,
};

use crate::fixtures::*;

fn given(events: Vec<E>) -> AggregateTestExecutor<Application> {
    TestFramework::<Application>::with(()).given(events)
}

fn create(name: &str, price: &str, min_players: u32, max_players: u32) -> C {
    C::CreateApp {
        app_id: app_id(),
        name: name.to_owned(),
        description: "多人太空冒险".to_owned(),
        unit_price: yuan(price),
        min_players,
        max_players,
        now: t0(),
    }
}

fn created() -> E {
    E::AppCreated {
        app_id: app_id(),
        name: APP_NAME.to_owned(),
        description: "多人太空冒险".to_owned(),
        unit_price: yuan("10.00"),
        min_players: 2,
        max_players: 8,
        created_at: t0(),
    }
}

fn retired() -> E {
    E::AppRetired {
        retired_at: later(900),
    }
}

fn bad_name() -> AppError {
    AppError::InvalidField {
        field: "name",
        reason: format!("1 to {APP_NAME_MAX} characters"),
    }
}

fn bad_range() -> AppError {
    AppError::InvalidField {
        field: "min_players",
        reason: "need 1 <= min_players <= max_players <= 100".to_owned(),
    }
}

fn bad_price() -> AppError {
    AppError::InvalidField {
        field: "unit_price",
        reason: "must be greater than 0".to_owned(),
    }
}

// ---------------------------------------------------------------- create

#[test]
fn creating_an_app_records_its_name_price_and_range() {
    given(vec![])
        .when(create(APP_NAME, "10", 2, 8))
        .then_expect_events(vec![created()]);
    let app = replay_app([created()]);
    assert_eq!(
        app,
        Application {
            id: Some(app_id()),
            name: APP_NAME.to_owned(),
            description: "多人太空冒险".to_owned(),
            unit_price: yuan("10.00"),
            min_players: 2,
            max_players: 8,
            status: AppStatus::Active,
        }
    );
}

#[test]
fn creating_an_app_trims_its_name() {
    given(vec![])
        .when(create("  太空探险 ", "10", 2, 8))
        .then_expect_events(vec![created()]);
}

#[test]
fn creating_an_app_with_a_blank_or_too_long_name_is_refused() {
    given(vec![])
        .when(create("", "10", 2, 8))
        .then_expect_error(bad_name());
    given(vec![])
        .when(create("   ", "10", 2, 8))
        .then_expect_error(bad_name());
    given(vec![])
        .when(create(&"游".repeat(APP_NAME_MAX + 1), "10", 2, 8))
        .then_expect_error(bad_name());
    let longest = given(vec![])
        .when(create(&"游".repeat(APP_NAME_MAX), "10", 2, 8))
        .inspect_result();
    assert!(
        longest.is_ok(),
        "a name of exactly {APP_NAME_MAX} characters is accepted: {longest:?}"
    );
}

#[test]
fn creating_an_app_with_a_zero_price_is_refused() {
    given(vec![])
        .when(create(APP_NAME, "0", 2, 8))
        .then_expect_error(bad_price());
    let cheapest = given(vec![])
        .when(create(APP_NAME, "0.01", 2, 8))
        .inspect_result();
    assert!(cheapest.is_ok(), "{cheapest:?}");
}

#[test]
fn creating_an_app_with_a_player_range_outside_one_to_a_hundred_is_refused() {
    for (min, max) in [
        (0, 8),
        (2, 101),
        (9, 8),
        (0, 0),
        (101, 101),
        (u32::MAX, u32::MAX),
    ] {
        given(vec![])
            .when(create(APP_NAME, "10", min, max))
            .then_expect_error(bad_range());
    }
}

#[test]
fn creating_an_app_with_a_player_range_within_one_to_a_hundred_is_accepted() {
    assert_eq!((MIN_PLAYERS_FLOOR, MAX_PLAYERS_CEILING), (1, 100));
    for (min, max) in [(1, 100), (1, 1), (100, 100), (4, 4)] {
        let result = given(vec![])
            .when(create(APP_NAME, "10", min, max))
            .inspect_result();
        assert!(result.is_ok(), "{min}..={max}: {result:?}");
    }
}

#[test]
fn creating_an_app_twice_is_refused() {
    given(vec![created()])
        .when(create(APP_NAME, "10", 2, 8))
        .then_expect_error(AppError::AlreadyExists);
}

#[test]
fn commands_to_an_app_never_created_are_refused_as_not_found() {
    for command in [
        C::ChangePrice {
            unit_price: yuan("12"),
            now: t0(),
        },
        C::ChangePlayerRange {
            min_players: 1,
            max_players: 4,
            now: t0(),
        },
        C::UpdateAppDetails {
            name: "x".into(),
            description: String::new(),
            now: t0(),
        },
        C::RetireApp { now: t0() },
    ] {
        given(vec![])
            .when(command)
            .then_expect_error(AppError::NotFound);
    }
}

// ---------------------------------------------------------------- details

#[test]
fn updating_the_details_records_the_trimmed_name_and_description() {
    given(vec![created()])
        .when(C::UpdateAppDetails {
            name: " 太空探险 2 ".into(),
            description: "续作".into(),
            now: later(5),
        })
        .then_expect_events(vec![E::AppDetailsUpdated {
            name: "太空探险 2".into(),
            description: "续作".into(),
            updated_at: later(5),
        }]);
}

#[test]
fn updating_the_details_to_the_same_values_records_nothing() {
    given(vec![created()])
        .when(C::UpdateAppDetails {
            name: format!("{APP_NAME} "),
            description: "多人太空冒险".into(),
            now: later(5),
        })
        .then_expect_events(vec![]);
}

#[test]
fn updating_the_details_with_a_blank_name_is_refused() {
    given(vec![created()])
        .when(C::UpdateAppDetails {
            name: " ".into(),
            description: "x".into(),
            now: later(5),
        })
        .then_expect_error(bad_name());
}

// ---------------------------------------------------------------- price

#[test]
fn changing_the_price_records_the_old_and_the_new_price() {
    let changed = E::PriceChanged {
        old_price: yuan("10.00"),
        new_price: yuan("12.50"),
        changed_at: later(60),
    };
    given(vec![created()])
        .when(C::ChangePrice {
            unit_price: yuan("12.5"),
            now: later(60),
        })
        .then_expect_events(vec![changed.clone()]);
    assert_eq!(replay_app([created(), changed]).unit_price, yuan("12.50"));
}

#[test]
fn changing_the_price_to_the_price_in_force_records_nothing() {
    given(vec![created()])
        .when(C::ChangePrice {
            unit_price: yuan("10"),
            now: later(60),
        })
        .then_expect_events(vec![]);
}

#[test]
fn changing_the_price_to_zero_is_refused() {
    given(vec![created()])
        .when(C::ChangePrice {
            unit_price: yuan("0.00"),
            now: later(60),
        })
        .then_expect_error(bad_price());
}

#[test]
fn successive_price_changes_each_record_the_price_they_replace() {
    let first = E::PriceChanged {
        old_price: yuan("10"),
        new_price: yuan("12"),
        changed_at: later(60),
    };
    given(vec![created(), first])
        .when(C::ChangePrice {
            unit_price: yuan("8"),
            now: later(120),
        })
        .then_expect_events(vec![E::PriceChanged {
            old_price: yuan("12"),
            new_price: yuan("8"),
            changed_at: later(120),
        }]);
}

#[test]
#[should_panic(expected = "PriceChanged.old_price")]
fn applying_a_price_change_from_a_price_not_in_force_is_a_bug_that_stops() {
    replay_app([
        created(),
        E::PriceChanged {
            old_price: yuan("11"),
            new_price: yuan("12"),
            changed_at: later(60),
        },
    ]);
}

// ---------------------------------------------------------------- player range

#[test]
fn changing_the_player_range_records_the_new_range() {
    let changed = E::PlayerRangeChanged {
        min_players: 1,
        max_players: 10,
        changed_at: later(60),
    };
    given(vec![created()])
        .when(C::ChangePlayerRange {
            min_players: 1,
            max_players: 10,
            now: later(60),
        })
        .then_expect_events(vec![changed.clone()]);
    let app = replay_app([created(), changed]);
    assert_eq!((app.min_players, app.max_players), (1, 10));
}

#[test]
fn changing_the_player_range_to_the_range_in_force_records_nothing() {
    given(vec![created()])
        .when(C::ChangePlayerRange {
            min_players: 2,
            max_players: 8,
            now: later(60),
        })
        .then_expect_events(vec![]);
}

#[test]
fn changing_the_player_range_to_an_invalid_range_is_refused() {
    for (min, max) in [(0, 8), (2, 101), (5, 4)] {
        given(vec![created()])
            .when(C::ChangePlayerRange {
                min_players: min,
                max_players: max,
                now: later(60),
            })
            .then_expect_error(bad_range());
    }
}

// ---------------------------------------------------------------- retire

#[test]
fn retiring_an_app_records_it_and_marks_it_retired() {
    given(vec![created()])
        .when(C::RetireApp { now: later(900) })
        .then_expect_events(vec![retired()]);
    assert_eq!(
        replay_app([created(), retired()]).status,
        AppStatus::Retired
    );
}

#[test]
fn every_command_to_a_retired_app_is_refused() {
    for command in [
        C::ChangePrice {
            unit_price: yuan("12"),
            now: later(1000),
        },
        C::ChangePrice {
            unit_price: yuan("10"),
            now: later(1000),
        },
        C::ChangePlayerRange {
            min_players: 1,
            max_players: 4,
            now: later(1000),
        },
        C::UpdateAppDetails {
            name: "x".into(),
            description: String::new(),
            now: later(1000),
        },
        C::RetireApp { now: later(1000) },
    ] {
        given(vec![created(), retired()])
            .when(command)
            .then_expect_error(AppError::Retired);
    }
    given(vec![created(), retired()])
        .when(create(APP_NAME, "10", 2, 8))
        .then_expect_error(AppError::AlreadyExists);
}
