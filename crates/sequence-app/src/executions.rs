//! Rule executions: the history of rule runs, newest first.
//!
//! Listing needs the rule (deleted rules keep their history, so their id is accepted). Reading
//! one depends on another resource (the execution's rule), so the execution is looked up first
//! (`404`) and the key's permission checked afterwards (`403`), as the spec's check order
//! prescribes.

use std::collections::BTreeMap;

use sequence_core::ids::{OrgId, RuleExecutionId, TransferId};
use sequence_core::permissions::{Denied, Permissions, Scope};
use sequence_store::AnyConnection;
use sequence_store::rules::{self, ExecutionFilter, ExecutionRecord};
use sequence_store::transfers::Cursor;

use crate::transfers::stored_bounds;
use crate::{AppError, Resource};

/// An execution with the ids of the transfers it made, in action order.
#[derive(Debug, Clone)]
pub struct ExecutionView {
    /// The execution.
    pub execution: ExecutionRecord,
    /// Its transfers.
    pub transfer_ids: Vec<TransferId>,
}

async fn views(
    conn: &mut AnyConnection,
    records: Vec<ExecutionRecord>,
) -> Result<Vec<ExecutionView>, AppError> {
    let ids: Vec<&RuleExecutionId> = records.iter().map(|r| &r.id).collect();
    let mut transfer_ids: BTreeMap<RuleExecutionId, Vec<TransferId>> =
        rules::transfer_ids(conn, &ids).await?;
    Ok(records
        .into_iter()
        .map(|execution| {
            let transfer_ids = transfer_ids.remove(&execution.id).unwrap_or_default();
            ExecutionView { execution, transfer_ids }
        })
        .collect())
}

/// One page of a rule's executions, newest first, and whether more follow.
pub async fn list(
    conn: &mut AnyConnection,
    org: &OrgId,
    mut filter: ExecutionFilter,
    after: Option<&Cursor>,
    first: u32,
) -> Result<(Vec<ExecutionView>, bool), AppError> {
    let rule = filter.rule.as_str();
    if rules::find(conn, org, rule).await?.is_none() {
        return Err(AppError::not_found(Resource::Rule, rule));
    }
    (filter.from, filter.to) = stored_bounds(filter.from, filter.to)?;
    let mut rows = rules::list_executions(conn, org, &filter, after, first + 1).await?;
    let has_next_page = rows.len() > first as usize;
    rows.truncate(first as usize);
    Ok((views(conn, rows).await?, has_next_page))
}

/// One execution, if the key may read its rule's executions.
pub async fn get(
    conn: &mut AnyConnection,
    org: &OrgId,
    permissions: &Permissions,
    id: &str,
) -> Result<ExecutionView, AppError> {
    let allowed = permissions.resource_filter(Scope::ReadRuleExecutions)?;
    let record = rules::find_execution(conn, org, id)
        .await?
        .ok_or_else(|| AppError::not_found(Resource::RuleExecution, id))?;
    if !allowed.allows(record.rule_id.as_str()) {
        return Err(AppError::Denied(Denied::ResourceNotAllowed {
            scope: Scope::ReadRuleExecutions,
            resource: id.to_owned(),
        }));
    }
    let mut views = views(conn, vec![record]).await?;
    views.pop().ok_or_else(|| AppError::internal("an execution rendered to nothing"))
}
