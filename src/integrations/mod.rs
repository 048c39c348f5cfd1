//! Integrations (the plan feature `integrations`): API keys other systems
//! call the tenant API with, and signed webhooks that tell them what
//! changed. Record events come from the outbox in [`crate::events`].

pub mod delivery;
pub mod keys;
pub mod scopes;
pub mod webhooks;
