//! Spec diff.
