//! Model settings: providers and the route over them, retries, circuit breakers, the admission
//! queue, prices and monthly budgets.

use super::defaults::{
    default_connect_timeout_ms, default_first_token_timeout_ms, default_stall_timeout_ms, default_total_timeout_ms,
};
use plansmith_domain::Plan;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LlmSettings {
    /// Upper bound of tokens one reply may use.
    pub max_tokens: u32,
    /// After a reply's first token, its text is read from the provider and streamed on at most
    /// once per this many milliseconds (0: every token on its own). Fewer, larger pieces cost
    /// far less per token at thousands of replies; 100 ms still reads as continuous typing.
    pub stream_batch_ms: u64,
    pub offline: OfflineSettings,
    /// Provider names in the order a reply tries them; `offline` is always available.
    pub route: Vec<String>,
    pub providers: Vec<ProviderSettings>,
    pub retry: RetrySettings,
    pub breaker: BreakerConfig,
    /// Prices by model (overriding or adding to the built-in table), USD per million tokens.
    pub prices: BTreeMap<String, PriceSettings>,
    /// Monthly budgets per plan.
    pub budgets: BudgetsSettings,
    /// The admission queue in front of each provider.
    pub queue: QueueConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Waiting replies per provider; beyond it new messages get 429 at once.
    pub max_length: usize,
    /// Longest a reply waits for a provider before it fails as busy.
    pub max_wait_seconds: u64,
    /// Replies one user may have running on one provider at once.
    pub per_user_concurrency: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PriceSettings {
    pub input_per_million_usd: f64,
    pub output_per_million_usd: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetsSettings {
    pub free: BudgetSettings,
    pub pro: BudgetSettings,
    pub team: BudgetSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetSettings {
    /// Input + output tokens per calendar month (UTC).
    pub monthly_tokens: u64,
    pub monthly_cost_usd: f64,
}

impl BudgetsSettings {
    pub fn for_plan(&self, plan: Plan) -> &BudgetSettings {
        match plan {
            Plan::Free => &self.free,
            Plan::Pro => &self.pro,
            Plan::Team => &self.team,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Unique; used in `llm.route`.
    pub name: String,
    /// `openai`, `anthropic` or `offline`.
    pub kind: String,
    /// Default: the vendor's public API.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Name of the environment variable holding the API key (none for local servers).
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    #[serde(default)]
    pub tokens_per_minute: Option<u64>,
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_first_token_timeout_ms")]
    pub first_token_timeout_ms: u64,
    #[serde(default = "default_stall_timeout_ms")]
    pub stall_timeout_ms: u64,
    #[serde(default = "default_total_timeout_ms")]
    pub total_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    /// Attempts per provider before the route moves on.
    pub max_attempts: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    /// All attempts of one reply together.
    pub deadline_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerConfig {
    pub consecutive_failures: u32,
    pub error_ratio: f64,
    pub min_calls: u32,
    pub window_seconds: u64,
    pub open_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OfflineSettings {
    pub tokens_per_second: f64,
}
