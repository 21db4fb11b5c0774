//! Feature flags: what a flag says and how it is evaluated for a user. Pure and
//! deterministic: the same flag and user always give the same answer, on every instance.
//!
//! Evaluation, in order:
//! 1. a disabled flag is off for everyone;
//! 2. a user named in `targeting.user_ids` is on;
//! 3. a user who does not match every other targeting rule given (plans, email domains,
//!    signed up after/before) is off;
//! 4. the user's bucket, `murmur3_32("{flag}:{targeting key}", seed 0) % 100 + 1` (Unleash's
//!    flexibleRollout stickiness), is on when it is at most `rollout_percent`: growing the
//!    percentage keeps everyone who was already on;
//! 5. when on and the flag has variants, one is picked by weight from a second bucket
//!    (`murmur3_32` with Unleash's variant seed 86028157), also sticky per user.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The variant seed of Unleash's clients, so buckets agree with theirs.
const VARIANT_SEED: u32 = 86_028_157;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagDefinition {
    /// Off: the flag is off for everyone, whatever else it says.
    pub enabled: bool,
    #[serde(default)]
    pub description: String,
    /// Share of (targeted) users it is on for, 0–100.
    #[serde(default = "all")]
    pub rollout_percent: u8,
    #[serde(default)]
    pub targeting: Targeting,
    /// Variants with weights; empty: the flag is a plain on/off.
    #[serde(default)]
    pub variants: Vec<Variant>,
}

fn all() -> u8 {
    100
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targeting {
    /// Always on for these users (by id), before any other rule.
    #[serde(default)]
    pub user_ids: Vec<String>,
    /// Only users on one of these plans (`free`, `pro`, `team`).
    #[serde(default)]
    pub plans: Vec<String>,
    /// Only users whose email is at one of these domains.
    #[serde(default)]
    pub email_domains: Vec<String>,
    /// Only users who signed up at or after / before this moment.
    #[serde(default)]
    pub signed_up_after: Option<DateTime<Utc>>,
    #[serde(default)]
    pub signed_up_before: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    pub weight: u32,
}

/// Who a flag is evaluated for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// What the bucket is computed from (the user id, unless the caller names another key).
    pub targeting_key: String,
    pub user_id: Option<String>,
    pub plan: Option<String>,
    pub email: Option<String>,
    pub signed_up_at: Option<DateTime<Utc>>,
}

/// Why a flag has the value it has (OpenFeature's reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// The flag is disabled.
    Disabled,
    /// Named in the user list, or matched targeting rules with everyone rolled out.
    TargetingMatch,
    /// In the rollout's share.
    Split,
    /// Not targeted, or outside the rollout's share.
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub on: bool,
    /// `on`/`off`, or the variant picked.
    pub variant: String,
    pub reason: Reason,
}

/// A problem with a flag definition, naming the field.
pub fn validate(key: &str, flag: &FlagDefinition) -> Result<(), String> {
    let key_ok = !key.is_empty()
        && key.len() <= 64
        && key.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._:-".contains(c));
    if !key_ok {
        return Err(format!(
            "key: '{key}' must be 1–64 lowercase letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
        ));
    }
    if flag.rollout_percent > 100 {
        return Err(format!(
            "rollout_percent: {} must be between 0 and 100",
            flag.rollout_percent
        ));
    }
    if flag.variants.iter().any(|v| v.name.trim().is_empty()) {
        return Err("variants: every variant needs a name".into());
    }
    if !flag.variants.is_empty() && flag.variants.iter().all(|v| v.weight == 0) {
        return Err("variants: at least one weight must be above 0".into());
    }
    let plans = ["free", "pro", "team"];
    if let Some(plan) = flag.targeting.plans.iter().find(|p| !plans.contains(&p.as_str())) {
        return Err(format!("targeting.plans: '{plan}' is not free, pro or team"));
    }
    Ok(())
}

/// `murmur3_32(text, seed)`, the hash Unleash buckets with.
fn murmur(text: &str, seed: u32) -> u32 {
    // Reading from memory cannot fail.
    murmur3::murmur3_32(&mut std::io::Cursor::new(text.as_bytes()), seed).unwrap_or(0)
}

/// The user's bucket for a flag, 1–100.
pub fn bucket(flag: &str, targeting_key: &str) -> u32 {
    murmur(&format!("{flag}:{targeting_key}"), 0) % 100 + 1
}

pub fn evaluate(key: &str, flag: &FlagDefinition, who: &Subject) -> Evaluation {
    let off = |reason| Evaluation {
        on: false,
        variant: "off".into(),
        reason,
    };
    if !flag.enabled {
        return off(Reason::Disabled);
    }
    let t = &flag.targeting;
    let listed = who.user_id.as_ref().is_some_and(|id| t.user_ids.contains(id));
    let targeted = !t.plans.is_empty()
        || !t.email_domains.is_empty()
        || t.signed_up_after.is_some()
        || t.signed_up_before.is_some();
    let reason = if listed {
        Reason::TargetingMatch
    } else {
        let plan_ok = t.plans.is_empty() || who.plan.as_ref().is_some_and(|p| t.plans.contains(p));
        let domain_ok = t.email_domains.is_empty()
            || who
                .email
                .as_ref()
                .and_then(|e| e.rsplit_once('@'))
                .is_some_and(|(_, domain)| t.email_domains.iter().any(|d| d.eq_ignore_ascii_case(domain)));
        let after_ok = t
            .signed_up_after
            .is_none_or(|after| who.signed_up_at.is_some_and(|at| at >= after));
        let before_ok = t
            .signed_up_before
            .is_none_or(|before| who.signed_up_at.is_some_and(|at| at < before));
        if !(plan_ok && domain_ok && after_ok && before_ok) {
            return off(Reason::Default);
        }
        if bucket(key, &who.targeting_key) > u32::from(flag.rollout_percent) {
            return off(Reason::Default);
        }
        match (flag.rollout_percent, targeted) {
            (100, true) => Reason::TargetingMatch,
            (100, false) => Reason::Default,
            _ => Reason::Split,
        }
    };
    Evaluation {
        on: true,
        variant: pick_variant(key, flag, &who.targeting_key),
        reason,
    }
}

fn pick_variant(key: &str, flag: &FlagDefinition, targeting_key: &str) -> String {
    let total: u32 = flag.variants.iter().map(|v| v.weight).sum();
    if total == 0 {
        return "on".into();
    }
    let mut target = murmur(&format!("{key}:{targeting_key}"), VARIANT_SEED) % total + 1;
    for variant in &flag.variants {
        if target <= variant.weight {
            return variant.name.clone();
        }
        target -= variant.weight;
    }
    "on".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(percent: u8) -> FlagDefinition {
        FlagDefinition {
            enabled: true,
            description: String::new(),
            rollout_percent: percent,
            targeting: Targeting::default(),
            variants: Vec::new(),
        }
    }

    fn user(n: usize) -> Subject {
        Subject {
            targeting_key: format!("user-{n}"),
            user_id: Some(format!("user-{n}")),
            plan: Some(if n.is_multiple_of(3) { "pro" } else { "free" }.into()),
            email: Some(format!(
                "u{n}@{}",
                if n.is_multiple_of(2) {
                    "example.com"
                } else {
                    "other.org"
                }
            )),
            signed_up_at: Some(
                "2026-06-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::days(n as i64 % 200),
            ),
        }
    }

    #[test]
    fn buckets_match_murmur3_as_unleash_computes_them() {
        // murmur3_32 x86 reference vectors.
        assert_eq!(murmur("", 0), 0);
        assert_eq!(murmur("hello", 0), 0x248b_fa47);
        assert_eq!(murmur("The quick brown fox jumps over the lazy dog", 0), 0x2e4f_f723);
        assert!((1..=100).contains(&bucket("gallery", "user-1")));
        assert_eq!(bucket("gallery", "user-1"), bucket("gallery", "user-1"));
    }

    #[test]
    fn a_user_keeps_their_answer_when_the_rollout_grows() {
        let mut was_on = Vec::new();
        for percent in [0u8, 10, 25, 50, 75, 100] {
            let on: Vec<usize> = (0..2000)
                .filter(|n| evaluate("gallery", &flag(percent), &user(*n)).on)
                .collect();
            assert!(
                was_on.iter().all(|n| on.contains(n)),
                "everyone on at a lower percentage stays on at {percent}"
            );
            was_on = on;
        }
        assert_eq!(was_on.len(), 2000);
    }

    #[test]
    fn the_share_that_is_on_is_within_two_points_at_ten_thousand_users() {
        for percent in [5u8, 20, 50, 80] {
            let on = (0..10_000)
                .filter(|n| evaluate("new-gallery", &flag(percent), &user(*n)).on)
                .count();
            let share = on as f64 / 100.0;
            assert!((share - f64::from(percent)).abs() <= 2.0, "{percent} %: {share} %");
        }
    }

    #[test]
    fn variants_follow_their_weights_and_stick() {
        let mut f = flag(100);
        f.variants = vec![
            Variant {
                name: "a".into(),
                weight: 70,
            },
            Variant {
                name: "b".into(),
                weight: 30,
            },
        ];
        let a = (0..10_000)
            .filter(|n| evaluate("test", &f, &user(*n)).variant == "a")
            .count();
        assert!((a as f64 / 100.0 - 70.0).abs() <= 2.0, "{a}");
        assert_eq!(
            evaluate("test", &f, &user(7)).variant,
            evaluate("test", &f, &user(7)).variant
        );
    }

    #[test]
    fn targeting_rules_must_all_match_and_listed_users_are_always_on() {
        let mut f = flag(100);
        f.targeting.plans = vec!["pro".into()];
        f.targeting.email_domains = vec!["example.com".into()];
        assert_eq!(
            evaluate("x", &f, &user(6)).reason,
            Reason::TargetingMatch,
            "pro at example.com"
        );
        assert!(!evaluate("x", &f, &user(3)).on, "pro at other.org");
        assert!(!evaluate("x", &f, &user(2)).on, "free at example.com");
        f.targeting.user_ids = vec!["user-5".into()];
        assert!(evaluate("x", &f, &user(5)).on, "listed");
        f.targeting = Targeting {
            signed_up_after: Some("2026-07-01T00:00:00Z".parse().unwrap()),
            ..Targeting::default()
        };
        assert!(!evaluate("x", &f, &user(1)).on, "signed up in June");
        assert!(evaluate("x", &f, &user(40)).on, "signed up in July");
        let anonymous = Subject {
            targeting_key: "k".into(),
            user_id: None,
            plan: None,
            email: None,
            signed_up_at: None,
        };
        assert!(!evaluate("x", &f, &anonymous).on, "no sign-up date: not targeted");
        f.enabled = false;
        f.targeting.user_ids = vec!["user-40".into()];
        assert_eq!(evaluate("x", &f, &user(40)).reason, Reason::Disabled);
    }

    #[test]
    fn bad_definitions_name_the_field() {
        assert!(validate("Bad Key", &flag(10)).unwrap_err().starts_with("key:"));
        assert!(
            validate("ok.key", &flag(101))
                .unwrap_err()
                .starts_with("rollout_percent")
        );
        let mut f = flag(10);
        f.targeting.plans = vec!["gold".into()];
        assert!(validate("ok", &f).unwrap_err().contains("gold"));
        f.targeting.plans.clear();
        f.variants = vec![Variant {
            name: "a".into(),
            weight: 0,
        }];
        assert!(validate("ok", &f).unwrap_err().starts_with("variants"));
        assert!(validate("workflow:product-plan", &flag(50)).is_ok());
    }
}
