-- Debit cards and their transactions (SQLite; issue 11). See `sequence_core::cards` for the
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
    last_four        TEXT    NOT NULL CHECK (length(last_four) = 4 AND last_four NOT GLOB '*[^0-9]*'),
    holder_name      TEXT    NOT NULL CHECK (length(holder_name) BETWEEN 1 AND 100),
    -- `MM/YY`.
    expiration_date  TEXT    NOT NULL CHECK (expiration_date GLOB '[01][0-9]/[0-9][0-9]'),
    created_at_ms    INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL
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
    amount_cents     INTEGER NOT NULL CHECK (amount_cents > 0),
    description      TEXT    NULL,
    merchant_name    TEXT    NULL,
    -- A refund's purchase (of the same card: checked by the use case, which finds the purchase
    -- among the card's own transactions).
    purchase_id      TEXT    NULL REFERENCES card_transactions (id),
    -- A purchase's refunded total.
    refunded_cents   INTEGER NULL,
    created_at_ms    INTEGER NOT NULL,
    CHECK ((direction = 'credit') = (purchase_id IS NOT NULL)),
    CHECK ((direction = 'debit') = (refunded_cents IS NOT NULL)),
    CHECK (refunded_cents IS NULL OR (refunded_cents >= 0 AND refunded_cents <= amount_cents))
);
-- `listCardTransactions`: one card's transactions, newest first from a cursor, from one index
-- range (the plan test, `tests/store/plans.rs`, checks it). `direction` is checked on its rows.
CREATE INDEX card_transactions_list_by_card
    ON card_transactions (org_id, card_id, created_at_ms, id);

-- Entries name a transfer or a card transaction. SQLite cannot drop a NOT NULL or add a CHECK to
-- an existing table, so `entries` is rebuilt with the same columns, ids and constraints plus the
-- new ones (nothing references `entries`, so dropping the old table cascades nowhere; the copy
-- keeps every id, and AUTOINCREMENT continues after the largest).
CREATE TABLE entries_new (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id                TEXT    NOT NULL REFERENCES organizations (id),
    transfer_id           TEXT    NULL REFERENCES transfers (id),
    card_transaction_id   TEXT    NULL REFERENCES card_transactions (id),
    account_id            TEXT    NOT NULL REFERENCES accounts (id),
    amount_cents          INTEGER NOT NULL CHECK (amount_cents <> 0),
    balance_before_cents  INTEGER NOT NULL,
    balance_after_cents   INTEGER NOT NULL,
    -- The account's version after this entry: entries of one account replay in this order.
    account_version       INTEGER NOT NULL,
    created_at_ms         INTEGER NOT NULL,
    CHECK (balance_after_cents = balance_before_cents + amount_cents),
    CHECK ((transfer_id IS NULL) <> (card_transaction_id IS NULL)),
    UNIQUE (account_id, account_version),
    UNIQUE (transfer_id, account_id),
    UNIQUE (card_transaction_id, account_id)
);
INSERT INTO entries_new (id, org_id, transfer_id, card_transaction_id, account_id, amount_cents,
                         balance_before_cents, balance_after_cents, account_version, created_at_ms)
SELECT id, org_id, transfer_id, NULL, account_id, amount_cents,
       balance_before_cents, balance_after_cents, account_version, created_at_ms
FROM entries;
DROP TABLE entries;
ALTER TABLE entries_new RENAME TO entries;
CREATE INDEX entries_by_org ON entries (org_id, account_id);
