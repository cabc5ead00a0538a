//! The SQL of [`ReceiverAuditQuery`], shared by both backends: only the filters that are set
//! become clauses, so each query can use its index (`jti`, subject, `at`, `stream_id`).

use super::ReceiverAuditQuery;

/// A value to bind, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind<'a> {
    /// A text value.
    Text(&'a str),
    /// An integer value.
    Int(i64),
}

/// The `SELECT` of `query` over `receiver_audit`, with `placeholder(n)` (1-based) for each value.
pub(crate) fn select<'a>(
    query: &'a ReceiverAuditQuery,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<Bind<'a>>) {
    let mut binds = Vec::new();
    let mut clauses = Vec::new();
    let mut push = |clause: &str, bind: Bind<'a>, binds: &mut Vec<Bind<'a>>| {
        binds.push(bind);
        clauses.push(clause.replace('?', &placeholder(binds.len())));
    };
    push("id > ?", Bind::Int(query.after_id.unwrap_or(0)), &mut binds);
    if let Some(stream) = &query.stream_key {
        push("stream_id = ?", Bind::Text(stream), &mut binds);
    }
    if let Some(jti) = &query.jti {
        push("jti = ?", Bind::Text(jti), &mut binds);
    }
    if let Some(iss) = &query.iss {
        push("iss = ?", Bind::Text(iss), &mut binds);
    }
    if let Some(since) = query.since {
        push("at >= ?", Bind::Int(since.0), &mut binds);
    }
    if let Some(subject) = &query.subject {
        push(
            "(iss, jti) IN (SELECT iss, jti FROM receiver_audit_subjects WHERE subject = ?)",
            Bind::Text(subject),
            &mut binds,
        );
    }
    binds.push(Bind::Int(i64::from(query.limit)));
    let sql = format!(
        "SELECT id, at, actor, action, stream_id, detail FROM receiver_audit WHERE {} \
         ORDER BY id{} LIMIT {}",
        clauses.join(" AND "),
        if query.newest_first { " DESC" } else { "" },
        placeholder(binds.len()),
    );
    (sql, binds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_set_filters_become_clauses() {
        let q = ReceiverAuditQuery {
            jti: Some("j".into()),
            subject: Some("user|email|a@b".into()),
            limit: 5,
            ..ReceiverAuditQuery::default()
        };
        let (sql, binds) = select(&q, |n| format!("${n}"));
        assert!(
            sql.contains("id > $1 AND jti = $2 AND (iss, jti) IN"),
            "{sql}"
        );
        assert!(sql.ends_with("LIMIT $4"), "{sql}");
        assert!(!sql.contains("stream_id ="), "{sql}");
        assert_eq!(
            binds,
            [
                Bind::Int(0),
                Bind::Text("j"),
                Bind::Text("user|email|a@b"),
                Bind::Int(5)
            ]
        );
    }
}
