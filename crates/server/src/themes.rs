//! Feedback themes and project categories (docs/analytics.md): the words people wrote —
//! rating and survey comments, session ideas — opened in the server, turned into TF-IDF vectors
//! and grouped by k-means (k-means++ seeding from a fixed seed, so the same texts give the same
//! themes). Each theme has its top terms, size, counts by month and, only from people who
//! agreed to product research, anonymised quotes.
//!
//! Written here rather than with linfa: the vectors are sparse and small, the algorithm is
//! thirty lines, and linfa with ndarray would add more compile time than this module has lines.

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};

/// Words that say nothing about a theme.
const STOPWORDS: &str = "a about after again all also am an and any are as at be because been before being but by can \
could did do does doing done don down during each even every few for from get got had has have having he her here \
him his how i if in into is it its just like make made me more most much my need no not now of off on once only or \
other our out over own please really same she should so some still such than that the their them then there these \
they this those through to too under until up use used using very want was way we well were what when where which \
while who why will with would you your yours plan plansmith";
/// Iterations of Lloyd's algorithm at most.
const ITERATIONS: usize = 50;
const SEED: u64 = 42;

/// A text to group, with when it was written and whether it may be quoted.
#[derive(Debug, Clone)]
pub struct Text {
    pub text: String,
    pub at: DateTime<Utc>,
    pub quotable: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    /// The highest-weighted terms of its centre, best first.
    pub terms: Vec<String>,
    pub size: usize,
    /// Texts by month (`YYYY-MM`), ascending.
    pub by_month: Vec<(String, usize)>,
    /// Up to three anonymised quotes, from people who agreed to product research.
    pub quotes: Vec<String>,
}

fn words(text: &str) -> Vec<String> {
    let stop: std::collections::HashSet<&str> = STOPWORDS.split_whitespace().collect();
    text.to_lowercase()
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().count() >= 3 && !stop.contains(w))
        .map(str::to_owned)
        .collect()
}

/// Sparse L2-normalised TF-IDF vectors (term index → weight) and the vocabulary.
fn tf_idf(texts: &[Text]) -> (Vec<HashMap<usize, f64>>, Vec<String>) {
    let tokens: Vec<Vec<String>> = texts.iter().map(|t| words(&t.text)).collect();
    let mut vocabulary: BTreeMap<String, usize> = BTreeMap::new();
    let mut document_frequency: Vec<usize> = Vec::new();
    for doc in &tokens {
        let mut seen = std::collections::HashSet::new();
        for word in doc {
            let next = vocabulary.len();
            let index = *vocabulary.entry(word.clone()).or_insert(next);
            if index == document_frequency.len() {
                document_frequency.push(0);
            }
            if seen.insert(index) {
                document_frequency[index] += 1;
            }
        }
    }
    let n = texts.len() as f64;
    let vectors = tokens
        .iter()
        .map(|doc| {
            let mut v: HashMap<usize, f64> = HashMap::new();
            for word in doc {
                *v.entry(vocabulary[word]).or_default() += 1.0;
            }
            for (index, weight) in &mut v {
                // Smoothed inverse document frequency, as scikit-learn's default.
                *weight *= ((1.0 + n) / (1.0 + document_frequency[*index] as f64)).ln() + 1.0;
            }
            let norm = v.values().map(|w| w * w).sum::<f64>().sqrt();
            if norm > 0.0 {
                v.values_mut().for_each(|w| *w /= norm);
            }
            v
        })
        .collect();
    let mut terms = vec![String::new(); vocabulary.len()];
    for (word, index) in vocabulary {
        terms[index] = word;
    }
    (vectors, terms)
}

fn distance(v: &HashMap<usize, f64>, centre: &[f64]) -> f64 {
    let centre_norm: f64 = centre.iter().map(|c| c * c).sum();
    let v_norm: f64 = v.values().map(|w| w * w).sum();
    let dot: f64 = v.iter().map(|(i, w)| w * centre[*i]).sum();
    (v_norm + centre_norm - 2.0 * dot).max(0.0)
}

/// k-means over the vectors: k-means++ seeding, then Lloyd's iterations until nothing moves.
/// Returns each vector's cluster and the centres.
fn kmeans(vectors: &[HashMap<usize, f64>], dims: usize, k: usize) -> (Vec<usize>, Vec<Vec<f64>>) {
    let mut rng = StdRng::seed_from_u64(SEED);
    let dense = |v: &HashMap<usize, f64>| {
        let mut d = vec![0.0; dims];
        v.iter().for_each(|(i, w)| d[*i] = *w);
        d
    };
    let mut centres = vec![dense(&vectors[rng.random_range(0..vectors.len())])];
    while centres.len() < k {
        let nearest: Vec<f64> = vectors
            .iter()
            .map(|v| centres.iter().map(|c| distance(v, c)).fold(f64::INFINITY, f64::min))
            .collect();
        let total: f64 = nearest.iter().sum();
        if total <= 0.0 {
            break;
        }
        let mut pick = rng.random::<f64>() * total;
        let chosen = nearest
            .iter()
            .position(|d| {
                pick -= d;
                pick <= 0.0
            })
            .unwrap_or(vectors.len() - 1);
        centres.push(dense(&vectors[chosen]));
    }
    let mut assignment = vec![usize::MAX; vectors.len()];
    for _ in 0..ITERATIONS {
        let mut moved = false;
        for (i, v) in vectors.iter().enumerate() {
            let best = (0..centres.len())
                .min_by(|a, b| distance(v, &centres[*a]).total_cmp(&distance(v, &centres[*b])))
                .unwrap_or(0);
            moved |= assignment[i] != best;
            assignment[i] = best;
        }
        if !moved {
            break;
        }
        for (c, centre) in centres.iter_mut().enumerate() {
            let members: Vec<&HashMap<usize, f64>> = vectors
                .iter()
                .zip(&assignment)
                .filter(|(_, a)| **a == c)
                .map(|(v, _)| v)
                .collect();
            if members.is_empty() {
                continue;
            }
            centre.iter_mut().for_each(|x| *x = 0.0);
            for v in &members {
                v.iter().for_each(|(i, w)| centre[*i] += w);
            }
            centre.iter_mut().for_each(|x| *x /= members.len() as f64);
        }
    }
    (assignment, centres)
}

/// Removes what could name or reach a person: email addresses, links, @handles, numbers and
/// capitalised words that do not start a sentence; at most 200 characters.
pub fn anonymise(text: &str) -> String {
    let mut out = Vec::new();
    let mut sentence_start = true;
    for word in text.split_whitespace() {
        let bare = word.trim_matches(|c: char| !c.is_alphanumeric());
        let replaced = if word.contains('@') && word.contains('.') {
            Some("[email]")
        } else if word.starts_with("http://") || word.starts_with("https://") || word.starts_with("www.") {
            Some("[link]")
        } else if word.starts_with('@') && bare.len() > 1 {
            Some("[name]")
        } else if bare.chars().filter(char::is_ascii_digit).count() >= 3 {
            Some("[number]")
        } else if !sentence_start && bare.chars().next().is_some_and(char::is_uppercase) && bare != "I" {
            Some("[name]")
        } else {
            None
        };
        out.push(replaced.map_or_else(|| word.to_owned(), str::to_owned));
        sentence_start = word.ends_with(['.', '!', '?']);
    }
    let joined = out.join(" ");
    if joined.chars().count() > 200 {
        format!("{}…", joined.chars().take(199).collect::<String>())
    } else {
        joined
    }
}

/// The themes of `texts`: `k` groups at most (fewer with few texts: one per five texts),
/// largest first.
pub fn themes(texts: &[Text], k: usize) -> Vec<Theme> {
    let usable: Vec<&Text> = texts.iter().filter(|t| !words(&t.text).is_empty()).collect();
    if usable.is_empty() {
        return Vec::new();
    }
    let owned: Vec<Text> = usable.iter().map(|t| (*t).clone()).collect();
    let (vectors, terms) = tf_idf(&owned);
    let k = k.clamp(1, owned.len().div_ceil(5).max(1));
    let (assignment, centres) = kmeans(&vectors, terms.len(), k);
    let mut themes: Vec<Theme> = centres
        .iter()
        .enumerate()
        .filter_map(|(c, centre)| {
            let members: Vec<&Text> = owned
                .iter()
                .zip(&assignment)
                .filter(|(_, a)| **a == c)
                .map(|(t, _)| t)
                .collect();
            if members.is_empty() {
                return None;
            }
            let mut ranked: Vec<(usize, f64)> = centre.iter().copied().enumerate().filter(|(_, w)| *w > 0.0).collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut by_month: BTreeMap<String, usize> = BTreeMap::new();
            for t in &members {
                *by_month.entry(plansmith_store::billing::month_of(t.at)).or_default() += 1;
            }
            Some(Theme {
                terms: ranked.iter().take(5).map(|(i, _)| terms[*i].clone()).collect(),
                size: members.len(),
                by_month: by_month.into_iter().collect(),
                quotes: members
                    .iter()
                    .filter(|t| t.quotable)
                    .take(3)
                    .map(|t| anonymise(&t.text))
                    .collect(),
            })
        })
        .collect();
    themes.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.terms.cmp(&b.terms)));
    themes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str, quotable: bool) -> Text {
        Text {
            text: s.into(),
            at: DateTime::parse_from_rfc3339("2026-11-03T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            quotable,
        }
    }

    #[test]
    fn texts_about_two_things_make_two_themes_the_same_each_time() {
        let mut texts = Vec::new();
        for i in 0..6 {
            texts.push(text(
                &format!("The export to docx is broken, export fails {i}"),
                i % 2 == 0,
            ));
            texts.push(text("Pricing is too expensive, the price of the team plan", false));
        }
        let first = themes(&texts, 2);
        assert_eq!(first.len(), 2);
        assert_eq!(first.iter().map(|t| t.size).collect::<Vec<_>>(), [6, 6]);
        let export = first.iter().find(|t| t.terms[0] == "export").expect("an export theme");
        assert_eq!(export.quotes.len(), 3, "only quotable texts are quoted");
        assert_eq!(export.quotes[0], "The export to docx is broken, export fails 0");
        let pricing = first
            .iter()
            .find(|t| t.terms.contains(&"pricing".to_owned()))
            .expect("a pricing theme");
        assert!(pricing.quotes.is_empty(), "nobody there agreed to be quoted");
        assert_eq!(pricing.by_month, [("2026-11".to_owned(), 6)]);
        assert_eq!(themes(&texts, 2), first, "deterministic");
    }

    #[test]
    fn quotes_lose_what_could_name_or_reach_a_person() {
        let quoted = anonymise("Loved it! Ask Maria at maria@example.com or https://x.io, call 5551234 @maria");
        assert_eq!(quoted, "Loved it! Ask [name] at [email] or [link] call [number] [name]");
        assert!(anonymise(&"word ".repeat(100)).chars().count() <= 200);
    }

    #[test]
    fn nothing_to_group_is_no_theme() {
        assert!(themes(&[text("the and of", true)], 3).is_empty());
        assert_eq!(themes(&[text("exports fail", true)], 5).len(), 1);
    }
}
