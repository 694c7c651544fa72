//! Time: an injected clock, so nothing in the domain reads the system time directly.
