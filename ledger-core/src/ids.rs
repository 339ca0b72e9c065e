//! Identifier newtypes. Signatures never take a bare `Uuid` or `String` for an id.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUID v7): index-friendly in PostgreSQL.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }
        impl Default for $name {
            fn default() -> Self {
                Self(Uuid::nil())
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// An operator (an arcade company): the money stream.
    OperatorId
);
uuid_id!(
    /// An application (game) of the catalog.
    AppId
);
uuid_id!(
    /// A venue of an operator.
    SiteId
);
uuid_id!(
    /// The token handed back when a game is authorized.
    AuthorizationToken
);
uuid_id!(
    /// One manual credit by staff (a bank transfer recorded by finance).
    CreditId
);

uuid_id!(
    /// An operator's application for an app it does not hold yet.
    AppRequestId
);
uuid_id!(
    /// One refund request of an operator.
    RefundId
);
uuid_id!(
    /// One invoice request of an operator (and the invoice issued for it).
    InvoiceId
);
uuid_id!(
    /// A staff account (admin, finance, analyst).
    StaffId
);
uuid_id!(
    /// An announcement to every operator.
    AnnouncementId
);
uuid_id!(
    /// One online recharge order (paid through WeChat Pay or Alipay).
    RechargeOrderId
);
uuid_id!(
    /// One reconciliation of a gateway's daily statement with the ledger.
    ReconciliationId
);

/// Public id of an API credential (`mrk_` + 32 hex digits). The secret never travels with it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct KeyId(pub String);

impl KeyId {
    pub const PREFIX: &'static str = "mrk_";

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A headset server's session id: `{operatorId}_{timestampMillis}_{16 alphanumerics}`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Debug)]
#[serde(transparent)]
pub struct SessionId(String);

/// Why a session id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionIdError {
    #[error(
        "session id does not have the form {{operatorId}}_{{timestampMillis}}_{{16 alphanumerics}}"
    )]
    Format,
    #[error("session id names another operator")]
    OperatorMismatch,
    #[error("session id timestamp is outside the accepted window")]
    Expired,
}

/// Length of the random part of a session id.
pub const SESSION_RANDOM_LEN: usize = 16;

impl SessionId {
    /// Parses the format only; see [`SessionId::check_operator`] and
    /// [`SessionId::check_window`] for the two rules that need outside facts.
    pub fn parse(text: &str) -> Result<SessionId, SessionIdError> {
        let mut parts = text.split('_');
        let (Some(op), Some(ts), Some(random), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SessionIdError::Format);
        };
        // The operator part must be a hyphenated UUID exactly as the APIs print it.
        let op_ok =
            op.len() == 36 && Uuid::try_parse(op).is_ok_and(|u| u.hyphenated().to_string() == op);
        let ts_ok = ts.len() == 13 && ts.bytes().all(|b| b.is_ascii_digit());
        let random_ok =
            random.len() == SESSION_RANDOM_LEN && random.bytes().all(|b| b.is_ascii_alphanumeric());
        if op_ok && ts_ok && random_ok {
            Ok(SessionId(text.to_owned()))
        } else {
            Err(SessionIdError::Format)
        }
    }

    pub fn operator_id(&self) -> OperatorId {
        let op = self.0.split('_').next().expect("parsed");
        OperatorId(Uuid::try_parse(op).expect("parsed"))
    }

    pub fn timestamp_millis(&self) -> i64 {
        let ts = self.0.split('_').nth(1).expect("parsed");
        ts.parse().expect("13 digits fit in i64")
    }

    pub fn check_operator(&self, key_operator: OperatorId) -> Result<(), SessionIdError> {
        if self.operator_id() == key_operator {
            Ok(())
        } else {
            Err(SessionIdError::OperatorMismatch)
        }
    }

    /// The session's timestamp must lie within `window` of `now`.
    pub fn check_window(
        &self,
        now: DateTime<Utc>,
        window: TimeDelta,
    ) -> Result<(), SessionIdError> {
        let diff = (now.timestamp_millis() - self.timestamp_millis()).abs();
        if diff <= window.num_milliseconds() {
            Ok(())
        } else {
            Err(SessionIdError::Expired)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OP: &str = "0190f5a4-7b1c-7d3e-8f00-123456789abc";

    #[test]
    fn a_well_formed_session_id_parses_into_its_parts() {
        let id = SessionId::parse(&format!("{OP}_1763728200000_abcDEF0123456789")).unwrap();
        assert_eq!(id.operator_id().to_string(), OP);
        assert_eq!(id.timestamp_millis(), 1_763_728_200_000);
    }

    #[test]
    fn malformed_session_ids_are_refused() {
        for bad in [
            String::new(),
            format!("{OP}_1763728200000"),
            format!("{OP}_176372820000_abcDEF0123456789"),
            format!("{OP}_1763728200000_abcDEF012345678"),
            format!("{OP}_1763728200000_abcDEF012345678!"),
            format!("{OP}_1763728200000_abcDEF0123456789_x"),
            "0190f5a47b1c7d3e8f00123456789abc_1763728200000_abcDEF0123456789".to_owned(),
            format!("{}_1763728200000_abcDEF0123456789", OP.to_ascii_uppercase()),
            "not-a-uuid-at-all-but-36-chars-long!_1763728200000_abcDEF0123456789".to_owned(),
        ] {
            assert_eq!(SessionId::parse(&bad), Err(SessionIdError::Format), "{bad}");
        }
    }

    #[test]
    fn window_and_operator_rules() {
        let id = SessionId::parse(&format!("{OP}_1763728200000_abcDEF0123456789")).unwrap();
        let at = DateTime::from_timestamp_millis(1_763_728_200_000).unwrap();
        let window = TimeDelta::seconds(300);
        assert!(
            id.check_window(at + TimeDelta::seconds(300), window)
                .is_ok()
        );
        assert_eq!(
            id.check_window(at + TimeDelta::seconds(301), window),
            Err(SessionIdError::Expired)
        );
        assert!(
            id.check_window(at - TimeDelta::seconds(300), window)
                .is_ok()
        );
        assert!(id.check_operator(OP.parse().unwrap()).is_ok());
        assert_eq!(
            id.check_operator(OperatorId::new()),
            Err(SessionIdError::OperatorMismatch)
        );
    }
}
