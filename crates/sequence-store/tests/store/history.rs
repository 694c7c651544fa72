//! A generated, mixed history for the listing tests (`plans`, `listings`): two organizations,
//! each with an income source, three pods and a bank account, rules (manual and scheduled), rule
//! executions with their transfers, and plain transfers on both sides of every account, in every
//! status, origin and direction, live and simulated, many created in the same millisecond as the
//! one before (ties broken by id), some without a source or a destination (the outside world),
//! some in flight with a settlement step scheduled, and debit cards on two pods with purchases and
//! refunds (each refund of an earlier purchase of its card). Deterministic: a seed picks everything but
//! the ids, which are generated (so id order is independent of time order, as in production).
//!
//! Rows are inserted through the store's own functions, one transaction per organization.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sequence_core::cards::{CardStatus, CardTransactionDirection, CardType};
use sequence_core::ids::{
    AccountId, CardId, CardTransactionId, RuleExecutionId, RuleId, TransferId,
};
use sequence_core::ids::{WebhookAttemptId, WebhookDeliveryId, WebhookEndpointId, WebhookEventId};
use sequence_core::ledger::{
    AccountKind, ExternalAccountType, TransferDirection, TransferErrorCode, TransferOrigin,
    TransferStatus,
};
use sequence_core::money::Cents;
use sequence_core::rules::{
    Action, ActionKind, Rule, RuleStatus, Schedule, ScheduleKind, Step, Trigger, TriggerKind,
};
use sequence_core::webhooks::{AttemptOutcome, DeliveryStatus, EventType};
use sequence_store::Store;
use sequence_store::accounts::{self, AccountRecord};
use sequence_store::cards::{self, CardRecord, CardTransactionRecord};
use sequence_store::orgs::{self, Organization};
use sequence_store::rules::{
    self, ExecutionRecord, ExecutionStatus, ExecutionTrigger, RuleRecord, RuleTransfer,
    TransferCounters, TransferOutcome,
};
use sequence_store::transfers::{self, TransferRecord};
use sequence_store::webhooks::{self, AttemptRecord, EndpointRecord, EventRecord, NewDelivery};

/// How much history to make for one organization.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Plain (non-rule) transfers.
    pub transfers: usize,
    /// Rules (half of them scheduled, with a next occurrence).
    pub rules: usize,
    /// Executions of each of the first two rules (each with up to three transfers).
    pub executions_per_rule: usize,
    /// Card transactions (purchases and refunds) over the organization's three cards.
    pub card_transactions: usize,
}

/// One organization's generated history, as inserted.
pub struct History {
    /// The organization.
    pub org: Organization,
    /// Income source, three pods, bank account (in that order).
    pub accounts: Vec<AccountRecord>,
    /// Its rules, in creation order.
    pub rules: Vec<RuleRecord>,
    /// Executions of `rules[0]` and `rules[1]`.
    pub executions: Vec<ExecutionRecord>,
    /// Every transfer, plain and made by executions.
    pub transfers: Vec<TransferRecord>,
    /// Three cards: two on the first pod, one on the second.
    pub cards: Vec<CardRecord>,
    /// Every card transaction, in insertion (time) order.
    pub card_transactions: Vec<CardTransactionRecord>,
    /// Webhook endpoints (live, then deleted), deliveries and attempts.
    pub webhooks: WebhookHistory,
}

/// One organization's webhook history: [`LIVE_ENDPOINTS`] live endpoints and many deleted ones,
/// an event for every other live transfer, delivered to two of the live endpoints (mostly
/// delivered or failed, some pending at times spread over forty days, some waiting), and their
/// attempts.
pub struct WebhookHistory {
    /// Live endpoints first, then deleted ones.
    pub endpoints: Vec<EndpointRecord>,
    /// Every delivery.
    pub deliveries: Vec<NewDelivery>,
    /// Every attempt.
    pub attempts: Vec<AttemptRecord>,
}

/// The instant the generated histories start from.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

/// A small deterministic generator (SplitMix64): the tests need no `rand` dependency.
pub struct Dice(u64);

impl Dice {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Dice {
        Dice(seed)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        usize::try_from(z % u64::try_from(n).unwrap()).unwrap()
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Generates and inserts one organization's history.
pub async fn load(store: &Store, name: &str, size: Size, dice: &mut Dice) -> History {
    let org = Organization::new(name, epoch());
    let account = |kind, name: &str| AccountRecord {
        id: AccountId::generate(),
        org_id: org.id.clone(),
        kind,
        name: name.to_owned(),
        description: None,
        icon: None,
        beneficiary_name: name.to_owned(),
        institution_name: None,
        routing_number: None,
        account_number: None,
        balance: Cents::ZERO,
        reserved: Cents::ZERO,
        reported_balance: None,
        last_statement_balance: None,
        next_payment_minimum: None,
        next_payment_due_date: None,
        balance_updated_at: epoch(),
        created_at: epoch(),
        updated_at: epoch(),
        deleted_at: None,
    };
    let accounts = vec![
        account(AccountKind::IncomeSource, "Payroll"),
        account(AccountKind::Pod, "Savings"),
        account(AccountKind::Pod, "Taxes"),
        account(AccountKind::Pod, "Travel"),
        account(AccountKind::External(ExternalAccountType::Depository), "Bank"),
    ];
    let rules: Vec<RuleRecord> = (0..size.rules).map(|n| rule(&org, &accounts, n, dice)).collect();

    // Plain transfers over a span of time; executions fall at random instants of the same span.
    let mut transfers = Vec::new();
    let mut clock = epoch();
    for _ in 0..size.transfers {
        // One in five shares its predecessor's millisecond.
        if !dice.chance(20) {
            clock += TimeDelta::milliseconds(1 + i64::try_from(dice.below(5_000)).unwrap());
        }
        transfers.push(plain_transfer(&org, &accounts, clock, dice));
    }
    let span_ms = (clock - epoch()).num_milliseconds().max(1);
    let mut executions = Vec::new();
    let mut links = Vec::new();
    for rule in rules.iter().take(2) {
        let mut created = epoch();
        let step = span_ms / i64::try_from(size.executions_per_rule.max(1)).unwrap();
        for _ in 0..size.executions_per_rule {
            if !dice.chance(20) {
                created += TimeDelta::milliseconds(
                    1 + i64::try_from(dice.below(usize::try_from(step * 2).unwrap())).unwrap(),
                );
            }
            let (execution, made) = execution(&org, &accounts, rule, created, dice);
            for (position, transfer) in made.iter().enumerate() {
                links.push((
                    execution.id.clone(),
                    rule.rule.id.clone(),
                    RuleTransfer {
                        transfer_id: transfer.id.clone(),
                        position: u32::try_from(position).unwrap(),
                        step_index: 0,
                        action_index: u32::try_from(position).unwrap(),
                        group_index: u32::try_from(position % 2).unwrap(),
                        outcome: outcome(transfer.status),
                    },
                ));
            }
            transfers.extend(made);
            executions.push(execution);
        }
    }

    // Cards draw from dice of their own, so the rest of the history is what it was before cards
    // existed (the plan test's other plans were chosen on that data).
    let dice = &mut Dice::new(0xCA4D ^ u64::try_from(size.card_transactions).unwrap());
    let cards: Vec<CardRecord> =
        [(1, CardType::Virtual), (1, CardType::Physical), (2, CardType::Virtual)]
            .into_iter()
            .enumerate()
            .map(|(n, (pod, card_type))| {
                let created = epoch() + TimeDelta::seconds(i64::try_from(n).unwrap());
                CardRecord {
                    id: CardId::generate(),
                    org_id: org.id.clone(),
                    account_id: accounts[pod].id.clone(),
                    card_type,
                    status: *dice.pick(&[CardStatus::Active, CardStatus::Frozen, CardStatus::Lost]),
                    last_four: format!("{:04}", dice.below(10_000)),
                    holder_name: name.to_owned(),
                    expiration_date: "01/28".to_owned(),
                    created_at: created,
                    updated_at: created,
                }
            })
            .collect();
    let card_transactions = card_history(&org, &cards, size.card_transactions, span_ms, dice);

    let mut tx = store.begin().await.unwrap();
    orgs::insert(&mut tx, &org).await.unwrap();
    for account in &accounts {
        accounts::insert(&mut tx, account).await.unwrap();
    }
    for card in &cards {
        cards::insert(&mut tx, card).await.unwrap();
    }
    for transaction in &card_transactions {
        cards::insert_transaction(&mut tx, transaction).await.unwrap();
    }
    for rule in &rules {
        rules::insert(&mut tx, rule).await.unwrap();
    }
    for transfer in &transfers {
        transfers::insert(&mut tx, transfer).await.unwrap();
    }
    for execution in &executions {
        rules::insert_execution(&mut tx, execution).await.unwrap();
    }
    for (execution, rule, link) in &links {
        rules::insert_rule_transfers(&mut tx, &org.id, rule, execution, std::slice::from_ref(link))
            .await
            .unwrap();
    }
    let webhooks = load_webhooks(&mut tx, &org, &transfers).await;
    tx.commit().await.unwrap();
    History { org, accounts, rules, executions, transfers, cards, card_transactions, webhooks }
}

/// Live webhook endpoints per organization (the first ones of [`WebhookHistory::endpoints`]).
pub const LIVE_ENDPOINTS: usize = 6;

/// Generates and inserts `org`'s webhook history (see [`WebhookHistory`]) in `tx`.
async fn load_webhooks(
    tx: &mut sequence_store::Tx,
    org: &Organization,
    transfers: &[TransferRecord],
) -> WebhookHistory {
    // Its own dice, so adding webhooks left the rest of the history (and its plans) as it was.
    let dice = &mut Dice::new(u64::try_from(transfers.len()).unwrap());
    let endpoint = |n: usize| EndpointRecord {
        id: WebhookEndpointId::generate(),
        org_id: org.id.clone(),
        url: format!("http://localhost:4242/{n}"),
        event_types: None,
        description: None,
        secret: format!("whsec_{n:064}"),
        created_at: epoch() + TimeDelta::seconds(i64::try_from(n).unwrap()),
    };
    let endpoints: Vec<EndpointRecord> = (0..LIVE_ENDPOINTS + 1_000).map(endpoint).collect();
    for (n, record) in endpoints.iter().enumerate() {
        webhooks::insert_endpoint(tx, record).await.unwrap();
        if n >= LIVE_ENDPOINTS {
            webhooks::delete_endpoint(tx, &org.id, record.id.as_str(), epoch(), epoch())
                .await
                .unwrap();
        }
    }
    let mut deliveries = Vec::new();
    let mut attempts = Vec::new();
    for transfer in transfers.iter().filter(|t| !t.simulation).step_by(2) {
        let event = EventRecord {
            id: WebhookEventId::generate(),
            org_id: org.id.clone(),
            event_type: EventType::TransferCreated,
            subject_id: transfer.id.to_string(),
            payload: "{}".to_owned(),
            created_at: transfer.created_at,
        };
        let seq = webhooks::insert_event(tx, &event).await.unwrap();
        let first = dice.below(LIVE_ENDPOINTS);
        let second = (first + 1 + dice.below(LIVE_ENDPOINTS - 1)) % LIVE_ENDPOINTS;
        for endpoint in [&endpoints[first], &endpoints[second]] {
            // Pending deliveries are due over forty days from the epoch (the plan test looks
            // for due work at day 20: about half of them).
            let (status, next) = match dice.below(10) {
                0 | 1 => {
                    let at = epoch()
                        + TimeDelta::minutes(i64::try_from(dice.below(60 * 24 * 40)).unwrap());
                    (DeliveryStatus::Pending, Some(at))
                }
                2 => (DeliveryStatus::Waiting, None),
                3 => (DeliveryStatus::Failed, None),
                _ => (DeliveryStatus::Delivered, None),
            };
            let delivery = NewDelivery {
                id: WebhookDeliveryId::generate(),
                org_id: org.id.clone(),
                endpoint_id: endpoint.id.clone(),
                event_id: event.id.clone(),
                event_seq: seq,
                subject_id: event.subject_id.clone(),
                status,
                next_attempt_at: next,
                created_at: event.created_at,
                updated_at: event.created_at,
            };
            webhooks::insert_delivery(tx, &delivery).await.unwrap();
            let tries = match status {
                DeliveryStatus::Waiting => 0,
                DeliveryStatus::Failed => 3,
                _ => 1,
            };
            for attempt in 1..=tries {
                let record = AttemptRecord {
                    id: WebhookAttemptId::generate(),
                    org_id: org.id.clone(),
                    endpoint_id: endpoint.id.clone(),
                    delivery_id: delivery.id.clone(),
                    event_id: event.id.clone(),
                    event_type: event.event_type,
                    attempt,
                    response_status: Some(500),
                    error: Some("HTTP 500".to_owned()),
                    duration_ms: 10,
                    outcome: AttemptOutcome::Retrying,
                    next_attempt_at: None,
                    created_at: event.created_at + TimeDelta::seconds(i64::from(attempt)),
                };
                webhooks::insert_attempt(tx, &record).await.unwrap();
                attempts.push(record);
            }
            deliveries.push(delivery);
        }
    }
    WebhookHistory { endpoints, deliveries, attempts }
}

/// `count` card transactions over `span_ms`, most on the first card: purchases, and now and then
/// a refund of part of an earlier purchase of the same card (never more than remains of it).
fn card_history(
    org: &Organization,
    cards: &[CardRecord],
    count: usize,
    span_ms: i64,
    dice: &mut Dice,
) -> Vec<CardTransactionRecord> {
    let mut made: Vec<CardTransactionRecord> = Vec::with_capacity(count);
    let step =
        usize::try_from((span_ms / i64::try_from(count.max(1)).unwrap()).max(1) * 2).unwrap();
    let mut clock = epoch();
    for _ in 0..count {
        // One in five shares its predecessor's millisecond.
        if !dice.chance(20) {
            clock += TimeDelta::milliseconds(1 + i64::try_from(dice.below(step)).unwrap());
        }
        let card = if dice.chance(70) { &cards[0] } else { dice.pick(&cards[1..]) };
        let refundable: Vec<usize> = (0..made.len())
            .filter(|&i| {
                let t = &made[i];
                t.card_id == card.id && t.refunded.is_some_and(|r| r < t.amount)
            })
            .collect();
        let base = CardTransactionRecord {
            id: CardTransactionId::generate(),
            org_id: org.id.clone(),
            card_id: card.id.clone(),
            direction: CardTransactionDirection::Debit,
            amount: Cents::new(1 + i64::try_from(dice.below(50_000)).unwrap()),
            description: None,
            merchant_name: Some("Shop".to_owned()),
            purchase_id: None,
            refunded: Some(Cents::ZERO),
            created_at: clock,
        };
        if !refundable.is_empty() && dice.chance(25) {
            let purchase = &mut made[*dice.pick(&refundable)];
            let remaining = purchase.amount.get() - purchase.refunded.unwrap().get();
            let amount =
                1 + i64::try_from(dice.below(usize::try_from(remaining).unwrap())).unwrap();
            purchase.refunded = Some(Cents::new(purchase.refunded.unwrap().get() + amount));
            let purchase_id = purchase.id.clone();
            made.push(CardTransactionRecord {
                direction: CardTransactionDirection::Credit,
                amount: Cents::new(amount),
                purchase_id: Some(purchase_id),
                refunded: None,
                ..base
            });
        } else {
            made.push(base);
        }
    }
    made
}

fn rule(org: &Organization, accounts: &[AccountRecord], n: usize, dice: &mut Dice) -> RuleRecord {
    let scheduled = n % 2 == 1;
    let kind = if scheduled { TriggerKind::Scheduled } else { TriggerKind::Manual };
    let created = epoch() + TimeDelta::seconds(i64::try_from(n).unwrap());
    let action = |group_index| Action {
        kind: ActionKind::Fixed { amount: Cents::new(1_000) },
        source: accounts[0].id.clone(),
        destination: accounts[1].id.clone(),
        group_index,
        up_to_enabled: false,
        limit: None,
    };
    RuleRecord {
        rule: Rule {
            id: RuleId::generate(),
            nickname: format!("rule {n}"),
            description: None,
            status: if scheduled { RuleStatus::Enabled } else { RuleStatus::Disabled },
            trigger: Trigger {
                kind,
                account_id: Some(accounts[0].id.clone()),
                schedule: scheduled
                    .then_some(Schedule { kind: ScheduleKind::Daily, start: epoch() }),
            },
            steps: vec![Step { conditions: None, actions: vec![action(0), action(1)] }],
        },
        org_id: org.id.clone(),
        // Next occurrences spread over a year; some share an instant (ties by id).
        next_run_at: scheduled.then(|| {
            epoch() + TimeDelta::hours(i64::try_from(dice.below(24 * 365) / 3 * 3).unwrap())
        }),
        created_at: created,
        updated_at: created,
        deleted_at: None,
    }
}

fn direction(
    source: Option<&AccountRecord>,
    destination: Option<&AccountRecord>,
) -> TransferDirection {
    let internal = |a: Option<&AccountRecord>| a.is_some_and(|a| a.kind.is_internal());
    match (internal(source), internal(destination)) {
        (true, true) => TransferDirection::Internal,
        (true, false) => TransferDirection::MoneyOut,
        _ => TransferDirection::MoneyIn,
    }
}

fn transfer(
    org: &Organization,
    source: Option<&AccountRecord>,
    destination: Option<&AccountRecord>,
    status: TransferStatus,
    simulation: bool,
    created: DateTime<Utc>,
    dice: &mut Dice,
) -> TransferRecord {
    let scheduled = !simulation
        && matches!(status, TransferStatus::Processing | TransferStatus::Pending)
        && dice.chance(70);
    TransferRecord {
        id: TransferId::generate(),
        org_id: org.id.clone(),
        source: source.map(|a| a.id.clone()),
        destination: destination.map(|a| a.id.clone()),
        amount: Cents::new(1 + i64::try_from(dice.below(100_000)).unwrap()),
        direction: direction(source, destination),
        origin: *dice.pick(TransferOrigin::ALL),
        status,
        error_code: (status == TransferStatus::Error)
            .then_some(TransferErrorCode::InsufficientFunds),
        description: None,
        simulation,
        reserved: Cents::ZERO,
        rule_id: None,
        rule_execution_id: None,
        processing_started_at: Some(created),
        next_step_at: scheduled.then(|| {
            created + TimeDelta::minutes(1 + i64::try_from(dice.below(60 * 24 * 30)).unwrap())
        }),
        created_at: created,
        updated_at: created,
        completed_at: (status == TransferStatus::Complete).then_some(created),
    }
}

fn plain_transfer(
    org: &Organization,
    accounts: &[AccountRecord],
    created: DateTime<Utc>,
    dice: &mut Dice,
) -> TransferRecord {
    let (source, destination) = match dice.below(10) {
        // From the outside world (a deposit) or to it.
        0 => (None, Some(&accounts[dice.below(4)])),
        1 => (Some(&accounts[dice.below(4)]), None),
        _ => {
            let source = dice.below(accounts.len());
            let destination = (source + 1 + dice.below(accounts.len() - 1)) % accounts.len();
            (Some(&accounts[source]), Some(&accounts[destination]))
        }
    };
    let status = *dice.pick(TransferStatus::ALL);
    let simulation = dice.chance(15);
    transfer(org, source, destination, status, simulation, created, dice)
}

fn outcome(status: TransferStatus) -> TransferOutcome {
    match status {
        TransferStatus::Complete => TransferOutcome::Completed,
        TransferStatus::Error | TransferStatus::Cancelled => TransferOutcome::Failed,
        _ => TransferOutcome::Pending,
    }
}

fn execution(
    org: &Organization,
    accounts: &[AccountRecord],
    rule: &RuleRecord,
    created: DateTime<Utc>,
    dice: &mut Dice,
) -> (ExecutionRecord, Vec<TransferRecord>) {
    let id = RuleExecutionId::generate();
    let simulation = dice.chance(20);
    let made: Vec<TransferRecord> = (0..dice.below(4))
        .map(|_| {
            // A simulation moves nothing, so its transfers are never pending.
            let statuses: &[TransferStatus] = if simulation {
                &[TransferStatus::Complete, TransferStatus::Error]
            } else {
                TransferStatus::ALL
            };
            let status = *dice.pick(statuses);
            let destination = &accounts[1 + dice.below(3)];
            TransferRecord {
                origin: TransferOrigin::Rule,
                rule_id: Some(rule.rule.id.clone()),
                rule_execution_id: Some(id.clone()),
                ..transfer(
                    org,
                    Some(&accounts[0]),
                    Some(destination),
                    status,
                    simulation,
                    created,
                    dice,
                )
            }
        })
        .collect();
    let count = |wanted: TransferOutcome| {
        u32::try_from(made.iter().filter(|t| outcome(t.status) == wanted).count()).unwrap()
    };
    let record = ExecutionRecord {
        id,
        org_id: org.id.clone(),
        rule_id: rule.rule.id.clone(),
        rule_name: rule.rule.nickname.clone(),
        trigger: *dice.pick(ExecutionTrigger::ALL),
        simulation,
        status: *dice.pick(ExecutionStatus::ALL),
        trigger_amount: None,
        scheduled_time: None,
        step_index_matched: Some(0),
        conditions_not_met: false,
        counters: TransferCounters {
            attempted: u32::try_from(made.len()).unwrap(),
            completed: count(TransferOutcome::Completed),
            failed: count(TransferOutcome::Failed),
            pending: count(TransferOutcome::Pending),
            skipped: 0,
        },
        stopped_by_error: false,
        error_message: None,
        created_at: created,
        updated_at: created,
    };
    (record, made)
}
