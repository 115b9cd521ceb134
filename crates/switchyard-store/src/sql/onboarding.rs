//! Named proxies and OAuth sign-ins in progress.

use crate::{OAuthPending, ProxyRecord, Result};
use async_trait::async_trait;

#[async_trait]
pub trait OnboardingStore: Send + Sync {
    async fn create_proxy(&self, name: &str, url: &str) -> Result<ProxyRecord>;
    async fn list_proxies(&self) -> Result<Vec<ProxyRecord>>;
    async fn set_proxy_url(&self, name: &str, url: &str) -> Result<ProxyRecord>;
    /// Deletes a named proxy; accounts naming it are pointed at `reassign` (none: no proxy of
    /// their own) in the same transaction. Returns how many accounts were moved.
    async fn delete_proxy(&self, name: &str, reassign: Option<&str>) -> Result<u64>;

    /// Keeps an OAuth sign-in between start and finish (any instance may finish it).
    async fn put_oauth_pending(&self, pending: &OAuthPending) -> Result<()>;
    /// Removes and returns a pending sign-in: each state is usable once.
    async fn take_oauth_pending(&self, state: &str) -> Result<Option<OAuthPending>>;
}
