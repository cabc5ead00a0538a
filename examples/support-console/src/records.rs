//! The console's data: customer records (critical: a just-in-time grant is needed) and
//! knowledge-base articles (open to the `support-agent` role). In memory; it is an example.

use std::{
    collections::BTreeMap,
    sync::{PoisonError, RwLock},
};

use serde_json::{Value, json};

/// Customer records and articles, by id.
#[derive(Debug, Default)]
pub struct RecordStore {
    customers: RwLock<BTreeMap<String, Value>>,
    articles: RwLock<BTreeMap<String, Value>>,
    runbooks: BTreeMap<String, Value>,
}

impl RecordStore {
    /// The example data: customers `C2148` and `C9999`, article `article-42`, runbook
    /// `db-failover`.
    pub fn seeded() -> Self {
        let mut store = Self::default();
        store.runbooks.insert(
            "db-failover".to_owned(),
            json!({"id": "db-failover", "title": "Fail the customer database over to the standby"}),
        );
        store.put_customer(
            "C2148",
            json!({"id": "C2148", "name": "Contoso Ltd", "plan": "enterprise", "notes": []}),
        );
        store.put_customer(
            "C9999",
            json!({"id": "C9999", "name": "Fabrikam Inc", "plan": "standard", "notes": []}),
        );
        store
            .articles
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                "article-42".to_owned(),
                json!({"id": "article-42", "title": "How to reset a customer's password"}),
            );
        store
    }

    /// A customer record.
    pub fn customer(&self, id: &str) -> Option<Value> {
        self.customers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Replaces a customer record.
    pub fn put_customer(&self, id: &str, record: Value) {
        self.customers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), record);
    }

    /// Merges `update`'s members into an existing record; `None` when there is none.
    pub fn update_customer(&self, id: &str, update: &Value) -> Option<Value> {
        let mut customers = self
            .customers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let record = customers.get_mut(id)?;
        if let (Some(target), Some(changes)) = (record.as_object_mut(), update.as_object()) {
            for (k, v) in changes {
                if k != "id" {
                    target.insert(k.clone(), v.clone());
                }
            }
        }
        Some(record.clone())
    }

    /// A runbook (read-only example data).
    pub fn runbook(&self, id: &str) -> Option<Value> {
        self.runbooks.get(id).cloned()
    }

    /// An article.
    pub fn article(&self, id: &str) -> Option<Value> {
        self.articles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_merge_and_keep_the_id() {
        let s = RecordStore::seeded();
        let r = s
            .update_customer("C2148", &json!({"id": "X", "plan": "gold"}))
            .unwrap();
        assert_eq!(
            (r["id"].as_str(), r["plan"].as_str()),
            (Some("C2148"), Some("gold"))
        );
        assert!(s.update_customer("C0000", &json!({})).is_none());
        assert!(s.article("article-42").is_some());
        assert!(s.runbook("db-failover").is_some());
    }
}
