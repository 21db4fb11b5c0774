//! What model calls cost: a price table per model in integer micro-dollars per million tokens.

use crate::Usage;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price {
    /// Micro-dollars per million input tokens.
    pub input_per_million: i64,
    /// Micro-dollars per million output tokens.
    pub output_per_million: i64,
}

impl Price {
    /// From dollars per million tokens (as vendors publish them).
    pub fn from_usd(input: f64, output: f64) -> Self {
        Self {
            input_per_million: (input * 1e6).round() as i64,
            output_per_million: (output * 1e6).round() as i64,
        }
    }
}

/// Public list prices of common models (USD per million tokens, input / output).
const DEFAULTS: &[(&str, f64, f64)] = &[
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1", 2.00, 8.00),
    ("o4-mini", 1.10, 4.40),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-haiku-4", 1.00, 5.00),
    ("claude-3-5-sonnet", 3.00, 15.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-opus-4", 15.00, 75.00),
    ("offline-planner-1", 0.0, 0.0),
];

#[derive(Debug, Clone)]
pub struct PriceTable(HashMap<String, Price>);

impl PriceTable {
    /// The default prices, with `overrides` replacing or adding models.
    pub fn new(overrides: impl IntoIterator<Item = (String, Price)>) -> Self {
        let mut table: HashMap<String, Price> = DEFAULTS
            .iter()
            .map(|(m, i, o)| ((*m).to_owned(), Price::from_usd(*i, *o)))
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

    /// Cost in micro-dollars, rounded half up; unknown models cost nothing (and are logged).
    pub fn cost_micros(&self, model: &str, usage: Usage) -> i64 {
        let Some(price) = self.price(model) else {
            tracing::warn!(model, "no price for this model; its calls are recorded at zero cost");
            return 0;
        };
        let micros = i128::from(usage.input_tokens) * i128::from(price.input_per_million)
            + i128::from(usage.output_tokens) * i128::from(price.output_per_million);
        ((micros + 500_000) / 1_000_000) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_exact_integer_micro_dollars() {
        let table = PriceTable::new([("custom".to_owned(), Price::from_usd(1.0, 2.0))]);
        let usage = Usage {
            input_tokens: 1_234,
            output_tokens: 567,
        };
        assert_eq!(table.cost_micros("custom", usage), 1_234 + 2 * 567);
        // gpt-4o-mini: 0.15 $/M in, 0.60 $/M out → 1M in + 1M out = 750,000 micro-dollars.
        let million = Usage {
            input_tokens: 1_000_000,
            output_tokens: 1_000_000,
        };
        assert_eq!(
            table.cost_micros("gpt-4o-mini-2024-07-18", million),
            750_000,
            "dated versions use the base price"
        );
        assert_eq!(table.cost_micros("gpt-4o", million), 12_500_000);
        assert_eq!(table.cost_micros("unknown-model", million), 0);
        // 3 tokens at 0.15 $/M = 0.45 micro-dollars → rounds to 0; 4 tokens = 0.6 → 1.
        assert_eq!(
            table.cost_micros(
                "gpt-4o-mini",
                Usage {
                    input_tokens: 3,
                    output_tokens: 0
                }
            ),
            0
        );
        assert_eq!(
            table.cost_micros(
                "gpt-4o-mini",
                Usage {
                    input_tokens: 4,
                    output_tokens: 0
                }
            ),
            1
        );
    }
}
