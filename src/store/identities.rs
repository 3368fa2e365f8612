//! The key each Personio v2 id was first synced under (see `domain::identity`).

use super::{Store, StoreError};
use crate::domain::identity::IdKind;

#[derive(sqlx::FromRow)]
struct IdRow {
    kind: String,
    v2_id: String,
    key: i64,
}

impl Store {
    pub async fn source_ids(&self) -> Result<Vec<(IdKind, String, i64)>, StoreError> {
        let rows: Vec<IdRow> =
            sqlx::query_as("SELECT kind, v2_id, key FROM personio_ids ORDER BY kind, v2_id")
                .fetch_all(&self.pool)
                .await?;
        // A kind this version does not know is left alone, not an error.
        Ok(rows
            .into_iter()
            .filter_map(|r| Some((IdKind::parse(&r.kind)?, r.v2_id, r.key)))
            .collect())
    }

    /// Records new keys; a v2 id keeps the key it was given first.
    pub async fn add_source_ids(&self, ids: &[(IdKind, String, i64)]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (kind, v2_id, key) in ids {
            sqlx::query(
                "INSERT INTO personio_ids (kind, v2_id, key) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, v2_id) DO NOTHING",
            )
            .bind(kind.as_str())
            .bind(v2_id)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
