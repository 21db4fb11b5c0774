//! A short-lived key/value cache for facts that are costly to look up on every request and
//! safe to keep for a while (e.g. which user owns a planning session).

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

#[async_trait]
pub trait SessionCache: Send + Sync + 'static {
    async fn get(&self, key: &str) -> crate::Result<Option<String>>;
    async fn put(&self, key: &str, value: String) -> crate::Result<()>;
    async fn invalidate(&self, key: &str) -> crate::Result<()>;
}

#[derive(Clone)]
pub struct InProcessSessionCache {
    cache: moka::sync::Cache<String, Arc<str>>,
}

impl InProcessSessionCache {
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }
}

#[async_trait]
impl SessionCache for InProcessSessionCache {
    async fn get(&self, key: &str) -> crate::Result<Option<String>> {
        Ok(self.cache.get(key).map(|v| v.to_string()))
    }

    async fn put(&self, key: &str, value: String) -> crate::Result<()> {
        self.cache.insert(key.to_owned(), Arc::from(value));
        Ok(())
    }

    async fn invalidate(&self, key: &str) -> crate::Result<()> {
        self.cache.invalidate(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_expire_and_can_be_invalidated() {
        let cache = InProcessSessionCache::new(100, Duration::from_millis(50));
        cache.put("a", "1".into()).await.unwrap();
        cache.put("b", "2".into()).await.unwrap();
        assert_eq!(cache.get("a").await.unwrap().as_deref(), Some("1"));
        cache.invalidate("a").await.unwrap();
        assert_eq!(cache.get("a").await.unwrap(), None);
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert_eq!(cache.get("b").await.unwrap(), None);
    }
}
