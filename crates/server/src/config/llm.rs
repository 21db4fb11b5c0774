//! Model settings: providers and the route over them, retries, circuit breakers, the admission
//! queue, prices and monthly budgets.
//!
//! Prices and budgets are [`Money`]; their keys keep the `_usd` suffix and decimal dollars
//! (`monthly_cost_usd = 5.0`). API keys are never in the settings, only the name of the
//! variable that holds one; [`ProviderSettings::api_key`] reads it into a secret.

use super::ConfigError;
use super::defaults::{
    default_connect_timeout_ms, default_first_token_timeout_ms, default_stall_timeout_ms, default_total_timeout_ms,
};
use plansmith_domain::{Money, Plan};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;

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
    /// Per million input tokens, in decimal dollars.
    pub input_per_million_usd: Money,
    /// Per million output tokens, in decimal dollars.
    pub output_per_million_usd: Money,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BudgetsSettings {
    pub free: BudgetSettings,
    pub pro: BudgetSettings,
    pub team: BudgetSettings,
    /// Until the account's email is verified, whatever its plan.
    pub unverified: BudgetSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetSettings {
    /// Input + output tokens per calendar month (UTC).
    pub monthly_tokens: u64,
    /// Cost of model calls per calendar month (UTC), in decimal dollars.
    pub monthly_cost_usd: Money,
}

impl BudgetsSettings {
    pub fn for_plan(&self, plan: Plan) -> &BudgetSettings {
        match plan {
            Plan::Free => &self.free,
            Plan::Pro => &self.pro,
            Plan::Team => &self.team,
        }
    }

    /// The budget of an account: its plan's, and until its email is verified no more than
    /// `unverified` (each limit the smaller of the two).
    pub fn for_account(&self, plan: Plan, email_verified: bool) -> BudgetSettings {
        let plan = self.for_plan(plan);
        if email_verified {
            return plan.clone();
        }
        BudgetSettings {
            monthly_tokens: plan.monthly_tokens.min(self.unverified.monthly_tokens),
            monthly_cost_usd: plan.monthly_cost_usd.min(self.unverified.monthly_cost_usd),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Unique; used in `llm.route`.
    pub name: String,
    pub kind: ProviderKind,
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

impl ProviderSettings {
    /// The API key from the variable `api_key_env` names; `None` when no variable is named.
    pub fn api_key(&self) -> Result<Option<SecretString>, ConfigError> {
        self.api_key_from(|var| std::env::var(var).ok())
    }

    fn api_key_from(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<Option<SecretString>, ConfigError> {
        let Some(var) = &self.api_key_env else {
            return Ok(None);
        };
        let key = lookup(var).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "llm.providers '{}'.api_key_env: the environment variable {var} is not set",
                self.name
            ))
        })?;
        Ok(Some(SecretString::from(key)))
    }
}

/// The API a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI Chat Completions, and every server that speaks it.
    OpenAi,
    Anthropic,
    /// The built-in planner.
    Offline,
}

impl ProviderKind {
    const ALL: [Self; 3] = [Self::OpenAi, Self::Anthropic, Self::Offline];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Offline => "offline",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// By hand for the message: serde's own names the allowed values in a nested list of quotes.
impl<'de> Deserialize<'de> for ProviderKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| serde::de::Error::custom(format!("'{text}' must be openai, anthropic or offline")))
    }
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

#[cfg(test)]
mod tests {
    use super::super::Settings;
    use super::super::load::tests::{env, load_toml};
    use super::*;

    #[test]
    fn prices_and_budgets_are_read_as_decimal_dollars() {
        let file = "[llm.prices.\"gpt-4.1\"]\ninput_per_million_usd = 2\noutput_per_million_usd = 8.0\n\n\
                    [llm.prices.\"my-model\"]\ninput_per_million_usd = \"0.15\"\noutput_per_million_usd = 0.6\n\n\
                    [llm.budgets.pro]\nmonthly_tokens = 10\nmonthly_cost_usd = 12.345678\n";
        let s = load_toml(file, &[]).unwrap();
        let price = &s.llm.prices["gpt-4.1"];
        assert_eq!(price.input_per_million_usd, Money::from_dollars(2));
        assert_eq!(price.output_per_million_usd, Money::from_dollars(8));
        let price = &s.llm.prices["my-model"];
        assert_eq!(price.input_per_million_usd, Money::from_cents(15));
        assert_eq!(price.output_per_million_usd, Money::from_cents(60));
        assert_eq!(s.llm.budgets.pro.monthly_cost_usd, Money::from_micros(12_345_678));
        assert_eq!(s.llm.budgets.free.monthly_cost_usd, Money::from_dollars(5), "default");
    }

    #[test]
    fn budgets_from_the_environment_are_exact() {
        for (value, micros) in [
            ("7.5", 7_500_000),
            ("0.15", 150_000),
            ("12", 12_000_000),
            ("\"5.0\"", 5_000_000),
            ("123456.789012", 123_456_789_012),
        ] {
            let s = Settings::load(None, env(&[("PLANSMITH_LLM__BUDGETS__FREE__MONTHLY_COST_USD", value)])).unwrap();
            assert_eq!(s.llm.budgets.free.monthly_cost_usd.micros(), micros, "{value}");
        }
    }

    #[test]
    fn wrong_amounts_name_the_key() {
        let key = "PLANSMITH_LLM__BUDGETS__TEAM__MONTHLY_COST_USD";
        for (value, words) in [
            ("-1", "negative"),
            ("-0.5", "negative"),
            ("NaN", "not an amount"),
            ("lots", "not an amount"),
            ("0.0000001", "6 decimal places"),
            ("10000000000.5", "more than 1000000000 dollars"),
            ("1e30", "not an amount"),
            ("99999999999999999999", "more than 1000000000 dollars"),
        ] {
            let err = Settings::load(None, env(&[(key, value)])).unwrap_err().to_string();
            assert!(
                err.contains("llm.budgets.team.monthly_cost_usd") && err.contains(words),
                "{value}: {err}"
            );
        }
        let file = "[llm.prices.\"gpt-4.1\"]\ninput_per_million_usd = nan\noutput_per_million_usd = 1\n";
        let err = load_toml(file, &[]).unwrap_err().to_string();
        assert!(
            err.contains("llm.prices.\"gpt-4.1\".input_per_million_usd") && err.contains("not an amount"),
            "{err}"
        );
        let file = "[llm.prices.m]\ninput_per_million_usd = 20000\noutput_per_million_usd = 1\n";
        let err = load_toml(file, &[]).unwrap_err().to_string();
        assert!(
            err.contains("llm.prices.m: prices must be between 0 and 10000"),
            "{err}"
        );
    }

    #[test]
    fn amounts_are_written_back_as_decimal_dollars() {
        let price = PriceSettings {
            input_per_million_usd: Money::from_dollars(3),
            output_per_million_usd: Money::from_cents(15),
        };
        let text = toml::to_string(&price).unwrap();
        assert_eq!(text, "input_per_million_usd = 3.0\noutput_per_million_usd = 0.15\n");
        assert_eq!(toml::from_str::<PriceSettings>(&text).unwrap(), price);
    }

    #[test]
    fn an_unknown_kind_names_the_key_and_the_kinds() {
        let file = "[[llm.providers]]\nname = \"p\"\nkind = \"OpenAI\"\nmodel = \"m\"\n";
        let err = load_toml(file, &[]).unwrap_err().to_string();
        assert!(
            err.contains("llm.providers[0].kind: 'OpenAI' must be openai, anthropic or offline"),
            "{err}"
        );
        for kind in ProviderKind::ALL {
            let file = format!("[[llm.providers]]\nname = \"p\"\nkind = \"{kind}\"\nmodel = \"m\"\n");
            let s = load_toml(&file, &[]).unwrap();
            assert_eq!(s.llm.providers[0].kind, kind);
            assert!(toml::to_string(&s).unwrap().contains(&format!("kind = \"{kind}\"")));
        }
    }

    #[test]
    fn an_api_key_never_shows_in_debug_output() {
        let file = "[[llm.providers]]\nname = \"p\"\nkind = \"openai\"\nmodel = \"m\"\napi_key_env = \"P_KEY\"\n";
        let provider = load_toml(file, &[]).unwrap().llm.providers.remove(0);
        let key = provider
            .api_key_from(|var| (var == "P_KEY").then(|| "sk-live-0a1b2c3d4e".to_owned()))
            .unwrap();
        let debug = format!("{provider:?} {key:?}");
        assert!(debug.contains("P_KEY") && !debug.contains("0a1b2c3d4e"), "{debug}");
        let missing = provider.api_key_from(|_| None).unwrap_err().to_string();
        assert!(
            missing.contains("llm.providers 'p'.api_key_env: the environment variable P_KEY is not set"),
            "{missing}"
        );
    }
}
