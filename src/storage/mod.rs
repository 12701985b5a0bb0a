//! Storage: SQLite history (being written).
