//! Transactions whose end is decided by their owner, not by the code that
//! works in them. An HTTP request owns its transaction: the handler borrows
//! it ([`Held`]) and the request layer commits it when the handler succeeded
//! and rolls it back otherwise, so no handler can forget to commit, or commit
//! a half-done change.

use super::{DbResult, TenantTx};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Where a request's transaction lives between the handler and the end of
/// the request. Cloning shares the slot.
#[derive(Clone, Default)]
pub struct TxSlot(Arc<Mutex<Option<TenantTx>>>);

/// A transaction lent to a handler; the slot keeps it when the handler lets
/// go.
pub struct Held(OwnedMutexGuard<Option<TenantTx>>);

impl TxSlot {
    /// Puts `tx` in the slot and lends it out. A slot holds one transaction
    /// at a time: a second `hold` replaces (rolls back) an unfinished one.
    pub fn hold(&self, tx: TenantTx) -> Held {
        let mut guard = self
            .0
            .clone()
            .try_lock_owned()
            .expect("a transaction slot is lent out once at a time");
        *guard = Some(tx);
        Held(guard)
    }

    /// Ends the unit of work: commits the transaction when `succeeded`, else
    /// rolls it back. A transaction still lent out (moved into a streamed
    /// body, which finishes it itself) or taken back is left alone.
    pub async fn finish(&self, succeeded: bool) -> DbResult<()> {
        let Ok(mut guard) = self.0.try_lock() else {
            tracing::debug!("the request's transaction is still lent out; its holder ends it");
            return Ok(());
        };
        match guard.take() {
            Some(tx) if succeeded => tx.commit().await,
            Some(tx) => {
                drop(tx);
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Held {
    /// Takes the transaction out of its slot, for work that outlives the
    /// handler (a streamed export); the taker ends it.
    pub fn take(mut self) -> TenantTx {
        self.0.take().expect("a held transaction is in its slot")
    }
}

impl Deref for Held {
    type Target = TenantTx;
    fn deref(&self) -> &TenantTx {
        self.0.as_ref().expect("a held transaction is in its slot")
    }
}

impl DerefMut for Held {
    fn deref_mut(&mut self) -> &mut TenantTx {
        self.0.as_mut().expect("a held transaction is in its slot")
    }
}

impl super::Scoped for Held {
    fn tenant_id(&self) -> crate::domain::TenantId {
        (**self).tenant_id()
    }

    fn dialect(&self) -> super::Dialect {
        (**self).dialect()
    }

    async fn query<T: super::FromRow + Send>(
        &mut self,
        sql: &str,
        params: &[&dyn super::Bind],
    ) -> DbResult<Vec<T>> {
        (**self).query(sql, params).await
    }

    async fn query_opt<T: super::FromRow + Send>(
        &mut self,
        sql: &str,
        params: &[&dyn super::Bind],
    ) -> DbResult<Option<T>> {
        (**self).query_opt(sql, params).await
    }

    async fn execute(&mut self, sql: &str, params: &[&dyn super::Bind]) -> DbResult<u64> {
        (**self).execute(sql, params).await
    }
}
