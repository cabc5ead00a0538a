//! Planning: event + current state → effects. Never mutates; the receiver persists the effects and
//! then commits them. Effects are typed ([`Row`], one [`RowState`] variant per row kind) until
//! the receiver's store serialises them (`receiver::to_write`). Each put is dropped (counted stale) when the state already holds a newer row
//! for its key, so an older event never overwrites a newer state.

mod claims;

use std::collections::BTreeSet;

use serde_json::Value;
use ssf_types::Event;

use crate::{
    event::{EnforcementEvent, EventContext, pattern_of},
    handle::{HandleKey, SubjectPattern, member},
    policy::{DisableRevokes, EnforcementPolicy, EngineConfig, RequiredAction, RiskLevel},
    row::{AuditEntry, Cause, Effect, Outcome, Plan, Row, RowKind, RowState, Rule, SessionState},
    state::{AccountStatus, Data, State},
};

/// The overlay claim set by RISC `account-credential-change-required` in `flag` mode.
pub const FLAG_CLAIM: &str = "credential_change_required";

/// `<pattern>` or `<pattern>#<suffix>`.
pub(crate) fn row_key(pattern: &SubjectPattern, suffix: Option<&str>) -> String {
    let mut k = pattern.canonical();
    if let Some(s) = suffix {
        k.push('#');
        k.push_str(s);
    }
    k
}

pub(crate) struct Planner<'a> {
    state: &'a State,
    pub(crate) config: &'a EngineConfig,
    pub(crate) policy: &'a EnforcementPolicy,
    ctx: &'a EventContext,
    event: &'a EnforcementEvent,
    pub(crate) at: i64,
    /// The receiver's clock (epoch ms); bounds grant expiry with `at` (D-EN-03).
    now: i64,
    effects: Vec<Effect>,
    rules: Vec<Rule>,
    stale: usize,
    /// Grants and group additions refused: the source may not grant (D-EN-02).
    refused: usize,
    /// Grants whose expiry was capped (D-EN-03).
    capped: usize,
}

/// How planning ended, beside its effects.
enum Note {
    /// Effects (or stale ones) say it all.
    Done(&'static str),
    /// No access effect, by design.
    Recorded(&'static str),
    /// Not acted on.
    Ignored(&'static str),
}

impl<'a> Planner<'a> {
    fn cause(&self, rule: Rule, at: i64) -> Cause {
        Cause {
            iss: self.ctx.iss.clone(),
            jti: self.ctx.jti.clone(),
            txn: self.ctx.txn.clone(),
            event_type: self.event.event_type(),
            rule,
            at,
        }
    }

    fn note_rule(&mut self, rule: Rule) {
        if !self.rules.contains(&rule) {
            self.rules.push(rule);
        }
    }

    /// Puts a row about `subject` as of `at`, unless the state holds a newer one.
    pub(crate) fn put_at(
        &mut self,
        key: String,
        subject: &SubjectPattern,
        state: RowState,
        rule: Rule,
        at: i64,
    ) {
        if self
            .state
            .get(state.kind(), &key)
            .is_some_and(|e| e.at() > at)
        {
            self.stale += 1;
            return;
        }
        let cause = self.cause(rule, at);
        self.effects.push(Effect::Put(Row {
            key,
            subject: subject.clone(),
            state,
            cause,
        }));
        self.note_rule(rule);
    }

    pub(crate) fn put(
        &mut self,
        key: String,
        subject: &SubjectPattern,
        state: RowState,
        rule: Rule,
    ) {
        self.put_at(key, subject, state, rule, self.at);
    }

    fn delete(&mut self, kind: RowKind, key: String, rule: Rule) {
        match self.state.get(kind, &key) {
            Some(e) if e.at() > self.at => self.stale += 1,
            Some(_) => {
                let cause = self.cause(rule, self.at);
                self.effects.push(Effect::Delete { kind, key, cause });
                self.note_rule(rule);
            }
            None => {}
        }
    }

    pub(crate) fn exists(&self, kind: RowKind, key: &str) -> bool {
        self.state.get(kind, key).is_some()
    }

    fn revoke(&mut self, pattern: &SubjectPattern, rule: Rule) {
        let state = RowState::Revocation { before: self.at };
        self.put(row_key(pattern, None), pattern, state, rule);
    }

    /// Puts `state` for each user of the subject (keyed by the user); `false` if it names none.
    fn per_user(&mut self, pattern: &SubjectPattern, state: &RowState, rule: Rule) -> bool {
        let users: Vec<HandleKey> = pattern.keys_of(member::USER).cloned().collect();
        for u in &users {
            let p = SubjectPattern::single(u.clone());
            self.put(u.as_str().to_owned(), &p, state.clone(), rule);
        }
        !users.is_empty()
    }

    /// Whether one of the subject's users was purged at or after this event's time.
    fn purged_since(&self, pattern: &SubjectPattern) -> bool {
        pattern.keys_of(member::USER).any(|u| {
            self.state
                .get(RowKind::Account, u.as_str())
                .is_some_and(|e| {
                    matches!(e.data, Data::Account(AccountStatus::Purged)) && e.at() >= self.at
                })
        })
    }

    fn account(
        &mut self,
        pattern: &SubjectPattern,
        status: AccountStatus,
        reason: Option<&str>,
        rule: Rule,
    ) -> Note {
        let state = RowState::Account {
            status,
            reason: reason.map(str::to_owned),
        };
        if self.per_user(pattern, &state, rule) {
            Note::Done("account state updated")
        } else {
            Note::Ignored("the subject names no user")
        }
    }

    /// RISC §2.2: the account row says purged; every other row naming the user goes.
    fn purge(&mut self, pattern: &SubjectPattern) -> Note {
        let note = self.account(pattern, AccountStatus::Purged, None, Rule::AccountPurged);
        let users: BTreeSet<&str> = pattern
            .keys_of(member::USER)
            .map(HandleKey::as_str)
            .collect();
        let mut gone = BTreeSet::new();
        for u in &users {
            for e in self.state.mentioning(u) {
                let own_account = e.kind == RowKind::Account && users.contains(e.key.as_str());
                if !own_account && gone.insert((e.kind, e.key.clone())) {
                    self.delete(e.kind, e.key.clone(), Rule::AccountPurgedForget);
                }
            }
        }
        note
    }

    /// RISC §2.5: every row naming the old email / phone moves to the new one.
    fn identifier_changed(&mut self, pattern: &SubjectPattern, new_value: Option<&str>) -> Note {
        let [clause] = pattern.clauses() else {
            return Note::Ignored("identifier-changed needs an email or phone_number subject");
        };
        let [old] = clause.as_slice() else {
            return Note::Ignored("identifier-changed needs an email or phone_number subject");
        };
        let new = match (old.format(), new_value) {
            (_, None) => return Note::Recorded("identifier-changed without new-value"),
            ("email", Some(v)) => HandleKey::email(old.member(), v),
            ("phone_number", Some(v)) => HandleKey::phone(old.member(), v),
            // D-21: accepted, not acted on.
            _ => return Note::Ignored("identifier-changed needs an email or phone_number subject"),
        };
        for e in self.state.mentioning(old.as_str()) {
            if e.at() > self.at {
                continue;
            }
            let moved = e.pattern.replace_key(old, &new);
            let suffix = e.key.split_once('#').map(|(_, s)| s);
            self.put_at(
                row_key(&moved, suffix),
                &moved,
                e.state.clone(),
                Rule::IdentifierChanged,
                e.at(),
            );
            self.delete(e.kind, e.key.clone(), Rule::IdentifierChanged);
        }
        Note::Done("state moved to the new identifier")
    }

    /// CAEP §3.3 `create`/`update` (and RISC `account-enabled`) lift RISC §2.1 in deny/flag mode.
    fn lift_credential_requirement(&mut self, pattern: &SubjectPattern, rule: Rule) {
        let users: Vec<HandleKey> = pattern.keys_of(member::USER).cloned().collect();
        for u in &users {
            if self.exists(RowKind::CredentialRequired, u.as_str()) {
                self.put(
                    u.as_str().to_owned(),
                    &SubjectPattern::single(u.clone()),
                    RowState::CredentialRequired { required: false },
                    rule,
                );
            }
        }
        let patterns =
            std::iter::once(pattern.clone()).chain(users.into_iter().map(SubjectPattern::single));
        for p in patterns {
            let key = row_key(&p, Some(FLAG_CLAIM));
            if self.exists(RowKind::Claims, &key) {
                // Stored without `value`, which reads as the claim removed.
                let state = RowState::Claim {
                    claim: FLAG_CLAIM.to_owned(),
                    value: None,
                };
                self.put(key, &p, state, rule);
            }
        }
    }

    fn session(&mut self, pattern: &SubjectPattern, event: &Event) -> Note {
        let key = row_key(pattern, None);
        let existing = self.state.get(RowKind::Session, &key);
        let (subject, mut session) = match existing {
            Some(e) => match &e.state {
                RowState::Session(s) => (e.pattern.clone(), s.clone()),
                _ => return Note::Ignored("session row is not a session"),
            },
            None => (pattern.clone(), SessionState::default()),
        };
        let row_at = existing.map_or(self.at, |e| e.at().max(self.at));
        let set = |field: &mut Option<String>, v: Option<&String>| {
            if let Some(v) = v {
                *field = Some(v.clone());
            }
        };
        let rule = match event {
            Event::SessionEstablished(e) => {
                session.established_at = Some(self.at);
                set(&mut session.acr, e.acr.as_ref());
                if let Some(amr) = e.amr.as_ref().filter(|amr| !amr.is_empty()) {
                    session.amr = Some(amr.clone());
                }
                set(&mut session.fp_ua, e.fp_ua.as_ref());
                set(&mut session.ext_id, e.ext_id.as_ref());
                Rule::SessionEstablished
            }
            Event::SessionPresented(e) => {
                set(&mut session.fp_ua, e.fp_ua.as_ref());
                set(&mut session.ext_id, e.ext_id.as_ref());
                Rule::SessionPresented
            }
            _ => return Note::Ignored("not a session event"),
        };
        let last = session.last_seen.unwrap_or(i64::MIN);
        session.last_seen = Some(last.max(self.at));
        self.put_at(key, &subject, RowState::Session(session), rule, row_at);
        Note::Done("session inventory updated")
    }

    fn apply(&mut self, pattern: &SubjectPattern) -> Note {
        let policy = self.policy;
        match &self.event.event {
            Event::SessionRevoked(_) => self.revoke(pattern, Rule::SessionRevoked),
            Event::SessionsRevoked(_) => self.revoke(pattern, Rule::SessionsRevoked),
            Event::CredentialChange(e) => {
                let change_type = e.change_type.as_str();
                if matches!(change_type, "create" | "update") {
                    self.lift_credential_requirement(pattern, Rule::CredentialChangeSatisfies);
                }
                if policy.credential_change_revokes(e.credential_type.as_str(), change_type) {
                    self.revoke(pattern, Rule::CredentialChangeRevoke);
                } else if self.effects.is_empty() {
                    return Note::Recorded("this credential change does not revoke sessions");
                }
            }
            Event::CredentialCompromise(_) => {
                if !policy.credential_compromise_revokes {
                    return Note::Recorded("policy: credential-compromise does not revoke");
                }
                self.revoke(pattern, Rule::CredentialCompromise);
            }
            Event::AccountDisabled(e) => {
                let reason = e.reason.as_ref().map(|r| r.as_str());
                let note = self.account(
                    pattern,
                    AccountStatus::Disabled,
                    reason,
                    Rule::AccountDisabled,
                );
                let revoke = match policy.disable_revokes_sessions {
                    DisableRevokes::Never => false,
                    DisableRevokes::Always => true,
                    DisableRevokes::Hijacking => reason == Some("hijacking"),
                };
                if revoke {
                    self.revoke(pattern, Rule::AccountDisabledRevoke);
                }
                return note;
            }
            Event::AccountEnabled(_) => {
                self.lift_credential_requirement(pattern, Rule::AccountEnabled);
                return self.account(pattern, AccountStatus::Enabled, None, Rule::AccountEnabled);
            }
            Event::AccountPurged(_) => return self.purge(pattern),
            Event::AccountCredentialChangeRequired(_) => match policy.credential_change_required {
                RequiredAction::RevokeSessions => {
                    self.revoke(pattern, Rule::CredentialChangeRequired);
                }
                RequiredAction::Deny => {
                    let state = RowState::CredentialRequired { required: true };
                    if !self.per_user(pattern, &state, Rule::CredentialChangeRequired) {
                        return Note::Ignored("the subject names no user");
                    }
                }
                RequiredAction::Flag => {
                    let state = RowState::Claim {
                        claim: FLAG_CLAIM.to_owned(),
                        value: Some(Value::Bool(true)),
                    };
                    self.put(
                        row_key(pattern, Some(FLAG_CLAIM)),
                        pattern,
                        state,
                        Rule::CredentialChangeRequired,
                    );
                }
            },
            Event::IdentifierChanged(e) => {
                return self.identifier_changed(pattern, e.new_value.as_deref());
            }
            Event::OptIn(_)
            | Event::OptOutInitiated(_)
            | Event::OptOutCancelled(_)
            | Event::OptOutEffective(_) => {
                let state = match self.event.event {
                    Event::OptOutInitiated(_) => "opt-out-initiated",
                    Event::OptOutEffective(_) => "opt-out",
                    _ => "opt-in",
                };
                let state = RowState::OptState {
                    state: Some(state.to_owned()),
                };
                if !self.per_user(pattern, &state, Rule::OptState) {
                    return Note::Ignored("the subject names no user");
                }
            }
            Event::IdentifierRecycled(_)
            | Event::RecoveryActivated(_)
            | Event::RecoveryInformationChanged(_) => {
                return Note::Recorded("no access effect");
            }
            Event::TokenClaimsChange(e) => return claims::plan(self, pattern, &e.claims),
            Event::AssuranceLevelChange(e) => {
                let namespace = e.namespace.as_str();
                let state = RowState::Assurance {
                    namespace: Some(namespace.to_owned()),
                    level: e.current_level.as_str().to_owned(),
                    previous_level: e.previous_level.clone(),
                };
                self.put(
                    row_key(pattern, Some(namespace)),
                    pattern,
                    state,
                    Rule::AssuranceLevel,
                );
            }
            Event::RiskLevelChange(e) => {
                let Some(level) = RiskLevel::parse(e.current_level.as_str()) else {
                    return Note::Ignored("unknown risk level");
                };
                let state = RowState::Risk {
                    level,
                    principal: Some(e.principal.as_str().to_owned()),
                    previous_level: e.previous_level.as_ref().map(|l| l.as_str().to_owned()),
                };
                self.put(row_key(pattern, None), pattern, state, Rule::RiskLevel);
            }
            Event::DeviceComplianceChange(e) => {
                let current_status = e.current_status.as_str();
                if !matches!(current_status, "compliant" | "not-compliant") {
                    return Note::Ignored("unknown compliance status");
                }
                let state = RowState::Device {
                    status: current_status.to_owned(),
                    previous_status: Some(e.previous_status.as_str().to_owned()),
                };
                self.put(
                    row_key(pattern, None),
                    pattern,
                    state,
                    Rule::DeviceCompliance,
                );
            }
            event @ (Event::SessionEstablished(_) | Event::SessionPresented(_)) => {
                return self.session(pattern, event);
            }
            // SSF verification and stream-updated, unknown (proprietary) types, and any type
            // `ssf-types` adds before a rule here names it (D-05).
            _ => return Note::Ignored("event type has no enforcement rule"),
        }
        Note::Done("state updated")
    }

    fn finish(self, subject: Option<&SubjectPattern>, note: Note) -> Plan {
        let (outcome, note, forced_rule) = match note {
            Note::Ignored(n) => (Outcome::Ignored, n, Some(Rule::Ignored)),
            Note::Recorded(n) | Note::Done(n) if self.effects.is_empty() && self.refused > 0 => {
                (Outcome::Refused, n, None)
            }
            Note::Recorded(n) if self.effects.is_empty() => {
                (Outcome::Recorded, n, Some(Rule::Recorded))
            }
            Note::Recorded(n) | Note::Done(n) if !self.effects.is_empty() => {
                (Outcome::Applied, n, None)
            }
            Note::Recorded(_) | Note::Done(_) if self.stale > 0 => (
                Outcome::Stale,
                "the state already holds newer information",
                None,
            ),
            Note::Recorded(n) | Note::Done(n) => (Outcome::Recorded, n, Some(Rule::Recorded)),
        };
        let effects = if outcome == Outcome::Ignored {
            Vec::new()
        } else {
            self.effects
        };
        let rules = forced_rule.map_or(self.rules, |r| vec![r]);
        Plan {
            audit: AuditEntry {
                iss: self.ctx.iss.clone(),
                jti: self.ctx.jti.clone(),
                txn: self.ctx.txn.clone(),
                event_type: self.event.event_type(),
                at: self.at,
                subject: subject.map(SubjectPattern::canonical),
                outcome,
                rules,
                effects: effects.len(),
                refused: self.refused,
                capped: self.capped,
                note: note.into(),
            },
            effects,
        }
    }
}

/// Plans one event against the current state; `now` is the receiver's clock (epoch ms).
pub(crate) fn plan(
    state: &State,
    config: &EngineConfig,
    event: &EnforcementEvent,
    ctx: &EventContext,
    now: i64,
) -> Plan {
    let policy = config.policy_for(&ctx.iss);
    let opaque = match event.event {
        Event::SessionRevoked(_) | Event::SessionEstablished(_) | Event::SessionPresented(_) => {
            &policy.opaque_subject.session_events
        }
        _ => &policy.opaque_subject.other_events,
    };
    let mut p = Planner {
        state,
        config,
        policy,
        ctx,
        event,
        at: event.time_ms(ctx),
        now,
        effects: Vec::new(),
        rules: Vec::new(),
        stale: 0,
        refused: 0,
        capped: 0,
    };
    let Ok(pattern) = pattern_of(&event.subject, opaque) else {
        return p.finish(None, Note::Ignored("the subject could not be read"));
    };
    let account_event = matches!(
        event.event,
        Event::AccountEnabled(_) | Event::AccountDisabled(_) | Event::AccountPurged(_)
    );
    if !account_event && p.purged_since(&pattern) {
        p.stale += 1;
        return p.finish(
            Some(&pattern),
            Note::Done("the account was purged after this event"),
        );
    }
    let note = p.apply(&pattern);
    p.finish(Some(&pattern), note)
}
