//! The rules engine: the rule model and its pure evaluation (rule + facts -> planned transfers).
