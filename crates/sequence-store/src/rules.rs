//! Rules and rule executions as stored (see migrations 0003).
