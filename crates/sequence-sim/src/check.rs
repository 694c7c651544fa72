//! The invariants, checked against the database after every step (the card invariants:
//! statuses as the model says, refunds within their purchase, each card movement posted once;
//! purchases and refunds are also predicted one by one in `sim`).
//!
//! The checker is an independent observer: it reads the tables with its own SQL, and compares
//! them with what the model knows (the simulator's record of what committed) and with oracles
//! from `sequence-core` that are pure and separately tested (schedule arithmetic). It never calls
//! a use case.
//!
//! Cost is kept proportional to what changed: ledger entries are replayed incrementally (only
//! entries newer than the last step's, across all organizations), and the per-organization checks
//! run for the organizations a step touched, for every organization every
//! `--full-check-every` steps, and at the end.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Days, NaiveTime, TimeDelta, Utc};
use sequence_app::App;
use sequence_core::ledger::TransferStatus;
use sequence_core::rules::{CapPeriod, occurrences_between};
use sequence_store::transfers::status_list;
use sequence_store::{AnyConnection, from_millis, to_millis};
use sqlx::Row;

use crate::Violation;
use crate::model::{Hostility, Model};

/// The invariants' names, as reports print them.
pub mod invariant {
    /// Sum of an organization's ledger balances (system accounts included) is zero.
    pub const MONEY_CONSERVED: &str = "money is conserved per organization";
    /// Income sources and pods never go negative, not even in what is available.
    pub const NON_NEGATIVE: &str = "no available balance of an income source or pod is negative";
    /// `reserved` equals the in-flight reservations.
    pub const RESERVED: &str = "reserved equals the sum of in-flight reservations";
    /// Balances replay from the entries.
    pub const REPLAY: &str = "balances replay from the entries";
    /// Caps hold.
    pub const CAPS: &str = "no cap is exceeded";
    /// Scheduled occurrences.
    pub const SCHEDULES: &str = "every scheduled occurrence runs exactly once";
    /// Settlement.
    pub const SETTLES: &str = "every due transfer settles";
    /// Isolation between organizations' work.
    pub const NO_WAITING: &str = "no organization's work waits on another's";
    /// Errors.
    pub const NO_INTERNAL: &str = "no internal error reaches a client";
    /// `TOP_UP`.
    pub const TOP_UP: &str = "TOP_UP never fills the same gap twice";
    /// Timeouts.
    pub const IN_TIME: &str = "every use case finishes in time (no endless loop)";
    /// Tenants.
    pub const ISOLATION: &str = "an organization never reaches another's resources";
    /// Crash before commit.
    pub const NO_TRACE: &str = "a dropped transaction leaves no trace";
    /// Retries.
    pub const ONCE: &str = "a use case run again after a collision takes effect once";
    /// Deletion.
    pub const NOTHING_STRANDED: &str = "a deleted account holds no money and has none in flight";
    /// Concurrent changes to one rule.
    pub const NO_LOST_UPDATE: &str = "a concurrent replace and switch of a rule lose neither write";
    /// Execution counters.
    pub const COUNTERS: &str = "rule execution counters follow their transfers";
    /// The checker's own reads.
    pub const READABLE: &str = "the database can be read back";
    /// Purchases.
    pub const CARD_AUTHORIZATION: &str =
        "a purchase is accepted iff its card is active and its pod's available balance covers it";
    /// Card statuses.
    pub const CARD_STATUS: &str = "card statuses follow the documented table and the model";
    /// Refunds.
    pub const REFUNDS: &str =
        "refunds never exceed their purchase, and each card movement is posted once";
}

/// An organization's due work was processed up to `now` (a worker pass or a clock advance).
#[derive(Debug, Clone, Copy)]
pub struct Processed {
    /// The organization.
    pub org: usize,
    /// Its time when it was processed.
    pub now: DateTime<Utc>,
    /// Nothing else ran at the same time, so nothing may be left due.
    pub exclusive: bool,
}

/// A query failed: a violation of its own (the database must stay readable).
fn unreadable(error: sqlx::Error) -> Violation {
    Violation::new(invariant::READABLE, format!("a checker query failed: {error}"))
}

/// What the checker carries from one step to the next.
#[derive(Default)]
pub struct Checker {
    /// Entries up to this id were replayed.
    last_entry_id: i64,
    /// Each account's (version, balance) after the entries replayed so far.
    replay: HashMap<String, (i64, i64)>,
}

fn in_flight() -> String {
    status_list(TransferStatus::is_in_flight)
}

impl Checker {
    /// Replays the entries written since the last call, across all organizations: each account's
    /// entries continue its version and balance without a gap, and each movement's entries
    /// balance to zero and belong to a completed transfer or to a card transaction (which is
    /// settled when it exists).
    pub async fn replay_new_entries(&mut self, conn: &mut AnyConnection) -> Result<(), Violation> {
        let rows = sqlx::query(
            "SELECT e.id, COALESCE(e.transfer_id, e.card_transaction_id), e.account_id, e.amount_cents, \
             e.balance_before_cents, e.balance_after_cents, e.account_version, \
             COALESCE(t.status, CASE WHEN c.id IS NULL THEN NULL ELSE 'complete' END) \
             FROM entries e LEFT JOIN transfers t ON t.id = e.transfer_id \
             LEFT JOIN card_transactions c ON c.id = e.card_transaction_id \
             WHERE e.id > $1 ORDER BY e.id",
        )
        .bind(self.last_entry_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(unreadable)?;
        let mut per_transfer: BTreeMap<String, (i64, u32)> = BTreeMap::new();
        for row in &rows {
            let id: i64 = row.try_get(0).map_err(unreadable)?;
            let transfer: Option<String> = row.try_get(1).map_err(unreadable)?;
            let transfer = transfer.unwrap_or_else(|| "(no movement)".to_owned());
            let account: String = row.try_get(2).map_err(unreadable)?;
            let amount: i64 = row.try_get(3).map_err(unreadable)?;
            let before: i64 = row.try_get(4).map_err(unreadable)?;
            let after: i64 = row.try_get(5).map_err(unreadable)?;
            let version: i64 = row.try_get(6).map_err(unreadable)?;
            let status: Option<String> = row.try_get(7).map_err(unreadable)?;
            let status = status.unwrap_or_else(|| "missing".to_owned());
            let (last_version, balance) = self.replay.get(&account).copied().unwrap_or((0, 0));
            if version != last_version + 1
                || before != balance
                || Some(after) != before.checked_add(amount)
            {
                return Err(Violation::new(
                    invariant::REPLAY,
                    format!(
                        "entry {id} of account {account} (transfer {transfer}): version {version} \
                         after {last_version}, balance {before} -> {after} by {amount}, but the \
                         replayed balance was {balance}"
                    ),
                ));
            }
            if status != TransferStatus::Complete.as_str() {
                return Err(Violation::new(
                    invariant::REPLAY,
                    format!("transfer {transfer} has entries but is {status}"),
                ));
            }
            self.replay.insert(account, (version, after));
            let sum = per_transfer.entry(transfer).or_default();
            sum.0 += amount;
            sum.1 += 1;
            self.last_entry_id = id;
        }
        for (transfer, (sum, count)) in per_transfer {
            if sum != 0 || count != 2 {
                return Err(Violation::new(
                    invariant::MONEY_CONSERVED,
                    format!("transfer {transfer} posted {count} entries summing to {sum}"),
                ));
            }
        }
        Ok(())
    }

    /// The per-organization invariants of `org` (see the module docs); `processed` when its due
    /// work was just processed, `full` for the expensive audits.
    ///
    /// `rules_ran`: the step may have made rule transfers (otherwise caps cannot have changed:
    /// approvals and cancellations only free room). `cards_ran`: the step may have changed or
    /// used cards.
    #[allow(clippy::too_many_arguments)]
    pub async fn organization(
        &mut self,
        conn: &mut AnyConnection,
        app: &App,
        model: &mut Model,
        org: usize,
        processed: Option<Processed>,
        rules_ran: bool,
        cards_ran: bool,
        full: bool,
    ) -> Result<(), Violation> {
        let label = model.orgs[org].label.clone();
        let in_org = |violation: Violation| violation.in_org(&label);
        // After processing the organization alone, nothing of it may be due any more.
        let due_at =
            processed.filter(|p| p.exclusive && model.orgs[org].hostile.is_none()).map(|p| p.now);
        self.accounts(conn, model, org, due_at).await.map_err(in_org)?;
        if rules_ran || full {
            caps(conn, app, model, org, full).await.map_err(in_org)?;
        }
        if cards_ran || full {
            cards(conn, model, org).await.map_err(in_org)?;
        }
        if let Some(processed) = processed
            && model.orgs[org].hostile.is_none()
        {
            scheduled_runs(conn, model, org, processed.now).await.map_err(in_org)?;
        }
        if full {
            no_duplicate_occurrences(conn, model, org).await.map_err(in_org)?;
            counters(conn, model, org).await.map_err(in_org)?;
        }
        Ok(())
    }

    /// The accounts' money (conservation, signs, reservations, replay, deleted accounts, `TOP_UP`
    /// probes) and the organization's settlement schedule (live transfers in
    /// `processing`/`pending` have a next step and nothing else has one; when `due_at`, nothing is
    /// due then), in two round trips: the accounts, and one pass over the organization's
    /// transfers that are in flight or scheduled.
    async fn accounts(
        &self,
        conn: &mut AnyConnection,
        model: &Model,
        org: usize,
        due_at: Option<DateTime<Utc>>,
    ) -> Result<(), Violation> {
        let o = &model.orgs[org];
        let accounts = sqlx::query(
            "SELECT id, kind, balance_cents, reserved_cents, version, deleted_at_ms FROM accounts WHERE org_id = $1",
        )
        .bind(o.id.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(unreadable)?;
        let sql = format!(
            "SELECT source_account_id, destination_account_id, \
             CASE WHEN simulation = 0 AND status IN ({in_flight}) THEN 1 ELSE 0 END, \
             CAST(SUM(reserved_cents) AS BIGINT), CAST(SUM(amount_cents) AS BIGINT), COUNT(*), \
             SUM(CASE WHEN (simulation = 0 AND status IN ('processing', 'pending') AND next_step_at_ms IS NULL) \
                   OR ((simulation = 1 OR status NOT IN ('processing', 'pending')) AND next_step_at_ms IS NOT NULL) \
                   THEN 1 ELSE 0 END), \
             SUM(CASE WHEN next_step_at_ms <= $2 THEN 1 ELSE 0 END), MIN(next_step_at_ms) \
             FROM transfers WHERE org_id = $1 \
             AND (status IN ({in_flight}) OR reserved_cents <> 0 OR next_step_at_ms IS NOT NULL) \
             GROUP BY source_account_id, destination_account_id, \
             CASE WHEN simulation = 0 AND status IN ({in_flight}) THEN 1 ELSE 0 END",
            in_flight = in_flight()
        );
        let groups = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(o.id.as_str())
            .bind(due_at.map_or(i64::MIN, to_millis))
            .fetch_all(&mut *conn)
            .await
            .map_err(unreadable)?;
        // Per account: (reserved held by its transfers, live in-flight out, live in-flight in
        // (count, amount)).
        let mut flows: HashMap<String, (i64, i64, i64, i64)> = HashMap::new();
        let (mut odd, mut due, mut oldest) = (0_i64, 0_i64, None::<i64>);
        for row in &groups {
            let source: Option<String> = row.try_get(0).map_err(unreadable)?;
            let destination: Option<String> = row.try_get(1).map_err(unreadable)?;
            let live_in_flight: i64 = row.try_get(2).map_err(unreadable)?;
            let reserved: i64 = row.try_get(3).map_err(unreadable)?;
            let amount: i64 = row.try_get(4).map_err(unreadable)?;
            let count: i64 = row.try_get(5).map_err(unreadable)?;
            odd += row.try_get::<i64, _>(6).map_err(unreadable)?;
            due += row.try_get::<i64, _>(7).map_err(unreadable)?;
            if let Some(next) = row.try_get::<Option<i64>, _>(8).map_err(unreadable)? {
                oldest = Some(oldest.map_or(next, |o: i64| o.min(next)));
            }
            if let Some(source) = source {
                let flow = flows.entry(source).or_default();
                flow.0 += reserved;
                if live_in_flight == 1 {
                    flow.1 += amount;
                }
            }
            if let (Some(destination), 1) = (destination, live_in_flight) {
                let flow = flows.entry(destination).or_default();
                flow.2 += count;
                flow.3 += amount;
            }
        }
        if odd > 0 {
            return Err(Violation::new(
                invariant::SETTLES,
                format!("{odd} transfer(s) in flight without a next step, or settled with one"),
            ));
        }
        if let (Some(now), true) = (due_at, due > 0) {
            return Err(Violation::new(
                invariant::SETTLES,
                format!(
                    "{due} transfer(s) still due after processing at {now} (oldest step due {:?})",
                    oldest.map(from_millis)
                ),
            ));
        }
        let mut total: i128 = 0;
        for row in &accounts {
            let id: String = row.try_get(0).map_err(unreadable)?;
            let kind: String = row.try_get(1).map_err(unreadable)?;
            let balance: i64 = row.try_get(2).map_err(unreadable)?;
            let reserved: i64 = row.try_get(3).map_err(unreadable)?;
            let version: i64 = row.try_get(4).map_err(unreadable)?;
            let deleted: Option<i64> = row.try_get(5).map_err(unreadable)?;
            let (held_by_transfers, outgoing_in_flight, incoming_in_flight, incoming_amount) =
                flows.get(&id).copied().unwrap_or_default();
            total += i128::from(balance);
            let internal = kind == "income_source" || kind == "pod";
            if internal && (balance < 0 || balance - reserved < 0) {
                return Err(Violation::new(
                    invariant::NON_NEGATIVE,
                    format!("{kind} {id}: balance {balance}, reserved {reserved}"),
                ));
            }
            let expected_reserved = if internal { outgoing_in_flight } else { 0 };
            if reserved != held_by_transfers || reserved != expected_reserved {
                return Err(Violation::new(
                    invariant::RESERVED,
                    format!(
                        "{kind} {id}: reserved {reserved}, transfers hold {held_by_transfers}, \
                         live in-flight transfers from it {outgoing_in_flight}"
                    ),
                ));
            }
            let (replayed_version, replayed) = self.replay.get(&id).copied().unwrap_or((0, 0));
            if (version, balance) != (replayed_version, replayed) {
                return Err(Violation::new(
                    invariant::REPLAY,
                    format!(
                        "{kind} {id}: stored balance {balance} at version {version}, entries \
                         replay to {replayed} at version {replayed_version}"
                    ),
                ));
            }
            if deleted.is_some()
                && (internal && balance != 0
                    || reserved != 0
                    || outgoing_in_flight != 0
                    || incoming_in_flight != 0)
            {
                return Err(Violation::new(
                    invariant::NOTHING_STRANDED,
                    format!(
                        "deleted {kind} {id}: balance {balance}, reserved {reserved}, \
                         {outgoing_in_flight} going out and {incoming_in_flight} transfer(s) coming in"
                    ),
                ));
            }
            if let Some(probe) = o.probes.iter().find(|p| p.pod.as_str() == id) {
                // A `TOP_UP` probe pod holds plus has coming at most its target.
                let available = balance - reserved;
                if i128::from(available) + i128::from(incoming_amount)
                    > i128::from(probe.target.get())
                {
                    return Err(Violation::new(
                        invariant::TOP_UP,
                        format!(
                            "probe pod {} (target {}): {available} available and {incoming_amount} \
                             in flight to it",
                            model.account_label(org, &probe.pod),
                            probe.target.get()
                        ),
                    ));
                }
            }
        }
        if total != 0 {
            return Err(Violation::new(
                invariant::MONEY_CONSERVED,
                format!("the organization's {} ledger balances sum to {total}", accounts.len()),
            ));
        }
        Ok(())
    }
}

/// The organization's cards: each one's status is the model's; each purchase's refunded total is
/// the sum of its refunds (all of the same card) and at most the purchase; each card transaction
/// has exactly its two entries, the pod's moving by the amount in the transaction's direction.
async fn cards(conn: &mut AnyConnection, model: &Model, org: usize) -> Result<(), Violation> {
    let o = &model.orgs[org];
    if o.cards.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query("SELECT id, status FROM cards WHERE org_id = $1")
        .bind(o.id.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(unreadable)?;
    let stored: HashMap<String, String> = rows
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(unreadable)?;
    for (index, card) in o.cards.iter().enumerate() {
        if stored.get(card.id.as_str()).map(String::as_str) != Some(card.status.as_str()) {
            return Err(Violation::new(
                invariant::CARD_STATUS,
                format!(
                    "card c{index} ({}) is stored {:?}, the model says {}",
                    card.id,
                    stored.get(card.id.as_str()),
                    card.status
                ),
            ));
        }
    }
    let rows = sqlx::query(
        "SELECT p.id, p.amount_cents, p.refunded_cents, CAST(COALESCE(SUM(r.amount_cents), 0) AS BIGINT), \
         COUNT(r.id), SUM(CASE WHEN r.card_id <> p.card_id THEN 1 ELSE 0 END) \
         FROM card_transactions p LEFT JOIN card_transactions r ON r.purchase_id = p.id \
         WHERE p.org_id = $1 AND p.direction = 'debit' \
         GROUP BY p.id, p.amount_cents, p.refunded_cents",
    )
    .bind(o.id.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(unreadable)?;
    for row in &rows {
        let id: String = row.try_get(0).map_err(unreadable)?;
        let amount: i64 = row.try_get(1).map_err(unreadable)?;
        let refunded: Option<i64> = row.try_get(2).map_err(unreadable)?;
        let refunds: i64 = row.try_get(3).map_err(unreadable)?;
        let count: i64 = row.try_get(4).map_err(unreadable)?;
        let strays: Option<i64> = row.try_get(5).map_err(unreadable)?;
        if refunded != Some(refunds) || refunds > amount || strays.unwrap_or(0) > 0 {
            return Err(Violation::new(
                invariant::REFUNDS,
                format!(
                    "purchase {id} of {amount}: refunded total {refunded:?}, {count} refund(s) \
                     summing to {refunds}, {strays:?} of another card"
                ),
            ));
        }
    }
    let rows = sqlx::query(
        "SELECT c.id, c.direction, c.amount_cents, COUNT(e.id), \
         CAST(COALESCE(SUM(CASE WHEN e.account_id = k.account_id THEN e.amount_cents ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(e.amount_cents), 0) AS BIGINT) \
         FROM card_transactions c JOIN cards k ON k.id = c.card_id \
         LEFT JOIN entries e ON e.card_transaction_id = c.id \
         WHERE c.org_id = $1 GROUP BY c.id, c.direction, c.amount_cents",
    )
    .bind(o.id.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(unreadable)?;
    for row in &rows {
        let id: String = row.try_get(0).map_err(unreadable)?;
        let direction: String = row.try_get(1).map_err(unreadable)?;
        let amount: i64 = row.try_get(2).map_err(unreadable)?;
        let entries: i64 = row.try_get(3).map_err(unreadable)?;
        let pod_delta: i64 = row.try_get(4).map_err(unreadable)?;
        let sum: i64 = row.try_get(5).map_err(unreadable)?;
        let expected = if direction == "debit" { -amount } else { amount };
        if entries != 2 || pod_delta != expected || sum != 0 {
            return Err(Violation::new(
                invariant::REFUNDS,
                format!(
                    "card transaction {id} ({direction} {amount}): {entries} entries, the pod's \
                     moving by {pod_delta}, summing to {sum}"
                ),
            ));
        }
    }
    Ok(())
}

/// The start of the cap period containing `at` (organization clock, UTC; weeks start Monday).
fn period_start(period: CapPeriod, at: DateTime<Utc>) -> DateTime<Utc> {
    let day = at.date_naive();
    let start = match period {
        CapPeriod::PerTransfer => return at,
        CapPeriod::PerWeek => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
        CapPeriod::PerMonth => day.with_day(1).expect("a 1st"),
        CapPeriod::PerYear => day.with_day(1).and_then(|d| d.with_month(1)).expect("1 January"),
    };
    start.and_time(NaiveTime::MIN).and_utc()
}

/// Every rule transfer that uses up a cap (live, not failed) respects the cap of the definition
/// that made it: each on its own for `PER_TRANSFER`, and summed per calendar period for the
/// periodic caps, per (definition, step, group). Runs see the usage of every earlier definition
/// and step too, so the sum over one definition's transfers is a lower bound of what its last run
/// saw, and must be within its cap.
async fn caps(
    conn: &mut AnyConnection,
    app: &App,
    model: &mut Model,
    org: usize,
    full: bool,
) -> Result<(), Violation> {
    let o = &model.orgs[org];
    if !o.rules.iter().any(|r| r.capped) {
        return Ok(());
    }
    // Periods that ended a year before the last check are final (a scheduled run is dated at
    // its occurrence, which can be a little in the past); the full audit looks at all of them.
    let since = match o.caps_checked_at {
        Some(at) if !full => to_millis(period_start(CapPeriod::PerYear, at - TimeDelta::days(366))),
        _ => i64::MIN,
    };
    // One round trip for the organization: its rule transfers that use up caps.
    let rows = sqlx::query(
        "SELECT t.rule_id, e.rule_name, rt.step_index, rt.group_index, t.amount_cents, t.created_at_ms, t.id \
         FROM transfers t JOIN rule_transfers rt ON rt.transfer_id = t.id \
         JOIN rule_executions e ON e.id = rt.execution_id \
         WHERE t.org_id = $1 AND t.rule_id IS NOT NULL AND t.simulation = 0 AND t.created_at_ms >= $2 \
         AND t.status IN ('pending_approval', 'processing', 'pending', 'complete')",
    )
    .bind(o.id.as_str())
    .bind(since)
    .fetch_all(&mut *conn)
    .await
    .map_err(unreadable)?;
    type Bucket = (String, String, i64, i64, CapPeriod, DateTime<Utc>);
    let mut sums: BTreeMap<Bucket, i128> = BTreeMap::new();
    for row in &rows {
        let rule: String = row.try_get(0).map_err(unreadable)?;
        let name: String = row.try_get(1).map_err(unreadable)?;
        let step: i64 = row.try_get(2).map_err(unreadable)?;
        let group: i64 = row.try_get(3).map_err(unreadable)?;
        let amount: i64 = row.try_get(4).map_err(unreadable)?;
        let created = from_millis(row.try_get(5).map_err(unreadable)?);
        let transfer: String = row.try_get(6).map_err(unreadable)?;
        let key =
            (u32::try_from(step).unwrap_or(u32::MAX), u32::try_from(group).unwrap_or(u32::MAX));
        let Some(cap) = o.caps_by_nickname.get(&name).and_then(|caps| caps.get(&key)) else {
            continue;
        };
        if cap.period == CapPeriod::PerTransfer {
            if amount > cap.amount.get() {
                return Err(Violation::new(
                    invariant::CAPS,
                    format!(
                        "rule {rule} ({name}) step {step} group {group}: transfer {transfer} moved \
                         {amount} over its PER_TRANSFER cap {}",
                        cap.amount.get()
                    ),
                ));
            }
            continue;
        }
        let bucket = (rule, name, step, group, cap.period, period_start(cap.period, created));
        *sums.entry(bucket).or_default() += i128::from(amount);
    }
    for ((rule, name, step, group, period, start), sum) in sums {
        let cap = o.caps_by_nickname[&name][&(step as u32, group as u32)];
        if sum > i128::from(cap.amount.get()) {
            return Err(Violation::new(
                invariant::CAPS,
                format!(
                    "rule {rule} ({name}) step {step} group {group}: {sum} moved in the {period} \
                     period from {start}, over its cap {}",
                    cap.amount.get()
                ),
            ));
        }
    }
    let offset = model.orgs[org].offset_seconds;
    if model.orgs[org].hostile != Some(Hostility::CorruptClock) {
        model.orgs[org].caps_checked_at = Some(app.org_now(offset));
    }
    Ok(())
}

/// The organization's scheduled rules ran exactly their occurrences since the last check: those
/// of each window during which the rule was enabled, once each, and nothing else.
async fn scheduled_runs(
    conn: &mut AnyConnection,
    model: &mut Model,
    org: usize,
    now: DateTime<Utc>,
) -> Result<(), Violation> {
    let org_id = model.orgs[org].id.clone();
    let one_ms = TimeDelta::milliseconds(1);
    let Some(earliest) = model.orgs[org]
        .rules
        .iter()
        .filter_map(|r| r.verified_until)
        .filter(|verified| *verified < now)
        .min()
    else {
        return Ok(());
    };
    // One round trip: every scheduled execution of the organization since the earliest check.
    let rows = sqlx::query(
        "SELECT rule_id, scheduled_time_ms FROM rule_executions WHERE org_id = $1 \
         AND scheduled_time_ms > $2 AND scheduled_time_ms <= $3 ORDER BY scheduled_time_ms",
    )
    .bind(org_id.as_str())
    .bind(to_millis(earliest))
    .bind(to_millis(now))
    .fetch_all(&mut *conn)
    .await
    .map_err(unreadable)?;
    let mut runs: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    for row in &rows {
        let rule: String = row.try_get(0).map_err(unreadable)?;
        let at: i64 = row.try_get(1).map_err(unreadable)?;
        runs.entry(rule).or_default().push(from_millis(at));
    }
    for rule in &mut model.orgs[org].rules {
        let Some(verified) = rule.verified_until else { continue };
        if now <= verified {
            continue;
        }
        let mut expected: Vec<DateTime<Utc>> = Vec::new();
        for window in &rule.windows {
            let low = verified.max(window.from - one_ms);
            if now > low {
                expected.extend(occurrences_between(&window.schedule, low, now, 20_000));
            }
        }
        expected.sort();
        let actual: Vec<DateTime<Utc>> = runs
            .get(rule.id.as_str())
            .map(|all| all.iter().copied().filter(|at| *at > verified).collect())
            .unwrap_or_default();
        if actual != expected {
            let missing: Vec<_> = expected.iter().filter(|t| !actual.contains(t)).take(5).collect();
            let extra: Vec<_> = actual.iter().filter(|t| !expected.contains(t)).take(5).collect();
            return Err(Violation::new(
                invariant::SCHEDULES,
                format!(
                    "rule {} ({}) between {verified} and {now}: {} occurrence(s) expected, {} \
                     execution(s) found; missing (first 5) {missing:?}, unexpected or repeated \
                     (first 5) {extra:?}; windows {:?}",
                    rule.id,
                    rule.draft.nickname,
                    expected.len(),
                    actual.len(),
                    rule.windows
                ),
            ));
        }
        rule.verified_until = Some(now);
    }
    Ok(())
}

/// No rule has two executions for one scheduled occurrence.
async fn no_duplicate_occurrences(
    conn: &mut AnyConnection,
    model: &Model,
    org: usize,
) -> Result<(), Violation> {
    let rows = sqlx::query(
        "SELECT rule_id, scheduled_time_ms, COUNT(*) FROM rule_executions \
         WHERE org_id = $1 AND scheduled_time_ms IS NOT NULL AND simulation = 0 \
         GROUP BY rule_id, scheduled_time_ms HAVING COUNT(*) > 1",
    )
    .bind(model.orgs[org].id.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(unreadable)?;
    if let Some(row) = rows.first() {
        let rule: String = row.try_get(0).map_err(unreadable)?;
        let at: i64 = row.try_get(1).map_err(unreadable)?;
        let count: i64 = row.try_get(2).map_err(unreadable)?;
        return Err(Violation::new(
            invariant::SCHEDULES,
            format!("rule {rule} ran {count} times for its occurrence at {}", from_millis(at)),
        ));
    }
    Ok(())
}

/// An execution is `in_progress` exactly while it has transfers in flight, and counts them.
async fn counters(conn: &mut AnyConnection, model: &Model, org: usize) -> Result<(), Violation> {
    let org_id = model.orgs[org].id.as_str();
    let sql = format!(
        "SELECT e.id, e.status, e.transfers_pending, \
         (SELECT COUNT(*) FROM rule_transfers rt JOIN transfers t ON t.id = rt.transfer_id \
          WHERE rt.execution_id = e.id AND t.status IN ({in_flight})) \
         FROM rule_executions e WHERE e.org_id = $1 AND e.simulation = 0 \
         AND (e.status = 'in_progress' OR e.transfers_pending > 0)",
        in_flight = in_flight()
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(unreadable)?;
    for row in &rows {
        let id: String = row.try_get(0).map_err(unreadable)?;
        let status: String = row.try_get(1).map_err(unreadable)?;
        let pending: i64 = row.try_get(2).map_err(unreadable)?;
        let in_flight: i64 = row.try_get(3).map_err(unreadable)?;
        if pending != in_flight || (status == "in_progress") != (pending > 0) {
            return Err(Violation::new(
                invariant::COUNTERS,
                format!(
                    "execution {id} is {status} counting {pending} pending transfer(s); \
                     {in_flight} of its transfers are in flight"
                ),
            ));
        }
    }
    let sql = format!(
        "SELECT t.id, e.id, e.status FROM transfers t JOIN rule_executions e ON e.id = t.rule_execution_id \
         WHERE t.org_id = $1 AND t.simulation = 0 AND t.status IN ({in_flight}) \
         AND e.status <> 'in_progress'",
        in_flight = in_flight()
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .fetch_all(&mut *conn)
        .await
        .map_err(unreadable)?;
    if let Some(row) = rows.first() {
        let transfer: String = row.try_get(0).map_err(unreadable)?;
        let execution: String = row.try_get(1).map_err(unreadable)?;
        let status: String = row.try_get(2).map_err(unreadable)?;
        return Err(Violation::new(
            invariant::COUNTERS,
            format!("transfer {transfer} is in flight but its execution {execution} is {status}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn cap_periods_start_on_monday_the_first_and_new_year() {
        // 2025-03-05 is a Wednesday.
        let at = Utc.with_ymd_and_hms(2025, 3, 5, 17, 30, 0).unwrap();
        let midnight = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap();
        assert_eq!(period_start(CapPeriod::PerWeek, at), midnight(2025, 3, 3));
        assert_eq!(period_start(CapPeriod::PerMonth, at), midnight(2025, 3, 1));
        assert_eq!(period_start(CapPeriod::PerYear, at), midnight(2025, 1, 1));
        assert_eq!(period_start(CapPeriod::PerTransfer, at), at);
        // A Monday is its own week's start; a week can start in the previous year.
        assert_eq!(period_start(CapPeriod::PerWeek, midnight(2025, 3, 3)), midnight(2025, 3, 3));
        assert_eq!(period_start(CapPeriod::PerWeek, midnight(2025, 1, 1)), midnight(2024, 12, 30));
    }
}
