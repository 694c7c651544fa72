//! Prefixed identifiers (`acc_…`, `txr_…`, `rule_…`, `card_…`, `ctx_…`).
//!
//! The public API uses opaque strings with a type prefix followed by a ULID, so an id names what it
//! refers to and sorts by creation time. Ids that arrive from clients are *not* parsed: a
//! well-formed but unknown id and a malformed one are both simply "not found", which is what the
//! API documents. Only ids we mint carry the guarantee of the prefix + ULID shape.

use std::fmt;

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind minted by this server starts with.
            pub const PREFIX: &'static str = $prefix;

            /// Mints a fresh id: the prefix followed by a new ULID.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, ulid::Ulid::new()))
            }

            /// Wraps an id received from outside (a client, the database). No validation: an id
            /// that does not exist is reported as "not found" by whoever looks it up.
            pub fn from_raw(raw: impl Into<String>) -> Self {
                Self(raw.into())
            }

            /// The id as it appears on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consumes the id, returning its wire form.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

prefixed_id!(
    /// An organization: the tenant every other resource belongs to.
    OrgId, "org_"
);
prefixed_id!(
    /// An API key's public identifier (the secret part is never stored).
    ApiKeyId, "key_"
);
prefixed_id!(
    /// An entry of an organization's audit log.
    AuditEntryId, "aud_"
);
prefixed_id!(
    /// An account: income source, pod or external account.
    AccountId, "acc_"
);
prefixed_id!(
    /// A transfer between two accounts (or from/to the outside world).
    TransferId, "txr_"
);
prefixed_id!(
    /// A rule.
    RuleId, "rule_"
);
prefixed_id!(
    /// One execution of a rule.
    RuleExecutionId, "rex_"
);
prefixed_id!(
    /// A debit card linked to a pod.
    CardId, "card_"
);
prefixed_id!(
    /// A card transaction: a purchase or a refund made with a card.
    CardTransactionId, "ctx_"
);
prefixed_id!(
    /// A request, echoed in `X-Request-ID` and the `request_id` body field.
    RequestId, "req_"
);
prefixed_id!(
    /// A webhook endpoint: a URL an organization registered to receive events.
    WebhookEndpointId, "whe_"
);
prefixed_id!(
    /// A webhook event, recorded in the transaction of the change it reports.
    WebhookEventId, "evt_"
);
prefixed_id!(
    /// One event's delivery to one webhook endpoint (its attempts share it).
    WebhookDeliveryId, "whd_"
);
prefixed_id!(
    /// One HTTP attempt of a webhook delivery.
    WebhookAttemptId, "wha_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_a_ulid() {
        let id = AccountId::generate();
        let suffix = id.as_str().strip_prefix("acc_").expect("prefix");
        assert_eq!(suffix.len(), 26);
        assert!(ulid::Ulid::from_string(suffix).is_ok());
        assert_ne!(AccountId::generate(), id);
    }
}
