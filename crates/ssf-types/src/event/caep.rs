//! The eight CAEP 1.0 events ([CAEP §3](https://openid.net/specs/openid-caep-1_0.html#section-3)).

use serde_json::{Map, Value};

use super::common::{CaepCommon, Fields, Writer, closed};
use crate::{error::EventError, subject::Extra};

crate::open_enum! {
    /// `credential_type` of credential-change (CAEP §3.3.1) and RISC credential-compromise.
    /// Open: values agreed bilaterally are allowed (CAEP-05 exception).
    pub enum CredentialType {
        /// A password.
        Password = "password",
        /// A PIN.
        Pin = "pin",
        /// An X.509 certificate.
        X509 = "x509",
        /// A platform FIDO2 authenticator.
        Fido2Platform = "fido2-platform",
        /// A roaming FIDO2 authenticator.
        Fido2Roaming = "fido2-roaming",
        /// A FIDO U2F authenticator.
        FidoU2f = "fido-u2f",
        /// A verifiable credential.
        VerifiableCredential = "verifiable-credential",
        /// A phone, by voice.
        PhoneVoice = "phone-voice",
        /// A phone, by SMS.
        PhoneSms = "phone-sms",
        /// An authenticator app.
        App = "app",
    }
}

crate::open_enum! {
    /// `change_type` of credential-change (CAEP §3.3.1). Closed (CAEP-05, TV-NEG-07).
    pub enum ChangeType {
        /// Created.
        Create = "create",
        /// Revoked.
        Revoke = "revoke",
        /// Updated.
        Update = "update",
        /// Deleted.
        Delete = "delete",
    }
}

crate::open_enum! {
    /// `namespace` of assurance-level-change (CAEP §3.4.1). Open: custom aliases agreed by both
    /// sides are allowed (TV-CAEP-09).
    pub enum AssuranceNamespace {
        /// RFC 8176 AMR values.
        Rfc8176 = "RFC8176",
        /// RFC 6711 LoA registry.
        Rfc6711 = "RFC6711",
        /// ISO/IEC 29115.
        IsoIec29115 = "ISO-IEC-29115",
        /// NIST identity assurance levels.
        NistIal = "NIST-IAL",
        /// NIST authenticator assurance levels.
        NistAal = "NIST-AAL",
        /// NIST federation assurance levels.
        NistFal = "NIST-FAL",
    }
}

crate::open_enum! {
    /// `change_direction` of assurance-level-change (CAEP §3.4.1). Closed (CAEP-05).
    pub enum ChangeDirection {
        /// The level went up.
        Increase = "increase",
        /// The level went down.
        Decrease = "decrease",
    }
}

crate::open_enum! {
    /// `previous_status`/`current_status` of device-compliance-change (CAEP §3.5.1). Closed
    /// (CAEP-05, TV-NEG-13).
    pub enum ComplianceStatus {
        /// Compliant with policy.
        Compliant = "compliant",
        /// Not compliant.
        NotCompliant = "not-compliant",
    }
}

crate::open_enum! {
    /// `current_level`/`previous_level` of risk-level-change (CAEP §3.8.1), upper case. Closed
    /// (CAEP-05, TV-NEG-14).
    pub enum RiskLevel {
        /// Low.
        Low = "LOW",
        /// Medium.
        Medium = "MEDIUM",
        /// High.
        High = "HIGH",
    }
}

crate::open_enum! {
    /// `principal` of risk-level-change (CAEP §3.8.1). Open: other SSF principals are allowed.
    pub enum RiskPrincipal {
        /// A user.
        User = "USER",
        /// A device.
        Device = "DEVICE",
        /// A session.
        Session = "SESSION",
        /// A tenant.
        Tenant = "TENANT",
        /// An organizational unit.
        OrgUnit = "ORG_UNIT",
        /// A group.
        Group = "GROUP",
    }
}

macro_rules! known {
    ($field:literal, $v:expr) => {
        closed($field, $v.is_known(), $v.as_str())?
    };
}

/// CAEP `session-revoked` ([CAEP §3.1](https://openid.net/specs/openid-caep-1_0.html#section-3.1),
/// CAEP-10): no fields of its own. CAEPIOP §3.1 wants a non-empty `reason_admin` (profile rule,
/// not checked here).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SessionRevoked {
    /// The common optional claims.
    pub common: CaepCommon,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl SessionRevoked {
    /// An event with no optional claim.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, EventError> {
        let mut f = Fields::new(value)?;
        Ok(Self {
            common: CaepCommon::read(&mut f)?,
            extra: f.rest(),
        })
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut w = Writer::new(&self.extra);
        self.common.write(&mut w);
        w.finish()
    }
}

/// CAEP `token-claims-change` ([CAEP §3.2](https://openid.net/specs/openid-caep-1_0.html#section-3.2),
/// CAEP-11).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenClaimsChange {
    /// `claims`: claim name -> new value, at least one (REQUIRED; any JSON value).
    pub claims: Map<String, Value>,
    /// The common optional claims.
    pub common: CaepCommon,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl TokenClaimsChange {
    /// An event announcing `claims` (must not be empty to be valid).
    pub fn new(claims: Map<String, Value>) -> Self {
        Self {
            claims,
            common: CaepCommon::new(),
            extra: Extra::new(),
        }
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, EventError> {
        let mut f = Fields::new(value)?;
        let claims = f.object("claims")?;
        Ok(Self {
            claims,
            common: CaepCommon::read(&mut f)?,
            extra: f.rest(),
        })
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut w = Writer::new(&self.extra);
        w.put("claims", self.claims.clone());
        self.common.write(&mut w);
        w.finish()
    }
}

/// CAEP `credential-change` ([CAEP §3.3](https://openid.net/specs/openid-caep-1_0.html#section-3.3),
/// CAEP-12).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CredentialChange {
    /// `credential_type` (REQUIRED; open).
    pub credential_type: CredentialType,
    /// `change_type` (REQUIRED; closed).
    pub change_type: ChangeType,
    /// `friendly_name`.
    pub friendly_name: Option<String>,
    /// `x509_issuer`.
    pub x509_issuer: Option<String>,
    /// `x509_serial`.
    pub x509_serial: Option<String>,
    /// `fido2_aaguid`.
    pub fido2_aaguid: Option<String>,
    /// The common optional claims.
    pub common: CaepCommon,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl CredentialChange {
    /// An event with the required fields.
    pub fn new(credential_type: CredentialType, change_type: ChangeType) -> Self {
        Self {
            credential_type,
            change_type,
            friendly_name: None,
            x509_issuer: None,
            x509_serial: None,
            fido2_aaguid: None,
            common: CaepCommon::new(),
            extra: Extra::new(),
        }
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, EventError> {
        let mut f = Fields::new(value)?;
        let credential_type: CredentialType = f.enum_("credential_type")?;
        let change_type: ChangeType = f.enum_("change_type")?;
        known!("change_type", change_type);
        Ok(Self {
            credential_type,
            change_type,
            friendly_name: f.opt_string("friendly_name")?,
            x509_issuer: f.opt_string("x509_issuer")?,
            x509_serial: f.opt_string("x509_serial")?,
            fido2_aaguid: f.opt_string("fido2_aaguid")?,
            common: CaepCommon::read(&mut f)?,
            extra: f.rest(),
        })
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut w = Writer::new(&self.extra);
        w.put("credential_type", self.credential_type.as_str());
        w.put("change_type", self.change_type.as_str());
        w.opt("friendly_name", self.friendly_name.as_deref());
        w.opt("x509_issuer", self.x509_issuer.as_deref());
        w.opt("x509_serial", self.x509_serial.as_deref());
        w.opt("fido2_aaguid", self.fido2_aaguid.as_deref());
        self.common.write(&mut w);
        w.finish()
    }
}

/// CAEP `assurance-level-change` ([CAEP §3.4](https://openid.net/specs/openid-caep-1_0.html#section-3.4),
/// CAEP-13). Without `previous_level` the previous level is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AssuranceLevelChange {
    /// `namespace` (REQUIRED; open; TV-NEG-15).
    pub namespace: AssuranceNamespace,
    /// `current_level` (REQUIRED).
    pub current_level: String,
    /// `previous_level`.
    pub previous_level: Option<String>,
    /// `change_direction` (closed); SHOULD accompany `previous_level`.
    pub change_direction: Option<ChangeDirection>,
    /// The common optional claims.
    pub common: CaepCommon,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl AssuranceLevelChange {
    /// An event with the required fields.
    pub fn new(namespace: AssuranceNamespace, current_level: impl Into<String>) -> Self {
        Self {
            namespace,
            current_level: current_level.into(),
            previous_level: None,
            change_direction: None,
            common: CaepCommon::new(),
            extra: Extra::new(),
        }
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, EventError> {
        let mut f = Fields::new(value)?;
        let namespace = f.enum_("namespace")?;
        let current_level = f.string("current_level")?;
        let previous_level = f.opt_string("previous_level")?;
        let change_direction: Option<ChangeDirection> = f.opt_enum("change_direction")?;
        if let Some(d) = &change_direction {
            known!("change_direction", d);
        }
        Ok(Self {
            namespace,
            current_level,
            previous_level,
            change_direction,
            common: CaepCommon::read(&mut f)?,
            extra: f.rest(),
        })
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut w = Writer::new(&self.extra);
        w.put("namespace", self.namespace.as_str());
        w.put("current_level", self.current_level.as_str());
        w.opt("previous_level", self.previous_level.as_deref());
        w.opt(
            "change_direction",
            self.change_direction.as_ref().map(|d| d.as_str()),
        );
        self.common.write(&mut w);
        w.finish()
    }
}

/// CAEP `device-compliance-change` ([CAEP §3.5](https://openid.net/specs/openid-caep-1_0.html#section-3.5),
/// CAEP-14).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceComplianceChange {
    /// `previous_status` (REQUIRED; closed).
    pub previous_status: ComplianceStatus,
    /// `current_status` (REQUIRED; closed).
    pub current_status: ComplianceStatus,
    /// The common optional claims.
    pub common: CaepCommon,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl DeviceComplianceChange {
    /// An event with the required fields.
    pub fn new(previous_status: ComplianceStatus, current_status: ComplianceStatus) -> Self {
        Self {
            previous_status,
            current_status,
            common: CaepCommon::new(),
            extra: Extra::new(),
        }
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, EventError> {
        let mut f = Fields::new(value)?;
        let previous_status: ComplianceStatus = f.enum_("previous_status")?;
        let current_status: ComplianceStatus = f.enum_("current_status")?;
        known!("previous_status", previous_status);
        known!("current_status", current_status);
        Ok(Self {
            previous_status,
            current_status,
            common: CaepCommon::read(&mut f)?,
            extra: f.rest(),
        })
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut w = Writer::new(&self.extra);
        w.put("previous_status", self.previous_status.as_str());
        w.put("current_status", self.current_status.as_str());
        self.common.write(&mut w);
        w.finish()
    }
}

/// CAEP `session-established` ([CAEP §3.6](https://openid.net/specs/openid-caep-1_0.html#section-3.6),
/// CAEP-15). `amr` must be an array (a string, as in one 2024 draft example, is refused).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SessionEstablished {
    /// `fp_ua`: user-agent fingerprint.
    pub fp_ua: Option<String>,
    /// `acr` (ID Token semantics).
    pub acr: Option<String>,
    /// `amr` (ID Token semantics).
    pub amr: Option<Vec<String>>,
    /// `ext_id`: external session id.
    pub ext_id: Option<String>,
    /// The common optional claims.
    pub common: CaepCommon,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl SessionEstablished {
    /// An event with no optional field.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, EventError> {
        let mut f = Fields::new(value)?;
        Ok(Self {
            fp_ua: f.opt_string("fp_ua")?,
            acr: f.opt_string("acr")?,
            amr: f.opt_string_array("amr")?,
            ext_id: f.opt_string("ext_id")?,
            common: CaepCommon::read(&mut f)?,
            extra: f.rest(),
        })
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut w = Writer::new(&self.extra);
        w.opt("fp_ua", self.fp_ua.as_deref());
        w.opt("acr", self.acr.as_deref());
        w.opt("amr", self.amr.clone());
        w.opt("ext_id", self.ext_id.as_deref());
        self.common.write(&mut w);
        w.finish()
    }
}

/// CAEP `session-presented` ([CAEP §3.7](https://openid.net/specs/openid-caep-1_0.html#section-3.7),
/// CAEP-16).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SessionPresented {
    /// `fp_ua`: user-agent fingerprint.
    pub fp_ua: Option<String>,
    /// `ext_id`: external session id.
    pub ext_id: Option<String>,
    /// The common optional claims.
    pub common: CaepCommon,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl SessionPresented {
    /// An event with no optional field.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, EventError> {
        let mut f = Fields::new(value)?;
        Ok(Self {
            fp_ua: f.opt_string("fp_ua")?,
            ext_id: f.opt_string("ext_id")?,
            common: CaepCommon::read(&mut f)?,
            extra: f.rest(),
        })
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut w = Writer::new(&self.extra);
        w.opt("fp_ua", self.fp_ua.as_deref());
        w.opt("ext_id", self.ext_id.as_deref());
        self.common.write(&mut w);
        w.finish()
    }
}

/// CAEP `risk-level-change` ([CAEP §3.8](https://openid.net/specs/openid-caep-1_0.html#section-3.8),
/// CAEP-17). Without `previous_level` the previous level is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RiskLevelChange {
    /// `principal` (REQUIRED; open).
    pub principal: RiskPrincipal,
    /// `current_level` (REQUIRED; closed).
    pub current_level: RiskLevel,
    /// `previous_level` (closed).
    pub previous_level: Option<RiskLevel>,
    /// `risk_reason` (RECOMMENDED).
    pub risk_reason: Option<String>,
    /// The common optional claims.
    pub common: CaepCommon,
    /// Unknown members, kept.
    pub extra: Extra,
}

impl RiskLevelChange {
    /// An event with the required fields.
    pub fn new(principal: RiskPrincipal, current_level: RiskLevel) -> Self {
        Self {
            principal,
            current_level,
            previous_level: None,
            risk_reason: None,
            common: CaepCommon::new(),
            extra: Extra::new(),
        }
    }

    pub(crate) fn parse(value: &Value) -> Result<Self, EventError> {
        let mut f = Fields::new(value)?;
        let principal = f.enum_("principal")?;
        let current_level: RiskLevel = f.enum_("current_level")?;
        known!("current_level", current_level);
        let previous_level: Option<RiskLevel> = f.opt_enum("previous_level")?;
        if let Some(p) = &previous_level {
            known!("previous_level", p);
        }
        Ok(Self {
            principal,
            current_level,
            previous_level,
            risk_reason: f.opt_string("risk_reason")?,
            common: CaepCommon::read(&mut f)?,
            extra: f.rest(),
        })
    }

    pub(crate) fn to_json(&self) -> Map<String, Value> {
        let mut w = Writer::new(&self.extra);
        w.put("principal", self.principal.as_str());
        w.put("current_level", self.current_level.as_str());
        w.opt(
            "previous_level",
            self.previous_level.as_ref().map(|l| l.as_str()),
        );
        w.opt("risk_reason", self.risk_reason.as_deref());
        self.common.write(&mut w);
        w.finish()
    }
}
