//! The double-entry ledger: accounts, transfers, their lifecycle and the checks that keep money conserved.
