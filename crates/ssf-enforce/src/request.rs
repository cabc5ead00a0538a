//! The question: who (the token's handles and facts), what (resource) and how (access).
//!
//! The tower layer builds one from a verified access token with
//! [`AccessRequest::from_claims`]; the AuthZEN endpoint from the evaluation body
//! (`subject.properties` → claims, `resource` → [`Resource`], `action.name` → access).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{handle::HandleKey, handle::member, policy::TokenClaimMapping};

/// An asset: its type (e.g. `customer`) and id (e.g. `C2148`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resource {
    /// The asset type.
    pub asset_type: String,
    /// The asset id.
    pub asset_id: String,
}

/// One access check. Times are NumericDate seconds, as in the token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessRequest {
    /// The token's handles (user, session, device, tenant, token); see [`HandleKey`].
    pub handles: Vec<HandleKey>,
    /// The token's `iat`. Without it, every matching revocation applies.
    pub iat: Option<i64>,
    /// The token's `auth_time`.
    pub auth_time: Option<i64>,
    /// The token's `acr`.
    pub acr: Option<String>,
    /// The token's roles.
    pub roles: Vec<String>,
    /// The token's static groups.
    pub groups: Vec<String>,
    /// The asset asked for; `None` checks only the session, account, device, risk and assurance.
    pub resource: Option<Resource>,
    /// The access wanted (a level of the policy's `access_levels`); `None` means the default.
    pub access: Option<String>,
}

fn claim_str<'a>(claims: &'a Map<String, Value>, name: Option<&str>) -> Option<&'a str> {
    name.and_then(|n| claims.get(n))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn claim_list(claims: &Map<String, Value>, name: Option<&str>) -> Vec<String> {
    match name.and_then(|n| claims.get(n)) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

impl AccessRequest {
    /// Handles and facts from a verified token's claims. Session, device and tenant claims give
    /// an `opaque` handle and, with an issuer, an `iss_sub` one.
    pub fn from_claims(claims: &Map<String, Value>, mapping: &TokenClaimMapping) -> Self {
        let mut handles = Vec::with_capacity(8);
        let iss = claim_str(claims, Some(&mapping.issuer));
        let sub = claim_str(claims, Some(&mapping.subject));
        if let (Some(iss), Some(sub)) = (iss, sub) {
            handles.push(HandleKey::iss_sub(member::USER, iss, sub));
        }
        if mapping.opaque_user_from_subject
            && let Some(sub) = sub
        {
            handles.push(HandleKey::opaque(member::USER, sub));
        }
        if let Some(email) = claim_str(claims, mapping.email.as_deref()) {
            handles.push(HandleKey::email(member::USER, email));
        }
        if let Some(phone) = claim_str(claims, mapping.phone.as_deref()) {
            handles.push(HandleKey::phone(member::USER, phone));
        }
        for (m, claim) in [
            (member::SESSION, &mapping.session),
            (member::DEVICE, &mapping.device),
            (member::TENANT, &mapping.tenant),
        ] {
            if let Some(id) = claim_str(claims, claim.as_deref()) {
                handles.push(HandleKey::opaque(m, id));
                if let Some(iss) = iss {
                    handles.push(HandleKey::iss_sub(m, iss, id));
                }
            }
        }
        if let (Some(iss), Some(jti)) = (iss, claim_str(claims, mapping.token_id.as_deref())) {
            handles.push(HandleKey::jwt_id(iss, jti));
        }
        let num = |name: &str| claims.get(name).and_then(Value::as_i64);
        Self {
            handles,
            iat: num(&mapping.iat),
            auth_time: num(&mapping.auth_time),
            acr: claim_str(claims, Some(&mapping.acr)).map(str::to_owned),
            roles: claim_list(claims, mapping.roles.as_deref()),
            groups: claim_list(claims, mapping.groups.as_deref()),
            resource: None,
            access: None,
        }
    }

    /// The same request for an asset.
    #[must_use]
    pub fn with_resource(
        mut self,
        asset_type: impl Into<String>,
        asset_id: impl Into<String>,
    ) -> Self {
        self.resource = Some(Resource {
            asset_type: asset_type.into(),
            asset_id: asset_id.into(),
        });
        self
    }

    /// The same request for an access level.
    #[must_use]
    pub fn with_access(mut self, access: impl Into<String>) -> Self {
        self.access = Some(access.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn claims_become_handles() {
        let claims = json!({"iss": "https://idp/", "sub": "u1", "email": "Jane@X.example", "sid": "s1",
            "device_id": "d1", "tid": "t1", "jti": "j1", "iat": 10, "auth_time": 9, "acr": "nist-aal2",
            "roles": ["support"], "groups": "tier1"});
        let r =
            AccessRequest::from_claims(claims.as_object().unwrap(), &TokenClaimMapping::default());
        let keys: Vec<&str> = r.handles.iter().map(HandleKey::as_str).collect();
        assert_eq!(
            keys,
            [
                "user|iss_sub|https://idp/|u1",
                "user|email|jane@x.example",
                "session|opaque|s1",
                "session|iss_sub|https://idp/|s1",
                "device|opaque|d1",
                "device|iss_sub|https://idp/|d1",
                "tenant|opaque|t1",
                "tenant|iss_sub|https://idp/|t1",
                "token|jwt_id|https://idp/|j1",
            ]
        );
        assert_eq!((r.iat, r.auth_time), (Some(10), Some(9)));
        assert_eq!(r.roles, ["support"]);
        assert_eq!(r.groups, ["tier1"]);
    }
}
