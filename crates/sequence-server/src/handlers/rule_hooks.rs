//! Where the ledger hands over to the rules engine. The ledger code calls these at the moments
//! rules care about; the rules engine decides what, if anything, happens. Each runs inside the
//! caller's transaction, so a rule execution commits together with the event that caused it.

use chrono::{DateTime, Utc};
use sequence_store::Tx;
use sequence_store::orgs::Organization;
use sequence_store::transfers::TransferRecord;

use crate::error::ApiError;
use crate::state::Server;

impl Server {
    /// Money arrived in `transfer.destination` (a sandbox deposit, or an incoming transfer that
    /// just completed): fire the account's `ON_FUNDS_TRANSFERRED` rule, if any.
    pub(crate) async fn on_funds_arrived(
        &self,
        _tx: &mut Tx,
        _org: &Organization,
        _transfer: &TransferRecord,
        _now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        Ok(())
    }

    /// A transfer made by a rule changed status: keep its execution's counters and status in step.
    pub(crate) async fn on_rule_transfer_changed(
        &self,
        _tx: &mut Tx,
        _transfer: &TransferRecord,
        _now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        Ok(())
    }

    /// Runs every scheduled rule occurrence of `org` due at or before `now`, oldest first, in
    /// the caller's transaction. Returns how many executions ran.
    pub(crate) async fn run_due_schedules(
        &self,
        _tx: &mut Tx,
        _org: &Organization,
        _now: DateTime<Utc>,
    ) -> Result<u32, ApiError> {
        Ok(0)
    }
}
