//! The sync: read → plan (pure) → apply (journaled writes) → record.

pub mod desired;
pub mod plan;
