//! What model calls cost: a price table per model, in integer micro-dollars per million tokens.

use crate::Usage;
use plansmith_domain::Money;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    /// Per million input tokens.
    pub input_per_million: Money,
    /// Per million output tokens.
    pub output_per_million: Money,
}

impl Price {
    /// Per million tokens, as vendors publish them.
    pub const fn new(input_per_million: Money, output_per_million: Money) -> Self {
        Self {
            input_per_million,
            output_per_million,
        }
    }

    const fn cents(input: i64, output: i64) -> Self {
        Self::new(Money::from_cents(input), Money::from_cents(output))
    }
}

/// Public list prices of common models, per million tokens (input / output, in cents).
const DEFAULTS: &[(&str, Price)] = &[
    ("gpt-4o-mini", Price::cents(15, 60)),
    ("gpt-4o", Price::cents(250, 1_000)),
    ("gpt-4.1-nano", Price::cents(10, 40)),
    ("gpt-4.1-mini", Price::cents(40, 160)),
    ("gpt-4.1", Price::cents(200, 800)),
    ("o4-mini", Price::cents(110, 440)),
    ("claude-3-5-haiku", Price::cents(80, 400)),
    ("claude-haiku-4", Price::cents(100, 500)),
    ("claude-3-5-sonnet", Price::cents(300, 1_500)),
    ("claude-sonnet-4", Price::cents(300, 1_500)),
    ("claude-opus-4", Price::cents(1_500, 7_500)),
    ("offline-planner-1", Price::cents(0, 0)),
];

#[derive(Debug, Clone)]
pub struct PriceTable(HashMap<String, Price>);

impl PriceTable {
    /// The default prices, with `overrides` replacing or adding models.
    pub fn new(overrides: impl IntoIterator<Item = (String, Price)>) -> Self {
        let mut table: HashMap<String, Price> = DEFAULTS
            .iter()
            .map(|(model, price)| ((*model).to_owned(), *price))
            .collect();
        table.extend(overrides);
        Self(table)
    }

    /// The price of `model`: exact, else the longest known prefix (dated model versions).
    pub fn price(&self, model: &str) -> Option<Price> {
        self.0.get(model).copied().or_else(|| {
            self.0
                .iter()
                .filter(|(known, _)| model.starts_with(known.as_str()))
                .max_by_key(|(known, _)| known.len())
                .map(|(_, p)| *p)
        })
    }

    /// The cost of a call, rounded half up to the micro-dollar; unknown models cost nothing (and
    /// are logged).
    pub fn cost(&self, model: &str, usage: Usage) -> Money {
        let Some(price) = self.price(model) else {
            tracing::warn!(model, "no price for this model; its calls are recorded at zero cost");
            return Money::ZERO;
        };
        let per_million = i128::from(usage.input_tokens) * i128::from(price.input_per_million.micros())
            + i128::from(usage.output_tokens) * i128::from(price.output_per_million.micros());
        let micros = (per_million + 500_000) / 1_000_000;
        // Token counts are u64 and prices bounded, but a sum past i64 is still no reason to wrap.
        Money::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input_tokens: u64, output_tokens: u64) -> Usage {
        Usage {
            input_tokens,
            output_tokens,
        }
    }

    #[test]
    fn costs_are_exact_integer_micro_dollars() {
        let table = PriceTable::new([(
            "custom".to_owned(),
            Price::new(Money::from_dollars(1), Money::from_dollars(2)),
        )]);
        let micros = |model: &str, usage: Usage| table.cost(model, usage).micros();
        assert_eq!(micros("custom", usage(1_234, 567)), 1_234 + 2 * 567);
        // gpt-4o-mini: 0.15 $/M in, 0.60 $/M out → 1M in + 1M out = 750,000 micro-dollars.
        let million = usage(1_000_000, 1_000_000);
        assert_eq!(
            micros("gpt-4o-mini-2024-07-18", million),
            750_000,
            "dated versions use the base price"
        );
        assert_eq!(table.cost("gpt-4o", million), Money::from_cents(1_250));
        assert_eq!(table.cost("unknown-model", million), Money::ZERO);
        // 3 tokens at 0.15 $/M = 0.45 micro-dollars → rounds to 0; 4 tokens = 0.6 → 1.
        assert_eq!(micros("gpt-4o-mini", usage(3, 0)), 0);
        assert_eq!(micros("gpt-4o-mini", usage(4, 0)), 1);
        assert_eq!(micros("custom", usage(u64::MAX, u64::MAX)), i64::MAX, "saturates");
    }
}
