//! Unit tests of the grant lifecycle's pure functions.

use serde_json::json;

use super::*;
use crate::{config::SystemKind, ticket::TicketEventKind};

fn system() -> SystemConfig {
    SystemConfig::new(SystemKind::Generic, "0123456789abcdef")
}

fn person(email: &str) -> Person {
    Person {
        email: Some(email.into()),
        ..Person::default()
    }
}

fn ev(kind: TicketEventKind, at: i64, assignee: AssigneeUpdate) -> TicketEvent {
    TicketEvent {
        system: "g".into(),
        ticket_id: "T-1".into(),
        event_id: format!("e{at}"),
        delivery_id: format!("e{at}"),
        kind,
        assignee,
        previous_assignee: None,
        fields: [("customer_id".to_owned(), json!("C2148"))].into(),
        fields_complete: false,
        occurred_at: UnixMillis(at),
        sequence: None,
        label: None,
        aliases: Vec::new(),
    }
}

fn apply(prev: Option<&TicketState>, e: &TicketEvent) -> TicketState {
    match transition(&system(), prev, e) {
        Transition::Apply(s) => s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn assign_then_close_then_late_assign_is_stale() {
    let jane = AssigneeUpdate::Person(person("jane@example.com"));
    let s1 = apply(None, &ev(TicketEventKind::Assigned, 10, jane.clone()));
    assert!(s1.open);
    assert_eq!(s1.assigned_at, Some(UnixMillis(10)));
    let s2 = apply(
        Some(&s1),
        &ev(TicketEventKind::Closed, 20, AssigneeUpdate::Keep),
    );
    assert!(!s2.open);
    assert_eq!(
        s2.assignee, s1.assignee,
        "closing keeps who it was assigned to"
    );
    assert!(matches!(
        transition(
            &system(),
            Some(&s2),
            &ev(TicketEventKind::Assigned, 15, jane.clone())
        ),
        Transition::Stale { .. }
    ));
    assert!(
        matches!(
            transition(
                &system(),
                Some(&s2),
                &ev(TicketEventKind::Assigned, 20, jane.clone())
            ),
            Transition::Stale { .. }
        ),
        "close wins ties"
    );
    let s3 = apply(Some(&s2), &ev(TicketEventKind::Assigned, 30, jane));
    assert!(s3.open, "a newer event reopens");
    assert_eq!(s3.assigned_at, Some(UnixMillis(30)));
}

fn seq(mut e: TicketEvent, sequence: i64) -> TicketEvent {
    e.sequence = Some(sequence);
    e
}

/// ServiceNow sends `sys_updated_on` to the second: two updates in one second are ordered
/// by `sys_mod_count`, whatever order they arrive in.
#[test]
fn same_second_updates_follow_the_sequence() {
    let jane = AssigneeUpdate::Person(person("jane@example.com"));
    let bob = AssigneeUpdate::Person(person("bob@example.com"));
    let first = seq(ev(TicketEventKind::Assigned, 10, jane.clone()), 6);
    let second = seq(ev(TicketEventKind::Reassigned, 10, bob), 7);

    let in_order = apply(Some(&apply(None, &first)), &second);
    assert_eq!(in_order.assignee, Some(person("bob@example.com")));
    assert_eq!(in_order.last_sequence, Some(7));
    assert!(!in_order.conflict);

    let newer_first = apply(None, &second);
    assert!(
        matches!(
            transition(&system(), Some(&newer_first), &first),
            Transition::Stale { .. }
        ),
        "the older assignment arriving last never wins"
    );
    assert!(
        matches!(
            transition(&system(), Some(&newer_first), &second),
            Transition::Stale { .. }
        ),
        "the same version again changes nothing"
    );

    // A reopen later in the same second beats the close: the sequence says so.
    let closed = apply(
        None,
        &seq(ev(TicketEventKind::Closed, 10, AssigneeUpdate::Keep), 8),
    );
    let reopened = apply(
        Some(&closed),
        &seq(ev(TicketEventKind::Assigned, 10, jane), 9),
    );
    assert!(reopened.open);
}

/// Without a sequence, a tie between two events that disagree grants neither.
#[test]
fn ties_without_a_sequence_grant_neither_assignee() {
    let jane = AssigneeUpdate::Person(person("jane@example.com"));
    let bob = AssigneeUpdate::Person(person("bob@example.com"));
    let s1 = apply(None, &ev(TicketEventKind::Assigned, 10, bob.clone()));
    let s2 = apply(Some(&s1), &ev(TicketEventKind::Assigned, 10, jane));
    assert!(s2.conflict);
    assert_eq!(s2.assignee, None, "the possibly older assignee is not kept");
    let s3 = apply(
        Some(&s2),
        &ev(TicketEventKind::Updated, 10, AssigneeUpdate::Keep),
    );
    assert!(s3.conflict, "another tie does not settle it");
    let s4 = apply(Some(&s3), &ev(TicketEventKind::Updated, 11, bob));
    assert!(!s4.conflict, "a strictly newer event settles it");
    assert_eq!(s4.assignee, Some(person("bob@example.com")));

    // A tie that agrees (the same assignment delivered twice) is no conflict.
    let same = apply(
        Some(&s1),
        &ev(TicketEventKind::Updated, 10, AssigneeUpdate::Keep),
    );
    assert!(!same.conflict);
    assert_eq!(same.assignee, Some(person("bob@example.com")));
}

#[test]
fn close_before_assign_grants_nothing() {
    let closed = apply(None, &ev(TicketEventKind::Closed, 20, AssigneeUpdate::Keep));
    assert!(!closed.open);
    let late = ev(
        TicketEventKind::Assigned,
        10,
        AssigneeUpdate::Person(person("jane@example.com")),
    );
    assert_eq!(
        transition(&system(), Some(&closed), &late),
        Transition::Stale {
            known_at: UnixMillis(20)
        }
    );
}

#[test]
fn updates_keep_the_assignment_epoch() {
    let s1 = apply(
        None,
        &ev(
            TicketEventKind::Assigned,
            10,
            AssigneeUpdate::Person(person("Jane@example.com")),
        ),
    );
    let s2 = apply(
        Some(&s1),
        &ev(
            TicketEventKind::Updated,
            20,
            AssigneeUpdate::Person(person("jane@example.com")),
        ),
    );
    assert_eq!(s2.assigned_at, Some(UnixMillis(10)));
    let s3 = apply(
        Some(&s2),
        &ev(
            TicketEventKind::Updated,
            30,
            AssigneeUpdate::Person(person("bob@example.com")),
        ),
    );
    assert_eq!(s3.assigned_at, Some(UnixMillis(30)));
    let s4 = apply(
        Some(&s3),
        &ev(TicketEventKind::Updated, 40, AssigneeUpdate::Unassigned),
    );
    assert_eq!((s4.assignee, s4.assigned_at), (None, None));
}

fn grant(id: &str, who: &str, asset: &str, access: &str, exp: i64) -> ActiveGrant {
    ActiveGrant {
        grant_id: id.into(),
        subject_key: format!("email:{who}"),
        asset_type: "customer".into(),
        asset_id: asset.into(),
        access: access.into(),
        expires_at: UnixMillis(exp),
    }
}

fn want(who: &str, asset: &str, access: &str) -> Want {
    Want {
        subject: ssf_types::SubjectId::email(who),
        subject_key: format!("email:{who}"),
        asset_type: "customer".into(),
        asset_id: asset.into(),
        access: access.into(),
    }
}

#[test]
fn diffs() {
    let g = grant("g1", "jane@x", "C1", "read", 100);
    assert_eq!(
        diff(&[], &Ok(want("jane@x", "C1", "read"))),
        vec![GrantChange::Create(want("jane@x", "C1", "read"))]
    );
    assert!(diff(std::slice::from_ref(&g), &Ok(want("jane@x", "C1", "read"))).is_empty());
    assert_eq!(
        diff(
            std::slice::from_ref(&g),
            &Ok(want("jane@x", "C1", "read_write"))
        ),
        vec![GrantChange::ChangeAccess {
            grant_id: "g1".into(),
            access: "read_write".into()
        }]
    );
    assert_eq!(
        diff(std::slice::from_ref(&g), &Ok(want("bob@x", "C1", "read"))),
        vec![
            GrantChange::End {
                grant_id: "g1".into(),
                reason: EndReason::Reassigned
            },
            GrantChange::Create(want("bob@x", "C1", "read"))
        ]
    );
    assert_eq!(
        diff(std::slice::from_ref(&g), &Err(NoGrant::Closed)),
        vec![GrantChange::End {
            grant_id: "g1".into(),
            reason: EndReason::Closed
        }]
    );
    assert_eq!(
        diff(std::slice::from_ref(&g), &Ok(want("jane@x", "C2", "read")))[0],
        GrantChange::End {
            grant_id: "g1".into(),
            reason: EndReason::AssetChanged
        }
    );
}

#[test]
fn effective_is_the_highest_level_then_the_latest_expiry() {
    let levels = ["read", "read_write"];
    let rank = |l: &str| levels.iter().position(|x| *x == l);
    let a = grant("a", "j", "C1", "read", 500);
    let b = grant("b", "j", "C1", "read_write", 100);
    let c = grant("c", "j", "C1", "read_write", 200);
    let (g, level, exp) = effective([&a, &b, &c], rank).unwrap();
    assert_eq!(
        (g.grant_id.as_str(), level.as_str(), exp),
        ("c", "read_write", UnixMillis(200))
    );
    assert!(effective(std::iter::empty::<&ActiveGrant>(), rank).is_none());
}
