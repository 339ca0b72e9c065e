//! Given/when/then tests of the `StaffMember` aggregate (one staff account).

use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use ledger_core::Aggregate;
use ledger_core::metadata::ActorRole;
use ledger_core::staff_account::{
    STAFF_NAME_MAX, StaffCommand as C, StaffError, StaffEvent as E, StaffMember,
};

use crate::fixtures::*;

fn given(events: Vec<E>) -> AggregateTestExecutor<StaffMember> {
    TestFramework::<StaffMember>::with(()).given(events)
}

fn replay_staff(events: impl IntoIterator<Item = E>) -> StaffMember {
    let mut staff = StaffMember::default();
    for event in events {
        staff.apply(event);
    }
    staff
}

fn create(username: &str, name: &str, role: ActorRole) -> C {
    C::CreateStaff {
        staff_id: staff_id(),
        username: username.into(),
        name: name.into(),
        role,
        now: t0(),
    }
}

fn created() -> E {
    E::StaffCreated {
        staff_id: staff_id(),
        username: "fin_li".into(),
        name: "李财务".into(),
        role: ActorRole::FinanceSpecialist,
        created_at: t0(),
    }
}

fn disabled() -> E {
    E::StaffDisabled {
        disabled_at: later(10),
    }
}

fn bad_username() -> StaffError {
    StaffError::InvalidField {
        field: "username",
        reason: "3 to 20 of A-Z a-z 0-9 _".into(),
    }
}

fn bad_role() -> StaffError {
    StaffError::InvalidField {
        field: "role",
        reason: "a staff role".into(),
    }
}

// ---------------------------------------------------------------- creation

#[test]
fn creating_a_staff_account_records_its_username_name_and_role() {
    given(vec![])
        .when(create("fin_li", "李财务", ActorRole::FinanceSpecialist))
        .then_expect_events(vec![created()]);
    let staff = replay_staff([created()]);
    assert_eq!(staff.id, Some(staff_id()));
    assert_eq!(staff.username, "fin_li");
    assert_eq!(staff.name, "李财务");
    assert_eq!(staff.role, Some(ActorRole::FinanceSpecialist));
    assert!(!staff.disabled);
}

#[test]
fn creating_a_staff_account_twice_is_refused() {
    given(vec![created()])
        .when(create("fin_li", "李财务", ActorRole::FinanceSpecialist))
        .then_expect_error(StaffError::AlreadyExists);
}

#[test]
fn a_username_outside_the_rules_is_refused() {
    for username in ["ab", &"a".repeat(21), "名字abc", "has space", "dash-ed", ""] {
        given(vec![])
            .when(create(username, "李财务", ActorRole::Admin))
            .then_expect_error(bad_username());
    }
    for username in ["abc", &"A_9".repeat(6), "fin_li_01"] {
        let result = given(vec![])
            .when(create(username, "李财务", ActorRole::Admin))
            .inspect_result();
        assert!(result.is_ok(), "{username}: {result:?}");
    }
}

#[test]
fn a_blank_or_too_long_name_is_refused() {
    let refused = StaffError::InvalidField {
        field: "name",
        reason: format!("1 to {STAFF_NAME_MAX} characters"),
    };
    for name in [String::new(), "  ".into(), "名".repeat(STAFF_NAME_MAX + 1)] {
        given(vec![])
            .when(create("fin_li", &name, ActorRole::Admin))
            .then_expect_error(refused.clone());
    }
    let at_limit = given(vec![])
        .when(create(
            "fin_li",
            &"名".repeat(STAFF_NAME_MAX),
            ActorRole::Admin,
        ))
        .inspect_result();
    assert!(at_limit.is_ok(), "{at_limit:?}");
}

#[test]
fn every_staff_role_may_be_given_at_creation() {
    for role in ActorRole::STAFF {
        given(vec![])
            .when(create("staff_1", "员工", role))
            .then_expect_events(vec![E::StaffCreated {
                staff_id: staff_id(),
                username: "staff_1".into(),
                name: "员工".into(),
                role,
                created_at: t0(),
            }]);
    }
}

#[test]
fn a_role_that_is_not_a_staff_role_is_refused_at_creation() {
    for role in [
        ActorRole::Operator,
        ActorRole::HeadsetServer,
        ActorRole::System,
    ] {
        given(vec![])
            .when(create("staff_1", "员工", role))
            .then_expect_error(bad_role());
    }
}

#[test]
fn commands_to_a_staff_account_never_created_are_refused_as_not_found() {
    for command in [
        C::ChangeRole {
            role: ActorRole::Admin,
            now: t0(),
        },
        C::Disable { now: t0() },
        C::Enable { now: t0() },
        C::ChangePassword { now: t0() },
        C::ResetPassword { now: t0() },
    ] {
        given(vec![])
            .when(command)
            .then_expect_error(StaffError::NotFound);
    }
}

// ---------------------------------------------------------------- role

#[test]
fn changing_the_role_records_the_new_role() {
    let changed = E::StaffRoleChanged {
        role: ActorRole::FinanceManager,
        changed_at: later(5),
    };
    given(vec![created()])
        .when(C::ChangeRole {
            role: ActorRole::FinanceManager,
            now: later(5),
        })
        .then_expect_events(vec![changed.clone()]);
    assert_eq!(
        replay_staff([created(), changed]).role,
        Some(ActorRole::FinanceManager)
    );
}

#[test]
fn changing_to_the_same_role_records_nothing() {
    given(vec![created()])
        .when(C::ChangeRole {
            role: ActorRole::FinanceSpecialist,
            now: later(5),
        })
        .then_expect_events(vec![]);
}

#[test]
fn changing_to_a_role_that_is_not_a_staff_role_is_refused() {
    for role in [
        ActorRole::Operator,
        ActorRole::HeadsetServer,
        ActorRole::System,
    ] {
        given(vec![created()])
            .when(C::ChangeRole {
                role,
                now: later(5),
            })
            .then_expect_error(bad_role());
    }
}

// ---------------------------------------------------------------- disable and enable

#[test]
fn disabling_an_account_records_it_and_disabling_again_records_nothing() {
    given(vec![created()])
        .when(C::Disable { now: later(10) })
        .then_expect_events(vec![disabled()]);
    assert!(replay_staff([created(), disabled()]).disabled);
    given(vec![created(), disabled()])
        .when(C::Disable { now: later(20) })
        .then_expect_events(vec![]);
}

#[test]
fn enabling_a_disabled_account_records_it_and_enabling_again_records_nothing() {
    let enabled = E::StaffEnabled {
        enabled_at: later(30),
    };
    given(vec![created(), disabled()])
        .when(C::Enable { now: later(30) })
        .then_expect_events(vec![enabled.clone()]);
    assert!(!replay_staff([created(), disabled(), enabled.clone()]).disabled);
    given(vec![created()])
        .when(C::Enable { now: later(30) })
        .then_expect_events(vec![]);
    given(vec![created(), disabled(), enabled])
        .when(C::Enable { now: later(40) })
        .then_expect_events(vec![]);
}

// ---------------------------------------------------------------- passwords

#[test]
fn changing_the_own_password_is_recorded() {
    given(vec![created()])
        .when(C::ChangePassword { now: later(50) })
        .then_expect_events(vec![E::StaffPasswordChanged {
            changed_at: later(50),
        }]);
}

#[test]
fn a_disabled_account_may_not_change_its_password() {
    given(vec![created(), disabled()])
        .when(C::ChangePassword { now: later(50) })
        .then_expect_error(StaffError::Disabled);
}

#[test]
fn a_super_admin_may_reset_the_password_even_of_a_disabled_account() {
    for history in [vec![created()], vec![created(), disabled()]] {
        given(history)
            .when(C::ResetPassword { now: later(60) })
            .then_expect_events(vec![E::StaffPasswordReset {
                reset_at: later(60),
            }]);
    }
}

#[test]
fn password_events_change_no_state() {
    let events = [
        created(),
        E::StaffPasswordChanged {
            changed_at: later(50),
        },
        E::StaffPasswordReset {
            reset_at: later(60),
        },
    ];
    assert_eq!(replay_staff(events), replay_staff([created()]));
}
