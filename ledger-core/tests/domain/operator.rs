//! Given/when/then tests of the `Operator` aggregate: one rule per test, named as a sentence.

use chrono::TimeDelta;
use ledger_core::money::MoneyError;
use ledger_core::operator::{
    AccountStatus, AppTerms, Category, Credential, Grant, MAX_ROTATION_OVERLAP, Operator,
    OperatorCommand as C, OperatorError, OperatorEvent as E, RetiredKey, Site,
};

use crate::fixtures::*;

fn blank_field(field: &'static str, max: usize) -> OperatorError {
    OperatorError::InvalidField {
        field,
        reason: format!("1 to {max} characters"),
    }
}

fn with(mut events: Vec<E>, more: impl IntoIterator<Item = E>) -> Vec<E> {
    events.extend(more);
    events
}

// ---------------------------------------------------------------- registration

#[test]
fn registering_an_operator_records_it_issues_its_first_key_and_sets_its_threshold() {
    given(vec![])
        .when(register_command())
        .then_expect_events(registered());
}

#[test]
fn a_registered_operator_is_active_with_zero_balance_and_one_live_key() {
    let operator = replay(registered());
    assert_eq!(operator.id, Some(operator_id()));
    assert_eq!(operator.username, "starcade");
    assert_eq!(operator.category, Category::Trial);
    assert_eq!(operator.status, AccountStatus::Active);
    assert!(operator.balance.is_zero());
    assert_eq!(operator.low_balance_threshold, yuan(TRIAL_THRESHOLD));
    assert!(operator.is_live_key(&key(KEY), t0()));
    assert!(!operator.is_live_key(&key(NEW_KEY), t0()));
    assert!(operator.sites.is_empty() && operator.grants.is_empty());
}

#[test]
fn registering_an_operator_twice_is_refused() {
    given(registered())
        .when(register_command())
        .then_expect_error(OperatorError::AlreadyRegistered);
}

#[test]
fn commands_to_an_operator_never_registered_are_refused_as_not_found() {
    let commands = [
        C::CreditBalance {
            credit_id: credit_id(),
            amount: yuan("1"),
            reason: "x".into(),
            now: t0(),
        },
        C::OpenSite {
            site_id: site(),
            name: "a".into(),
            address: "b".into(),
            now: t0(),
        },
        C::GrantApp {
            app_id: app_id(),
            expires_at: None,
            now: t0(),
        },
        C::LockAccount {
            reason: "x".into(),
            now: t0(),
        },
        C::RotateCredentials {
            key_id: key(NEW_KEY),
            fingerprint: "f".into(),
            overlap: TimeDelta::zero(),
            now: t0(),
        },
        authorize(5),
        C::EndGame {
            session_id: session(1),
            authorized_at: t0(),
            duration_seconds: None,
            now: t0(),
        },
    ];
    for command in commands {
        given(vec![])
            .when(command)
            .then_expect_error(OperatorError::NotFound);
    }
}

// ---------------------------------------------------------------- credentials

fn rotate(overlap: TimeDelta, now_offset: i64, new_key: &str) -> C {
    C::RotateCredentials {
        key_id: key(new_key),
        fingerprint: "f2".repeat(32),
        overlap,
        now: later(now_offset),
    }
}

#[test]
fn rotating_with_no_overlap_ends_every_old_key_at_once() {
    let expected = E::CredentialRotated {
        key_id: key(NEW_KEY),
        fingerprint: "f2".repeat(32),
        retired: vec![RetiredKey {
            key_id: key(KEY),
            ends_at: later(3600),
        }],
        rotated_at: later(3600),
    };
    given(registered())
        .when(rotate(TimeDelta::zero(), 3600, NEW_KEY))
        .then_expect_events(vec![expected.clone()]);

    let operator = replay(with(registered(), [expected]));
    assert!(
        !operator.is_live_key(&key(KEY), later(3600)),
        "old key stops at once"
    );
    assert!(operator.is_live_key(&key(NEW_KEY), later(3600)));
    assert_eq!(
        operator.credentials.len(),
        1,
        "a fully ended key is dropped from the state"
    );
}

#[test]
fn rotating_with_an_overlap_keeps_old_keys_until_now_plus_overlap() {
    let expected = E::CredentialRotated {
        key_id: key(NEW_KEY),
        fingerprint: "f2".repeat(32),
        retired: vec![RetiredKey {
            key_id: key(KEY),
            ends_at: later(3600 + 900),
        }],
        rotated_at: later(3600),
    };
    given(registered())
        .when(rotate(TimeDelta::seconds(900), 3600, NEW_KEY))
        .then_expect_events(vec![expected.clone()]);

    let operator = replay(with(registered(), [expected]));
    assert!(operator.is_live_key(&key(KEY), later(3600 + 899)));
    assert!(
        !operator.is_live_key(&key(KEY), later(3600 + 900)),
        "ends exactly at now + overlap"
    );
    assert!(operator.is_live_key(&key(NEW_KEY), later(3600 + 900)));
    assert_eq!(
        operator.credentials[&key(KEY)],
        Credential {
            fingerprint: "f1".repeat(32),
            issued_at: t0(),
            ends_at: Some(later(4500))
        }
    );
}

#[test]
fn a_key_already_ending_sooner_keeps_its_end_on_a_later_rotation() {
    let first = E::CredentialRotated {
        key_id: key(NEW_KEY),
        fingerprint: "f2".repeat(32),
        retired: vec![RetiredKey {
            key_id: key(KEY),
            ends_at: later(1000 + 600),
        }],
        rotated_at: later(1000),
    };
    let second = E::CredentialRotated {
        key_id: key(THIRD_KEY),
        fingerprint: "f2".repeat(32),
        retired: vec![
            RetiredKey {
                key_id: key(KEY),
                ends_at: later(1600),
            },
            RetiredKey {
                key_id: key(NEW_KEY),
                ends_at: later(1100) + MAX_ROTATION_OVERLAP,
            },
        ],
        rotated_at: later(1100),
    };
    given(with(registered(), [first.clone()]))
        .when(rotate(MAX_ROTATION_OVERLAP, 1100, THIRD_KEY))
        .then_expect_events(vec![second.clone()]);

    let operator = replay(with(registered(), [first, second]));
    assert!(operator.is_live_key(&key(KEY), later(1599)));
    assert!(!operator.is_live_key(&key(KEY), later(1600)));
    assert!(operator.is_live_key(&key(NEW_KEY), later(1100 + 86_399)));
    assert!(operator.is_live_key(&key(THIRD_KEY), later(1_000_000)));
}

#[test]
fn a_key_that_has_already_ended_is_not_retired_again() {
    let first = E::CredentialRotated {
        key_id: key(NEW_KEY),
        fingerprint: "f2".repeat(32),
        retired: vec![RetiredKey {
            key_id: key(KEY),
            ends_at: later(1060),
        }],
        rotated_at: later(1000),
    };
    given(with(registered(), [first]))
        .when(rotate(TimeDelta::zero(), 2000, THIRD_KEY))
        .then_expect_events(vec![E::CredentialRotated {
            key_id: key(THIRD_KEY),
            fingerprint: "f2".repeat(32),
            retired: vec![RetiredKey {
                key_id: key(NEW_KEY),
                ends_at: later(2000),
            }],
            rotated_at: later(2000),
        }]);
}

#[test]
fn an_overlap_of_exactly_24_hours_is_accepted() {
    let result = given(registered())
        .when(rotate(MAX_ROTATION_OVERLAP, 0, NEW_KEY))
        .inspect_result();
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn an_overlap_longer_than_24_hours_or_negative_is_refused() {
    let refused = OperatorError::InvalidField {
        field: "overlap_seconds",
        reason: "0 to 86400".to_owned(),
    };
    for overlap in [
        MAX_ROTATION_OVERLAP + TimeDelta::seconds(1),
        TimeDelta::days(30),
        TimeDelta::seconds(-1),
    ] {
        given(registered())
            .when(rotate(overlap, 0, NEW_KEY))
            .then_expect_error(refused.clone());
    }
}

#[test]
fn a_locked_operator_can_still_have_its_key_rotated() {
    let result = given(with(registered(), [locked()]))
        .when(rotate(TimeDelta::zero(), 3600, NEW_KEY))
        .inspect_result();
    assert!(result.is_ok(), "{result:?}");
}

// ---------------------------------------------------------------- sites

#[test]
fn opening_a_site_records_its_name_and_address() {
    given(registered())
        .when(C::OpenSite {
            site_id: site(),
            name: "万达店".into(),
            address: "上海市浦东新区世纪大道 1 号".into(),
            now: t0(),
        })
        .then_expect_events(vec![site_opened(site())]);
    let operator = replay(with(registered(), [site_opened(site())]));
    assert_eq!(
        operator.check_site(site()),
        Ok(&Site {
            name: "万达店".into(),
            address: "上海市浦东新区世纪大道 1 号".into(),
            open: true
        })
    );
}

#[test]
fn opening_a_site_with_a_blank_or_too_long_name_or_address_is_refused() {
    let open = |name: String, address: String| C::OpenSite {
        site_id: site(),
        name,
        address,
        now: t0(),
    };
    given(registered())
        .when(open("   ".into(), "x".into()))
        .then_expect_error(blank_field("name", 100));
    given(registered())
        .when(open("店".repeat(101), "x".into()))
        .then_expect_error(blank_field("name", 100));
    given(registered())
        .when(open("x".into(), String::new()))
        .then_expect_error(blank_field("address", 300));
    given(registered())
        .when(open("x".into(), "址".repeat(301)))
        .then_expect_error(blank_field("address", 300));
    let at_limits = given(registered())
        .when(open("店".repeat(100), "址".repeat(300)))
        .inspect_result();
    assert!(at_limits.is_ok(), "{at_limits:?}");
}

#[test]
fn opening_a_site_with_an_id_already_used_is_refused_even_if_closed() {
    let refused = OperatorError::InvalidField {
        field: "site_id",
        reason: "already used".into(),
    };
    let open = C::OpenSite {
        site_id: site(),
        name: "a".into(),
        address: "b".into(),
        now: later(200),
    };
    given(with(registered(), [site_opened(site())]))
        .when(open.clone())
        .then_expect_error(refused.clone());
    given(with(
        registered(),
        [site_opened(site()), site_closed(site())],
    ))
    .when(open)
    .then_expect_error(refused);
}

#[test]
fn updating_an_open_site_records_the_new_name_and_address() {
    given(with(registered(), [site_opened(site())]))
        .when(C::UpdateSite {
            site_id: site(),
            name: "新店".into(),
            address: "北京".into(),
            now: later(5),
        })
        .then_expect_events(vec![E::SiteUpdated {
            site_id: site(),
            name: "新店".into(),
            address: "北京".into(),
            updated_at: later(5),
        }]);
}

#[test]
fn updating_a_closed_site_is_refused_as_site_inactive() {
    given(with(
        registered(),
        [site_opened(site()), site_closed(site())],
    ))
    .when(C::UpdateSite {
        site_id: site(),
        name: "新店".into(),
        address: "北京".into(),
        now: later(500),
    })
    .then_expect_error(OperatorError::SiteInactive);
}

#[test]
fn updating_an_unknown_site_is_refused_as_site_not_found() {
    given(with(registered(), [site_opened(site())]))
        .when(C::UpdateSite {
            site_id: other_site(),
            name: "新店".into(),
            address: "北京".into(),
            now: later(5),
        })
        .then_expect_error(OperatorError::SiteNotFound);
}

#[test]
fn closing_an_open_site_records_it_and_keeps_it_for_history() {
    given(with(registered(), [site_opened(site())]))
        .when(C::CloseSite {
            site_id: site(),
            now: later(60),
        })
        .then_expect_events(vec![site_closed(site())]);
    let operator = replay(with(
        registered(),
        [site_opened(site()), site_closed(site())],
    ));
    assert!(!operator.sites[&site()].open);
    assert_eq!(
        operator.check_site(site()),
        Err(OperatorError::SiteInactive)
    );
}

#[test]
fn closing_a_closed_site_is_refused_as_site_inactive() {
    given(with(
        registered(),
        [site_opened(site()), site_closed(site())],
    ))
    .when(C::CloseSite {
        site_id: site(),
        now: later(500),
    })
    .then_expect_error(OperatorError::SiteInactive);
}

#[test]
fn closing_an_unknown_site_is_refused_as_site_not_found() {
    given(registered())
        .when(C::CloseSite {
            site_id: site(),
            now: later(60),
        })
        .then_expect_error(OperatorError::SiteNotFound);
}

// ---------------------------------------------------------------- grants

#[test]
fn granting_an_app_permanently_records_no_expiry() {
    given(registered())
        .when(C::GrantApp {
            app_id: app_id(),
            expires_at: None,
            now: t0(),
        })
        .then_expect_events(vec![granted(None)]);
    let operator = replay(with(registered(), [granted(None)]));
    assert_eq!(
        operator.grants[&app_id()],
        Grant {
            expires_at: None,
            reminded: false
        }
    );
    assert!(!operator.grants[&app_id()].is_expired(at("2099-01-01T00:00:00Z")));
}

#[test]
fn granting_an_app_until_a_date_records_that_date() {
    let until = at("2026-12-31T16:00:00Z");
    given(registered())
        .when(C::GrantApp {
            app_id: app_id(),
            expires_at: Some(until),
            now: t0(),
        })
        .then_expect_events(vec![granted(Some(until))]);
    let grant = replay(with(registered(), [granted(Some(until))])).grants[&app_id()].clone();
    assert!(!grant.is_expired(until - TimeDelta::seconds(1)));
    assert!(
        grant.is_expired(until),
        "a grant ends at its expiry instant"
    );
}

#[test]
fn granting_again_replaces_the_expiry() {
    let operator = replay(with(
        registered(),
        [granted(Some(later(10))), granted(None)],
    ));
    assert_eq!(
        operator.grants[&app_id()],
        Grant {
            expires_at: None,
            reminded: false
        }
    );
}

#[test]
fn revoking_a_granted_app_records_the_revocation_and_removes_the_grant() {
    let revoked = E::AppRevoked {
        app_id: app_id(),
        revoked_at: later(30),
    };
    given(with(registered(), [granted(None)]))
        .when(C::RevokeApp {
            app_id: app_id(),
            now: later(30),
        })
        .then_expect_events(vec![revoked.clone()]);
    assert!(
        replay(with(registered(), [granted(None), revoked]))
            .grants
            .is_empty()
    );
}

#[test]
fn revoking_an_app_never_granted_is_refused_as_grant_not_found() {
    given(registered())
        .when(C::RevokeApp {
            app_id: app_id(),
            now: later(30),
        })
        .then_expect_error(OperatorError::GrantNotFound);
}

#[test]
fn revoking_an_app_twice_is_refused_as_grant_not_found() {
    given(with(
        registered(),
        [
            granted(None),
            E::AppRevoked {
                app_id: app_id(),
                revoked_at: later(30),
            },
        ],
    ))
    .when(C::RevokeApp {
        app_id: app_id(),
        now: later(40),
    })
    .then_expect_error(OperatorError::GrantNotFound);
}

// ---------------------------------------------------------------- balance

fn credit(amount: &str) -> C {
    C::CreditBalance {
        credit_id: credit_id(),
        amount: yuan(amount),
        reason: "银行转账".into(),
        now: t0(),
    }
}

#[test]
fn crediting_zero_is_refused() {
    given(registered())
        .when(credit("0.00"))
        .then_expect_error(OperatorError::InvalidField {
            field: "amount",
            reason: "must be greater than 0".into(),
        });
}

#[test]
fn crediting_adds_the_amount_and_records_the_balance_after() {
    given(registered())
        .when(credit("100"))
        .then_expect_events(vec![credited("100.00", "100.00")]);
    given(with(registered(), [credited("100", "100")]))
        .when(credit("50.55"))
        .then_expect_events(vec![credited("50.55", "150.55")]);
    let operator = replay(with(
        registered(),
        [credited("100", "100"), credited("50.55", "150.55")],
    ));
    assert_eq!(operator.balance, yuan("150.55"));
}

#[test]
fn crediting_without_a_reason_is_refused() {
    given(registered())
        .when(C::CreditBalance {
            credit_id: credit_id(),
            amount: yuan("1"),
            reason: " ".into(),
            now: t0(),
        })
        .then_expect_error(blank_field("reason", 500));
}

#[test]
fn crediting_beyond_the_largest_storable_amount_is_refused() {
    let max = "9999999999999999.99";
    given(with(registered(), [credited(max, max)]))
        .when(credit("0.01"))
        .then_expect_error(OperatorError::Amount(MoneyError::Overflow));
}

#[test]
fn a_locked_operator_can_still_be_credited() {
    given(with(registered(), [locked()]))
        .when(credit("10"))
        .then_expect_events(vec![credited("10", "10")]);
}

#[test]
#[should_panic(expected = "BalanceCredited.balance_after")]
fn applying_a_credit_with_a_wrong_balance_after_is_a_bug_that_stops() {
    replay(with(
        registered(),
        [credited("10", "10"), credited("10", "25")],
    ));
}

// ---------------------------------------------------------------- authorize game

#[test]
fn authorizing_five_players_at_ten_charges_fifty() {
    given(ready_to_play("500.00"))
        .when(authorize(5))
        .then_expect_events(vec![game_authorized(5, "50.00", "450.00")]);
    let operator = replay(with(
        ready_to_play("500"),
        [game_authorized(5, "50.00", "450.00")],
    ));
    assert_eq!(operator.balance, yuan("450.00"));
}

#[test]
fn authorizing_charges_the_price_the_command_brings() {
    let app = AppTerms {
        unit_price: yuan("12.35"),
        ..terms()
    };
    let result = given(ready_to_play("100"))
        .when(authorize_with(app, site(), 3))
        .inspect_result();
    let Ok(events) = result else {
        panic!("{result:?}")
    };
    let [
        E::GameAuthorized {
            unit_price,
            total_cost,
            balance_after,
            ..
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(
        (*unit_price, *total_cost, *balance_after),
        (yuan("12.35"), yuan("37.05"), yuan("62.95"))
    );
}

#[test]
fn authorizing_with_exactly_the_balance_leaves_zero() {
    given(ready_to_play("80.00"))
        .when(authorize(8))
        .then_expect_events(vec![game_authorized(8, "80.00", "0.00")]);
}

#[test]
fn a_locked_account_is_refused_as_account_locked_even_if_the_site_is_unknown() {
    let refused = OperatorError::AccountLocked {
        locked_at: later(120),
        reason: "可疑签名".into(),
    };
    given(with(ready_to_play("500"), [locked()]))
        .when(authorize_with(retired_terms(), other_site(), 0))
        .then_expect_error(refused.clone());
    given(with(registered(), [locked()]))
        .when(authorize(5))
        .then_expect_error(refused);
}

#[test]
fn a_deactivated_account_is_refused_as_account_deactivated_even_if_the_site_is_unknown() {
    given(with(ready_to_play("500"), [deactivated()]))
        .when(authorize_with(retired_terms(), other_site(), 0))
        .then_expect_error(OperatorError::AccountDeactivated);
}

#[test]
fn an_unknown_site_is_refused_as_site_not_found_before_the_app_is_checked() {
    given(ready_to_play("0"))
        .when(authorize_with(retired_terms(), other_site(), 0))
        .then_expect_error(OperatorError::SiteNotFound);
}

#[test]
fn a_closed_site_is_refused_as_site_inactive_before_the_app_is_checked() {
    given(with(ready_to_play("0"), [site_closed(site())]))
        .when(authorize_with(retired_terms(), site(), 0))
        .then_expect_error(OperatorError::SiteInactive);
}

#[test]
fn a_retired_app_is_refused_as_app_inactive_even_without_a_grant() {
    let mut events = registered();
    events.push(site_opened(site()));
    given(events.clone())
        .when(authorize_with(retired_terms(), site(), 0))
        .then_expect_error(OperatorError::AppInactive);
    events.push(granted(None));
    given(events)
        .when(authorize_with(retired_terms(), site(), 5))
        .then_expect_error(OperatorError::AppInactive);
}

#[test]
fn an_app_without_a_grant_is_refused_as_not_authorized_with_its_id_and_name() {
    let refused = OperatorError::AppNotAuthorized {
        app_id: app_id(),
        app_name: APP_NAME.into(),
    };
    given(with(registered(), [site_opened(site())]))
        .when(authorize(99))
        .then_expect_error(refused.clone());
    let revoked = E::AppRevoked {
        app_id: app_id(),
        revoked_at: later(30),
    };
    given(with(ready_to_play("500"), [revoked]))
        .when(authorize(5))
        .then_expect_error(refused);
}

#[test]
fn an_expired_grant_is_refused_as_authorization_expired_with_the_expiry() {
    // The command runs at t0 + 600 s.
    for expired_at in [later(600), later(599), t0()] {
        let mut events = with(
            registered(),
            [site_opened(site()), granted(Some(expired_at))],
        );
        events.push(credited("500", "500"));
        given(events)
            .when(authorize(99))
            .then_expect_error(OperatorError::AuthorizationExpired {
                app_name: APP_NAME.into(),
                expired_at,
            });
    }
}

#[test]
fn a_grant_expiring_after_now_still_authorizes() {
    let events = with(
        registered(),
        [
            site_opened(site()),
            granted(Some(later(601))),
            credited("500", "500"),
        ],
    );
    given(events)
        .when(authorize(5))
        .then_expect_events(vec![game_authorized(5, "50.00", "450.00")]);
}

#[test]
fn a_player_count_outside_the_apps_range_is_refused_with_the_range_and_request() {
    for requested in [
        1,
        9,
        0,
        -1,
        -5,
        i64::from(u32::MAX),
        i64::from(u32::MAX) + 1,
        i64::MAX,
        i64::MIN,
    ] {
        // The balance would not cover it either: the range is checked first.
        given(ready_to_play("0"))
            .when(authorize(requested))
            .then_expect_error(OperatorError::PlayerCountOutOfRange {
                min_players: 2,
                max_players: 8,
                requested_players: requested,
            });
    }
}

#[test]
fn the_ends_of_the_player_range_are_accepted() {
    given(ready_to_play("500"))
        .when(authorize(2))
        .then_expect_events(vec![game_authorized(2, "20.00", "480.00")]);
    given(ready_to_play("500"))
        .when(authorize(8))
        .then_expect_events(vec![game_authorized(8, "80.00", "420.00")]);
}

#[test]
fn a_balance_of_thirty_for_fifty_is_refused_with_a_shortage_of_twenty() {
    given(ready_to_play("30.00"))
        .when(authorize(5))
        .then_expect_error(OperatorError::InsufficientBalance {
            current_balance: yuan("30.00"),
            required_amount: yuan("50.00"),
            shortage: yuan("20.00"),
        });
}

#[test]
fn a_zero_balance_is_refused_with_the_whole_cost_as_shortage() {
    given(ready_to_play("0"))
        .when(authorize(2))
        .then_expect_error(OperatorError::InsufficientBalance {
            current_balance: yuan("0"),
            required_amount: yuan("20"),
            shortage: yuan("20"),
        });
}

#[test]
fn a_cost_beyond_the_largest_amount_is_refused_not_wrapped() {
    let app = AppTerms {
        unit_price: yuan("9999999999999999.99"),
        min_players: 1,
        max_players: 100,
        ..terms()
    };
    given(ready_to_play("500"))
        .when(authorize_with(app, site(), 2))
        .then_expect_error(OperatorError::Amount(MoneyError::Overflow));
}

#[test]
fn refused_authorizations_leave_the_state_untouched() {
    let operator = replay(ready_to_play("30"));
    let before = operator.clone();
    assert!(operator.decide(authorize(5)).is_err());
    assert!(operator.decide(authorize(1)).is_err());
    assert_eq!(operator, before);
}

#[test]
#[should_panic(expected = "GameAuthorized.balance_after")]
fn applying_a_charge_with_a_wrong_balance_after_is_a_bug_that_stops() {
    replay(with(
        ready_to_play("500"),
        [game_authorized(5, "50.00", "460.00")],
    ));
}

#[test]
#[should_panic(expected = "GameAuthorized.total_cost")]
fn applying_a_charge_whose_total_is_not_players_times_price_is_a_bug_that_stops() {
    replay(with(
        ready_to_play("500"),
        [game_authorized(5, "40.00", "460.00")],
    ));
}

// ---------------------------------------------------------------- end game

fn end_game(duration_seconds: Option<u64>, now_offset: i64) -> C {
    C::EndGame {
        session_id: session(1),
        authorized_at: later(600),
        duration_seconds,
        now: later(now_offset),
    }
}

fn game_ended(duration_seconds: u64, now_offset: i64) -> E {
    E::GameEnded {
        session_id: session(1),
        duration_seconds,
        ended_at: later(now_offset),
    }
}

#[test]
fn ending_a_game_with_a_reported_duration_records_that_duration() {
    let played = with(ready_to_play("500"), [game_authorized(5, "50", "450")]);
    given(played.clone())
        .when(end_game(Some(1234), 2000))
        .then_expect_events(vec![game_ended(1234, 2000)]);
    given(played)
        .when(end_game(Some(0), 2000))
        .then_expect_events(vec![game_ended(0, 2000)]);
}

#[test]
fn ending_a_game_without_a_duration_measures_it_from_the_authorization() {
    given(with(
        ready_to_play("500"),
        [game_authorized(5, "50", "450")],
    ))
    .when(end_game(None, 600 + 754))
    .then_expect_events(vec![game_ended(754, 600 + 754)]);
}

#[test]
fn a_measured_duration_is_never_negative_when_clocks_disagree() {
    given(ready_to_play("500"))
        .when(end_game(None, 590))
        .then_expect_events(vec![game_ended(0, 590)]);
}

#[test]
fn ending_a_game_does_not_move_money() {
    let operator = replay(with(
        ready_to_play("500"),
        [game_authorized(5, "50", "450"), game_ended(60, 660)],
    ));
    assert_eq!(operator.balance, yuan("450"));
    assert!(game_ended(60, 660).money_movement().is_none());
}

// ---------------------------------------------------------------- lock, unlock, deactivate

#[test]
fn locking_an_active_account_records_the_reason_and_time() {
    given(registered())
        .when(C::LockAccount {
            reason: "可疑签名".into(),
            now: later(120),
        })
        .then_expect_events(vec![locked()]);
    assert_eq!(
        replay(with(registered(), [locked()])).status,
        AccountStatus::Locked {
            locked_at: later(120),
            reason: "可疑签名".into()
        }
    );
}

#[test]
fn locking_without_a_reason_is_refused() {
    given(registered())
        .when(C::LockAccount {
            reason: "\t".into(),
            now: later(120),
        })
        .then_expect_error(blank_field("reason", 500));
}

#[test]
fn unlocking_a_locked_account_lets_it_play_again() {
    let unlocked = E::OperatorUnlocked {
        unlocked_at: later(300),
    };
    given(with(ready_to_play("500"), [locked()]))
        .when(C::UnlockAccount { now: later(300) })
        .then_expect_events(vec![unlocked.clone()]);
    let events = with(ready_to_play("500"), [locked(), unlocked]);
    assert_eq!(replay(events.clone()).status, AccountStatus::Active);
    given(events)
        .when(authorize(5))
        .then_expect_events(vec![game_authorized(5, "50.00", "450.00")]);
}

#[test]
fn unlocking_an_account_that_is_not_locked_is_refused_as_not_locked() {
    given(registered())
        .when(C::UnlockAccount { now: later(300) })
        .then_expect_error(OperatorError::NotLocked);
}

#[test]
fn deactivating_an_account_is_recorded_whether_active_or_locked() {
    given(registered())
        .when(C::DeactivateAccount { now: later(180) })
        .then_expect_events(vec![deactivated()]);
    given(with(registered(), [locked()]))
        .when(C::DeactivateAccount { now: later(180) })
        .then_expect_events(vec![deactivated()]);
    assert_eq!(
        replay(with(registered(), [deactivated()])).status,
        AccountStatus::Deactivated {
            deactivated_at: later(180)
        }
    );
}

#[test]
fn every_change_to_a_deactivated_account_is_refused() {
    let history = with(ready_to_play("500"), [deactivated()]);
    let commands = [
        C::RotateCredentials {
            key_id: key(NEW_KEY),
            fingerprint: "f".into(),
            overlap: TimeDelta::zero(),
            now: later(200),
        },
        C::OpenSite {
            site_id: other_site(),
            name: "a".into(),
            address: "b".into(),
            now: later(200),
        },
        C::UpdateSite {
            site_id: site(),
            name: "a".into(),
            address: "b".into(),
            now: later(200),
        },
        C::CloseSite {
            site_id: site(),
            now: later(200),
        },
        C::GrantApp {
            app_id: app_id(),
            expires_at: None,
            now: later(200),
        },
        C::RevokeApp {
            app_id: app_id(),
            now: later(200),
        },
        credit("10"),
        authorize(5),
        C::LockAccount {
            reason: "x".into(),
            now: later(200),
        },
        C::UnlockAccount { now: later(200) },
        C::DeactivateAccount { now: later(200) },
    ];
    for command in commands {
        given(history.clone())
            .when(command)
            .then_expect_error(OperatorError::AccountDeactivated);
    }
}

#[test]
fn the_account_state_check_names_the_lock() {
    assert_eq!(replay(registered()).check_account_state(), Ok(()));
    assert_eq!(
        replay(with(registered(), [locked()])).check_account_state(),
        Err(OperatorError::AccountLocked {
            locked_at: later(120),
            reason: "可疑签名".into()
        })
    );
    assert_eq!(
        replay(with(registered(), [deactivated()])).check_account_state(),
        Err(OperatorError::AccountDeactivated)
    );
}

#[test]
fn the_state_of_an_operator_is_a_pure_function_of_its_events() {
    let events = with(
        ready_to_play("500"),
        [
            game_authorized(5, "50", "450"),
            locked(),
            E::OperatorUnlocked {
                unlocked_at: later(700),
            },
        ],
    );
    let a = replay(events.clone());
    let b = replay(events);
    assert_eq!(a, b);
    assert_eq!(a.balance, yuan("450"));
    assert_eq!(Operator::default().status, AccountStatus::Active);
}
