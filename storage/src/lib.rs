//! roomcore persistence (placeholder until the persistence issue lands).
