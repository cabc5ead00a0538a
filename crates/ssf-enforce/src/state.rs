//! The in-memory materialised view: rows by `(kind, key)`, parsed once, and indexed by handle.
//!
//! Each row carrying an access effect is indexed under the keys of its pattern's most selective
//! clause (token, then session, device, user, ..., tenant), so a decision does one hash lookup per
//! request handle and never scans a tenant-wide list. Tombstones (account enabled, device
//! compliant, grant `none`, membership `false`) stay in `rows` to order later events but are not
//! indexed. A second index, `mentions`, lists every row naming a key in any clause; planning
//! uses it for RISC `account-purged` and `identifier-changed`.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

pub(crate) use crate::row::AccountStatus;
use crate::{
    error::EnforceError,
    handle::{HandleMap, SubjectPattern},
    policy::RiskLevel,
    row::{Cause, Row, RowKind, RowState},
};

/// What a row means, parsed from its value.
#[derive(Debug)]
pub(crate) enum Data {
    Revocation {
        before: i64,
    },
    Account(AccountStatus),
    CredentialRequired(bool),
    Device {
        compliant: bool,
    },
    Claim,
    Assurance {
        level: String,
    },
    Risk(RiskLevel),
    Grant {
        access: String,
        expires_at: Option<i64>,
    },
    GroupMember {
        group: String,
        member: bool,
    },
    Inventory,
}

/// One row, parsed.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) kind: RowKind,
    pub(crate) key: String,
    pub(crate) state: RowState,
    pub(crate) cause: Arc<Cause>,
    pub(crate) pattern: SubjectPattern,
    pub(crate) data: Data,
    /// Grant rows only: asset type and id.
    pub(crate) asset: Option<(Box<str>, Box<str>)>,
}

impl Entry {
    pub(crate) fn new(row: Row) -> Self {
        let mut asset = None;
        let data = match &row.state {
            RowState::Revocation { before } => Data::Revocation { before: *before },
            RowState::Account { status, .. } => Data::Account(*status),
            RowState::CredentialRequired { required } => Data::CredentialRequired(*required),
            RowState::Device { status, .. } => Data::Device {
                compliant: status == "compliant",
            },
            RowState::Claim { .. } => Data::Claim,
            RowState::Assurance { level, .. } => Data::Assurance {
                level: level.clone(),
            },
            RowState::Risk { level, .. } => Data::Risk(*level),
            RowState::Grant {
                asset_type,
                asset_id,
                access,
                expires_at,
            } => {
                asset = Some((asset_type.as_str().into(), asset_id.as_str().into()));
                Data::Grant {
                    access: access.clone(),
                    expires_at: *expires_at,
                }
            }
            RowState::GroupMember { group, member } => Data::GroupMember {
                group: group.clone(),
                member: *member,
            },
            RowState::Session(_) | RowState::OptState { .. } => Data::Inventory,
        };
        Self {
            kind: row.kind(),
            key: row.key,
            state: row.state,
            cause: Arc::new(row.cause),
            pattern: row.subject,
            data,
            asset,
        }
    }

    pub(crate) fn to_row(&self) -> Row {
        Row {
            key: self.key.clone(),
            subject: self.pattern.clone(),
            state: self.state.clone(),
            cause: (*self.cause).clone(),
        }
    }

    pub(crate) fn at(&self) -> i64 {
        self.cause.at
    }

    /// Whether decisions need to see it (tombstones and inventory do not).
    fn live(&self) -> bool {
        match &self.data {
            Data::Account(s) => *s != AccountStatus::Enabled,
            Data::CredentialRequired(r) => *r,
            Data::Device { compliant } => !compliant,
            Data::GroupMember { member, .. } => *member,
            Data::Inventory => false,
            Data::Revocation { .. }
            | Data::Claim
            | Data::Assurance { .. }
            | Data::Risk(_)
            | Data::Grant { .. } => true,
        }
    }
}

/// Asset type → asset id → grant rows.
pub(crate) type GrantIndex = HashMap<Box<str>, HashMap<Box<str>, Vec<Arc<Entry>>>>;

/// The rows indexed under one handle key.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub(crate) revocations: Vec<Arc<Entry>>,
    /// Account and credential-required rows.
    pub(crate) account: Vec<Arc<Entry>>,
    pub(crate) device: Vec<Arc<Entry>>,
    pub(crate) claims: Vec<Arc<Entry>>,
    pub(crate) assurance: Vec<Arc<Entry>>,
    pub(crate) risk: Vec<Arc<Entry>>,
    pub(crate) groups: Vec<Arc<Entry>>,
    /// Asset type → asset id → grants.
    pub(crate) grants: GrantIndex,
}

impl Slot {
    fn list(&mut self, e: &Entry) -> Option<&mut Vec<Arc<Entry>>> {
        Some(match e.kind {
            RowKind::Revocation => &mut self.revocations,
            RowKind::Account | RowKind::CredentialRequired => &mut self.account,
            RowKind::Device => &mut self.device,
            RowKind::Claims => &mut self.claims,
            RowKind::Assurance => &mut self.assurance,
            RowKind::Risk => &mut self.risk,
            RowKind::GroupMember => &mut self.groups,
            RowKind::Grant => {
                let (t, id) = e.asset.as_ref()?;
                self.grants
                    .entry(t.clone())
                    .or_default()
                    .entry(id.clone())
                    .or_default()
            }
            RowKind::Session | RowKind::OptState => return None,
        })
    }

    fn remove(&mut self, e: &Arc<Entry>) {
        if let Some(list) = self.list(e) {
            list.retain(|x| !Arc::ptr_eq(x, e));
        }
        if let Some((t, id)) = &e.asset
            && let Some(by_id) = self.grants.get_mut(t)
        {
            if by_id.get(id).is_some_and(Vec::is_empty) {
                by_id.remove(id);
            }
            if by_id.is_empty() {
                self.grants.remove(t);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.revocations.is_empty()
            && self.account.is_empty()
            && self.device.is_empty()
            && self.claims.is_empty()
            && self.assurance.is_empty()
            && self.risk.is_empty()
            && self.groups.is_empty()
            && self.grants.is_empty()
    }
}

/// What applying one effect (or loading one stored row) did.
#[derive(Debug)]
pub(crate) enum Applied {
    Changed,
    Stale,
    /// A stored row its kind cannot read.
    Invalid(EnforceError),
}

/// The whole state.
#[derive(Debug, Default)]
pub(crate) struct State {
    rows: [HashMap<String, Arc<Entry>>; RowKind::ALL.len()],
    pub(crate) index: HandleMap<Slot>,
    mentions: HashMap<Box<str>, BTreeSet<(RowKind, String)>>,
}

fn kind_index(kind: RowKind) -> usize {
    RowKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

impl State {
    pub(crate) fn get(&self, kind: RowKind, key: &str) -> Option<&Arc<Entry>> {
        self.rows[kind_index(kind)].get(key)
    }

    /// Every row naming `key` in any clause, in (kind, key) order.
    pub(crate) fn mentioning(&self, key: &str) -> Vec<&Arc<Entry>> {
        self.mentions
            .get(key)
            .map(|set| {
                set.iter()
                    .filter_map(|(k, key)| self.get(*k, key))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.iter().map(HashMap::len).sum()
    }

    pub(crate) fn handles(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn rows(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.rows.iter().flat_map(HashMap::values)
    }

    /// Applies a put: replaces the row unless the stored one is newer.
    pub(crate) fn put(&mut self, row: Row) -> Applied {
        let k = kind_index(row.kind());
        if self.rows[k]
            .get(&row.key)
            .is_some_and(|old| old.at() > row.at())
        {
            return Applied::Stale;
        }
        let entry = Arc::new(Entry::new(row));
        if let Some(old) = self.rows[k].insert(entry.key.clone(), Arc::clone(&entry)) {
            self.unindex(&old);
        }
        self.index(&entry);
        Applied::Changed
    }

    /// Applies a delete: removes the row unless it is newer than `at`.
    pub(crate) fn delete(&mut self, kind: RowKind, key: &str, at: i64) -> Applied {
        let k = kind_index(kind);
        if self.rows[k].get(key).is_some_and(|old| old.at() > at) {
            return Applied::Stale;
        }
        if let Some(old) = self.rows[k].remove(key) {
            self.unindex(&old);
        }
        Applied::Changed
    }

    fn index(&mut self, e: &Arc<Entry>) {
        for key in e.pattern.keys() {
            self.mentions
                .entry(key.as_str().into())
                .or_default()
                .insert((e.kind, e.key.clone()));
        }
        if !e.live() {
            return;
        }
        for key in e.pattern.index_clause() {
            let slot = self.index.entry(key.clone()).or_default();
            if let Some(list) = slot.list(e) {
                list.push(Arc::clone(e));
            }
        }
    }

    fn unindex(&mut self, e: &Arc<Entry>) {
        for key in e.pattern.keys() {
            if let Some(set) = self.mentions.get_mut(key.as_str()) {
                set.remove(&(e.kind, e.key.clone()));
                if set.is_empty() {
                    self.mentions.remove(key.as_str());
                }
            }
        }
        if !e.live() {
            return;
        }
        for key in e.pattern.index_clause() {
            if let Some(slot) = self.index.get_mut(key) {
                slot.remove(e);
                if slot.is_empty() {
                    self.index.remove(key);
                }
            }
        }
    }
}
