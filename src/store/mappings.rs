//! Which Productive event stands for which Personio absence type.

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeMapping {
    pub personio_type_id: i64,
    pub event_id: i64,
    pub personio_name: String,
    pub created_by_sync: bool,
    /// The `[sync.types.map]` event name this mapping follows (`None`: the type's own event).
    pub mapped_to: Option<String>,
}

#[derive(sqlx::FromRow)]
struct MappingRow {
    personio_type_id: i64,
    event_id: i64,
    personio_name: String,
    created_by_sync: i64,
    mapped_to: Option<String>,
}

impl TryFrom<MappingRow> for TypeMapping {
    type Error = StoreError;
    fn try_from(r: MappingRow) -> Result<Self, StoreError> {
        Ok(Self {
            personio_type_id: r.personio_type_id,
            event_id: r.event_id,
            personio_name: r.personio_name,
            created_by_sync: r.created_by_sync != 0,
            mapped_to: r.mapped_to,
        })
    }
}

impl Store {
    pub async fn mappings(&self) -> Result<Vec<TypeMapping>, StoreError> {
        self.fetch_as(sqlx::query_as::<_, MappingRow>(
            "SELECT personio_type_id, event_id, personio_name, created_by_sync, mapped_to FROM type_mappings ORDER BY personio_type_id",
        ))
        .await
    }

    pub async fn put_mapping(&self, m: &TypeMapping) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO type_mappings (personio_type_id, event_id, personio_name, created_by_sync, mapped_to)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (personio_type_id) DO UPDATE SET event_id = excluded.event_id,
                 personio_name = excluded.personio_name, created_by_sync = excluded.created_by_sync,
                 mapped_to = excluded.mapped_to",
        )
        .bind(m.personio_type_id)
        .bind(m.event_id)
        .bind(&m.personio_name)
        .bind(m.created_by_sync as i64)
        .bind(&m.mapped_to)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
