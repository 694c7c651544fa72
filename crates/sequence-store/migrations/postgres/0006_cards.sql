-- Debit cards and their transactions (PostgreSQL; issue 11). See `sequence_core::cards` for the
-- rules and `sequence_store::cards` for the queries.
--
-- A card transaction is a ledger movement like a completed transfer: it writes two entries (the
-- pod and the organization's `outside_world` system account) that sum to zero, so an account's
-- balance stays the sum of its entries. It is not a transfer, so entries now name either a
-- transfer or a card transaction (exactly one).

CREATE TABLE cards (
    id               TEXT    PRIMARY KEY,
    org_id           TEXT    NOT NULL REFERENCES organizations (id),
    -- The pod purchases spend from. Never changes.
    account_id       TEXT    NOT NULL REFERENCES accounts (id),
    type             TEXT    NOT NULL CHECK (type IN ('virtual', 'physical')),
    -- Changed only by a conditional update from the status read (`cards::update_status_if`).
    status           TEXT    NOT NULL CHECK (status IN ('active', 'inactive', 'frozen', 'stolen', 'lost')),
    last_four        TEXT    NOT NULL CHECK (last_four ~ '^[0-9]{4}$'),
    holder_name      TEXT    NOT NULL CHECK (char_length(holder_name) BETWEEN 1 AND 100),
    -- `MM/YY`.
    expiration_date  TEXT    NOT NULL CHECK (expiration_date ~ '^(0[1-9]|1[0-2])/[0-9]{2}$'),
    created_at_ms    BIGINT  NOT NULL,
    updated_at_ms    BIGINT  NOT NULL
);
-- `listCards`: one pod's cards, oldest first, from one index range.
CREATE INDEX cards_list_by_account ON cards (org_id, account_id, created_at_ms, id);

-- Settled purchases (`debit`) and refunds (`credit`). Immutable, except a purchase's
-- `refunded_cents`, which only grows, by one conditional update per refund that re-checks the
-- remainder (`card_transactions::add_refunded`), and never beyond the purchase (CHECK).
CREATE TABLE card_transactions (
    id               TEXT    PRIMARY KEY,
    org_id           TEXT    NOT NULL REFERENCES organizations (id),
    card_id          TEXT    NOT NULL REFERENCES cards (id),
    direction        TEXT    NOT NULL CHECK (direction IN ('debit', 'credit')),
    amount_cents     BIGINT  NOT NULL CHECK (amount_cents > 0),
    description      TEXT    NULL,
    merchant_name    TEXT    NULL,
    -- A refund's purchase (of the same card: checked by the use case, which finds the purchase
    -- among the card's own transactions).
    purchase_id      TEXT    NULL REFERENCES card_transactions (id),
    -- A purchase's refunded total.
    refunded_cents   BIGINT  NULL,
    created_at_ms    BIGINT  NOT NULL,
    CHECK ((direction = 'credit') = (purchase_id IS NOT NULL)),
    CHECK ((direction = 'debit') = (refunded_cents IS NOT NULL)),
    CHECK (refunded_cents IS NULL OR (refunded_cents >= 0 AND refunded_cents <= amount_cents))
);
-- `listCardTransactions`: one card's transactions, newest first from a cursor, from one index
-- range (the plan test, `tests/store/plans.rs`, checks it). `direction` is checked on its rows.
CREATE INDEX card_transactions_list_by_card
    ON card_transactions (org_id, card_id, created_at_ms, id);

-- Entries name a transfer or a card transaction. Adding the CHECK validates the existing rows
-- (all name a transfer) under a lock that holds off writes to `entries` while it scans them.
ALTER TABLE entries ALTER COLUMN transfer_id DROP NOT NULL;
ALTER TABLE entries ADD COLUMN card_transaction_id TEXT NULL REFERENCES card_transactions (id);
ALTER TABLE entries ADD CONSTRAINT entries_one_movement
    CHECK ((transfer_id IS NULL) <> (card_transaction_id IS NULL));
ALTER TABLE entries ADD CONSTRAINT entries_card_transaction_account
    UNIQUE (card_transaction_id, account_id);
