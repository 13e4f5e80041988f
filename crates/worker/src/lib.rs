//! Worker modes, supervisor, daemon, signals (placeholder: the worker issue fills this in).
