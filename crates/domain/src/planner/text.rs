//! Plain-text helpers of the offline planner: sentences, clauses, the document's voice,
//! quantities, dates and proper names. Everything works on `char`s, so any Unicode input is
//! safe, and every input is bounded before it is scanned.

/// Longest part of one message that is read; the rest is ignored (and never echoed).
pub const MAX_TURN_CHARS: usize = 20_000;
/// Most sentences read from one message.
const MAX_SENTENCES: usize = 200;
/// Longest sentence kept; a longer one is cut at a word boundary.
const MAX_SENTENCE_CHARS: usize = 400;

const ABBREVIATIONS: [&str; 10] = ["e.g", "i.e", "etc", "vs", "approx", "dr", "mr", "mrs", "st", "no"];

/// The first `max` characters of `text`, cut on a character boundary.
pub fn prefix(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// One sentence of a message, with whether it was asked as a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sentence {
    pub text: String,
    pub question: bool,
}

/// Splits a message into sentences: at line breaks, and at `.`, `!` and `?` followed by a space
/// (not after a common abbreviation). List markers are dropped.
pub fn sentences(message: &str) -> Vec<Sentence> {
    let message = prefix(message, MAX_TURN_CHARS);
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        if out.len() >= MAX_SENTENCES {
            break;
        }
        if c == '\n' || c == '\r' {
            push_sentence(&mut out, &mut current);
            continue;
        }
        current.push(c);
        let ends = matches!(c, '.' | '!' | '?' | '。' | '！' | '？');
        let next_is_break = chars.peek().is_none_or(|n| n.is_whitespace());
        let list_number = c == '.' && current.trim().trim_end_matches('.').chars().all(|d| d.is_ascii_digit());
        if ends && next_is_break && !list_number && !(c == '.' && ends_with_abbreviation(&current)) {
            push_sentence(&mut out, &mut current);
        }
    }
    if out.len() < MAX_SENTENCES {
        push_sentence(&mut out, &mut current);
    }
    out
}

fn ends_with_abbreviation(text: &str) -> bool {
    let body = text.trim_end_matches('.');
    let last = body
        .rsplit(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    ABBREVIATIONS.contains(&last.to_lowercase().as_str())
}

fn push_sentence(out: &mut Vec<Sentence>, current: &mut String) {
    let raw = std::mem::take(current);
    let text = strip_list_marker(raw.trim());
    let question = text.ends_with('?') || text.ends_with('？');
    let text = cut_words(
        text.trim_end_matches(['.', '!', '?', ';', ':', '。', '！', '？'])
            .trim(),
        MAX_SENTENCE_CHARS,
    );
    if text.chars().any(char::is_alphanumeric) {
        out.push(Sentence { text, question });
    }
}

fn strip_list_marker(text: &str) -> &str {
    let text = text.trim_start_matches(['-', '*', '•', '>', '#']).trim_start();
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && digits < 3 {
        let rest = &text[digits..];
        if let Some(r) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return r.trim_start();
        }
    }
    text
}

/// At most `max` characters of `text`, cut at the last word boundary when it is longer.
pub fn cut_words(text: &str, max: usize) -> String {
    let cut = prefix(text, max);
    if cut.len() == text.len() {
        return text.to_owned();
    }
    let at = cut.rfind(char::is_whitespace).filter(|&i| i > 0).unwrap_or(cut.len());
    format!("{}…", cut[..at].trim_end())
}

/// Splits a sentence into clauses at `;` and at `, and ` / `, but ` (outside brackets).
pub fn clauses(sentence: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    // The separators are ASCII, and an ASCII byte is always a character boundary in UTF-8.
    let bytes = sentence.as_bytes();
    let at = |i: usize, sep: &[u8]| bytes.len() >= i + sep.len() && bytes[i..i + sep.len()].eq_ignore_ascii_case(sep);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            _ => {}
        }
        let sep = if depth > 0 {
            None
        } else if at(i, b"; ") {
            Some(2)
        } else if at(i, b", and ") || at(i, b", but ") {
            Some(6)
        } else {
            None
        };
        match sep {
            Some(len) => {
                out.push(sentence[start..i].trim().to_owned());
                start = i + len;
                i += len;
            }
            None => i += 1,
        }
    }
    out.push(sentence[start..].trim().to_owned());
    out.retain(|c| c.chars().any(char::is_alphanumeric));
    out
}

/// Whether `text` (lower case) contains `word` as a whole word or word prefix (`word*`).
pub fn has_word(text: &str, word: &str) -> bool {
    let (word, is_prefix) = match word.strip_suffix('*') {
        Some(w) => (w, true),
        None => (word, false),
    };
    let mut from = 0;
    while let Some(pos) = text[from..].find(word) {
        let at = from + pos;
        let end = at + word.len();
        let before_ok = text[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let after_ok = is_prefix || text[end..].chars().next().is_none_or(|c| !c.is_alphanumeric());
        if before_ok && after_ok {
            return true;
        }
        from = end;
    }
    false
}

/// Whether `text` (lower case) contains any of the cues: a cue with a space or ending in `*`
/// is matched as a phrase or word prefix, any other as a whole word.
pub fn any_cue(text: &str, cues: &[&str]) -> bool {
    cues.iter().any(|cue| has_word(text, cue))
}

/// Upper-cases the first letter.
pub fn cap(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Lower-cases the first letter unless the first word looks like an acronym ("QR", "iOS") or
/// starts a run of capitalised words ("Green Acres").
pub fn decap(text: &str) -> String {
    let mut words = text.split_whitespace();
    let first = words.next().unwrap_or("");
    let second = words.next().unwrap_or("");
    let inner_caps = first.chars().skip(1).any(char::is_uppercase);
    let run = first.chars().next().is_some_and(char::is_uppercase)
        && second.chars().next().is_some_and(char::is_uppercase)
        && second != "I";
    if inner_caps || run || first == "I" {
        return text.to_owned();
    }
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Rewrites a user's phrase in the document's voice: fillers dropped, first person turned
/// into "the team" / "the project lead", no trailing punctuation.
pub fn voice(text: &str) -> String {
    let mut t = text
        .trim()
        .trim_end_matches(['.', '!', ';', ':', ','])
        .trim()
        .to_owned();
    loop {
        let lower = t.to_lowercase();
        let Some(filler) = FILLERS.iter().find(|f| lower.starts_with(*f)) else {
            break;
        };
        t = t[filler.len()..].trim_start().to_owned();
    }
    let mut out = Vec::new();
    let words: Vec<&str> = t.split(' ').collect();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let lw = w.to_lowercase();
        let next = words.get(i + 1).map(|n| n.to_lowercase()).unwrap_or_default();
        let (subject, possessive) = match lw.trim_end_matches([',', '.']) {
            "we" | "we're" | "we've" | "we'll" | "we'd" => ("the team", false),
            "i" | "i'm" | "i've" | "i'll" | "i'd" => ("the project lead", false),
            "our" => ("the team's", true),
            "my" => ("the project lead's", true),
            "us" => ("the team", true),
            "me" => ("the project lead", true),
            _ => {
                out.push(w.to_owned());
                i += 1;
                continue;
            }
        };
        let trailing = if w.ends_with(',') { "," } else { "" };
        let contraction = lw.split_once('\'').map(|(_, c)| c.trim_end_matches(',')).unwrap_or("");
        let verb = match contraction {
            "re" | "m" => Some("is"),
            "ve" => Some("has"),
            "ll" => Some("will"),
            "d" => Some("would"),
            _ => None,
        };
        out.push(format!("{subject}{trailing}"));
        if let Some(verb) = verb {
            out.push(verb.to_owned());
        } else if !possessive
            && trailing.is_empty()
            && let Some(v) = third_person(&next)
        {
            out.push(v.to_owned());
            i += 1;
        }
        i += 1;
    }
    out.join(" ")
}

const FILLERS: [&str; 24] = [
    "well,",
    "so,",
    "so ",
    "ok,",
    "okay,",
    "ok ",
    "okay ",
    "yes,",
    "yeah,",
    "yep,",
    "hmm,",
    "basically,",
    "basically ",
    "honestly,",
    "also,",
    "also ",
    "and ",
    "but ",
    "um,",
    "oh,",
    "right,",
    "sure,",
    "i think ",
    "i guess ",
];

fn third_person(verb: &str) -> Option<&'static str> {
    Some(match verb {
        "am" | "are" => "is",
        "were" | "was" => "was",
        "have" => "has",
        "want" => "wants",
        "need" => "needs",
        "hope" => "hopes",
        "plan" => "plans",
        "expect" => "expects",
        "know" => "knows",
        "do" => "does",
        "run" => "runs",
        "use" => "uses",
        "like" => "likes",
        "think" => "thinks",
        "work" => "works",
        "can" => "can",
        "will" => "will",
        "must" => "must",
        "should" => "should",
        "would" => "would",
        "don't" => "does not",
        "can't" => "cannot",
        "won't" => "will not",
        "lose" => "loses",
        "get" => "gets",
        "go" => "goes",
        "make" => "makes",
        "see" => "sees",
        "try" => "tries",
        "spend" => "spends",
        "build" => "builds",
        "start" => "starts",
        "keep" => "keeps",
        "share" => "shares",
        "pay" => "pays",
        "buy" => "buys",
        "sell" => "sells",
        "live" => "lives",
        "meet" => "meets",
        "waste" => "wastes",
        "struggle" => "struggles",
        "worry" => "worries",
        _ => return None,
    })
}

/// Nouns for people: their presence marks a phrase about users.
const PEOPLE: [&str; 70] = [
    "member",
    "members",
    "volunteer",
    "volunteers",
    "gardener",
    "gardeners",
    "parent",
    "parents",
    "student",
    "students",
    "teacher",
    "teachers",
    "customer",
    "customers",
    "user",
    "users",
    "admin",
    "admins",
    "administrator",
    "administrators",
    "coordinator",
    "coordinators",
    "manager",
    "managers",
    "staff",
    "families",
    "neighbours",
    "neighbors",
    "residents",
    "owner",
    "owners",
    "tenants",
    "players",
    "coaches",
    "patients",
    "doctors",
    "nurses",
    "farmers",
    "kids",
    "children",
    "grandparents",
    "grandchildren",
    "retirees",
    "people",
    "organisers",
    "organizers",
    "clients",
    "buyers",
    "sellers",
    "employees",
    "developers",
    "freelancers",
    "musicians",
    "cooks",
    "chefs",
    "runners",
    "climbers",
    "readers",
    "writers",
    "artists",
    "landlords",
    "caregivers",
    "carers",
    "nurse",
    "teams",
    "shoppers",
    "visitors",
    "guests",
    "hosts",
    "riders",
];

pub fn is_people_word(word: &str) -> bool {
    PEOPLE.contains(&word.trim_matches(|c: char| !c.is_alphanumeric()))
}

/// Words that end a noun phrase read backwards (articles, prepositions, verbs of linking).
const PHRASE_STOPS: [&str; 58] = [
    "for", "by", "to", "the", "a", "an", "is", "are", "be", "it's", "its", "it", "and", "or", "with", "of", "that",
    "who", "our", "my", "we", "i", "they", "mostly", "mainly", "also", "like", "as", "but", "so", "need", "want",
    "use", "uses", "help", "helps", "where", "when", "which", "while", "lets", "let", "allow", "allows", "connect",
    "connects", "between", "among", "about", "on", "in", "at", "from", "into", "has", "have", "can", "will",
];

/// Phrases naming groups of people: `[up to 3 modifiers] noun [of|in|at|who|with … up to a comma]`.
pub fn people_phrases(sentence: &str) -> Vec<String> {
    let words: Vec<&str> = sentence.split_whitespace().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let lw = words[i].to_lowercase();
        if !is_people_word(&lw) || words[i].ends_with('\'') {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > 0 && i - start < 3 {
            let prev = words[start - 1];
            let lp = prev.to_lowercase();
            let clean = lp.trim_matches(|c: char| !c.is_alphanumeric());
            // A verb ("matches dog owners") or a name at the start ends the phrase too.
            let verb_like = clean.ends_with('s') && !clean.ends_with("ss");
            let name_first = start == 1 && prev.chars().next().is_some_and(char::is_uppercase);
            if prev.ends_with([',', ';', ':', '('])
                || PHRASE_STOPS.contains(&clean)
                || is_people_word(clean)
                || verb_like
                || name_first
            {
                break;
            }
            start -= 1;
        }
        let mut end = i + 1;
        let continues = !words[i].ends_with([',', ';', ':', ')'])
            && words.get(end).is_some_and(|n| {
                ["of", "in", "at", "on", "who", "with", "from", "that", "across", "using"]
                    .contains(&n.to_lowercase().as_str())
            });
        if continues {
            while end < words.len() && end - i < 14 {
                // Another group of people starts its own phrase ("owners with trusted neighbours").
                if end > i + 1
                    && words.get(end + 1).is_some_and(|n| is_people_word(&n.to_lowercase()))
                    && !words[end].ends_with(',')
                {
                    let lw = words[end].to_lowercase();
                    if ["with", "and", "or", "from"].contains(&lw.as_str()) {
                        break;
                    }
                }
                let w = words[end];
                end += 1;
                if w.ends_with([',', ';', ':', ')']) {
                    break;
                }
                if end < words.len() && ["and", "but", "so"].contains(&words[end].to_lowercase().as_str()) {
                    break;
                }
            }
        }
        let phrase = words[start..end].join(" ");
        let phrase = phrase
            .trim_matches(|c: char| !c.is_alphanumeric() && c != ')')
            .to_owned();
        if !phrase.is_empty() && !out.iter().any(|p| p.eq_ignore_ascii_case(&phrase)) {
            out.push(phrase);
        }
        i = end.max(i + 1);
    }
    out
}

const MONTHS: [&str; 21] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sept",
    "sep",
];
const SEASONS: [&str; 6] = ["spring", "summer", "autumn", "fall", "winter", "christmas"];
const TIME_UNITS: [&str; 10] = [
    "day", "days", "week", "weeks", "month", "months", "year", "years", "quarter", "quarters",
];
const NUMBER_WORDS: [&str; 16] = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "a", "few",
    "couple", "several",
];
const WHEN_LEADS: [&str; 9] = ["by", "in", "within", "before", "until", "after", "from", "next", "end"];

fn is_month(word: &str) -> bool {
    // "may" is a month only when capitalised: the caller passes the original word.
    let lw = word.to_lowercase();
    let lw = lw.trim_matches(|c: char| !c.is_alphanumeric());
    if lw == "may" || lw == "march" {
        return word.starts_with(['M']);
    }
    MONTHS.contains(&lw)
}

fn is_year(word: &str) -> bool {
    let w = word.trim_matches(|c: char| !c.is_alphanumeric());
    w.len() == 4 && (w.starts_with("20") || w.starts_with("19")) && w.chars().all(|c| c.is_ascii_digit())
}

fn is_quarter(word: &str) -> bool {
    let w = word.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
    w.len() == 2 && w.starts_with('q') && matches!(w.as_bytes()[1], b'1'..=b'4')
}

fn is_datish(word: &str) -> bool {
    let lw = word.to_lowercase();
    let clean = lw.trim_matches(|c: char| !c.is_alphanumeric());
    is_month(word)
        || is_year(word)
        || is_quarter(word)
        || SEASONS.contains(&clean)
        || (clean.len() == 10
            && clean.as_bytes().get(4) == Some(&b'-')
            && clean.chars().next().is_some_and(|c| c.is_ascii_digit()))
}

/// A time phrase such as "by June", "within 6 months", "in spring 2027" or "next year".
pub fn when_phrase(sentence: &str) -> Option<String> {
    let words: Vec<&str> = sentence.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let clean = w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
        let unit_at = |j: usize| {
            words.get(j).is_some_and(|u| {
                TIME_UNITS.contains(&u.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase().as_str())
            })
        };
        let count_word =
            clean.chars().all(|c| c.is_ascii_digit()) && !clean.is_empty() || NUMBER_WORDS.contains(&clean.as_str());
        let hit_end = if is_datish(w) {
            let mut end = i + 1;
            while end < words.len()
                && end - i < 3
                && (is_datish(words[end]) || is_year(words[end]))
                && !words[end - 1].ends_with(',')
            {
                end += 1;
            }
            Some(end)
        } else if (count_word || clean == "next") && unit_at(i + 1) {
            Some(i + 2)
        } else {
            None
        };
        let Some(end) = hit_end else { continue };
        let mut start = i;
        while start > 0 && i - start < 3 {
            let prev = words[start - 1].to_lowercase();
            let prev = prev.trim_matches(|c: char| !c.is_alphanumeric());
            if WHEN_LEADS.contains(&prev) || ["the", "of", "early", "late", "mid", "end"].contains(&prev) {
                start -= 1;
            } else {
                break;
            }
        }
        let phrase = words[start..end].join(" ");
        return Some(phrase.trim_matches(|c: char| !c.is_alphanumeric()).to_owned());
    }
    None
}

/// A quantity: a number (digits, with an optional currency sign, `k`, `%` or `+`) with the up
/// to three words that follow it, e.g. "200 active members", "€500", "30 %".
pub fn quantity(sentence: &str) -> Option<String> {
    let words: Vec<&str> = sentence.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| w.chars().any(|c| c.is_ascii_digit()) && !is_year(w) && !is_quarter(w) && !w.contains('-'))?;
    let mut end = i + 1;
    let currency = words[i].contains(['€', '$', '£']);
    while end < words.len() && end - i <= 3 && !words[end - 1].ends_with([',', ';', ':']) {
        let lw = words[end].to_lowercase();
        let lw = lw.trim_matches(|c: char| !c.is_alphanumeric() && c != '%');
        let joiner = ["per", "a", "each", "every"].contains(&lw);
        let stop = [
            "by", "in", "within", "before", "after", "and", "or", "to", "so", "the", "of", "for", "from", "across",
            "with", "on", "at", "worth", "over", "than", "that", "which", "who", "is", "are", "was", "will",
        ]
        .contains(&lw)
            || lw.is_empty();
        let unit = [
            "euros", "dollars", "pounds", "k", "million", "thousand", "month", "year", "week", "a",
        ]
        .contains(&lw);
        if stop || (currency && !unit && !joiner) {
            break;
        }
        end += 1;
    }
    let phrase = words[i..end].join(" ");
    Some(
        phrase
            .trim_end_matches(|c: char| !c.is_alphanumeric() && c != '%' && c != ')')
            .to_owned(),
    )
}

/// Runs of capitalised words that are not at the start of the sentence: names of people,
/// places and organisations ("Green Acres Garden", "Maria").
pub fn proper_names(sentence: &str) -> Vec<String> {
    let words: Vec<&str> = sentence.split_whitespace().collect();
    let mut out = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let clean = w.trim_matches(|c: char| !c.is_alphanumeric());
        let named = i > 0
            && clean.chars().next().is_some_and(char::is_uppercase)
            && clean.chars().skip(1).any(char::is_lowercase)
            && !NOT_NAMES.contains(&clean.to_lowercase().as_str())
            && !is_month(clean);
        if named {
            run.push(clean);
        }
        if (!named || w.ends_with([',', ';', ':', '.', ')'])) && !run.is_empty() {
            out.push(run.join(" "));
            run.clear();
        }
    }
    if !run.is_empty() {
        out.push(run.join(" "));
    }
    out.dedup();
    out
}

const NOT_NAMES: [&str; 24] = [
    "i",
    "i'm",
    "i've",
    "i'd",
    "i'll",
    "android",
    "iphone",
    "ios",
    "web",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "english",
    "excel",
    "google",
    "whatsapp",
    "the",
    "it",
    "we",
    "our",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sentences_and_keeps_questions() {
        let s = sentences("Hello there. Does it work offline? e.g. in sheds.\n- Second line\n3. Third");
        let texts: Vec<&str> = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Hello there",
                "Does it work offline",
                "e.g. in sheds",
                "Second line",
                "Third"
            ]
        );
        assert!(s[1].question && !s[0].question);
    }

    #[test]
    fn rewrites_first_person() {
        assert_eq!(voice("So we want members to share."), "the team wants members to share");
        assert_eq!(
            voice("I'm the only developer"),
            "the project lead is the only developer"
        );
        assert_eq!(voice("Our budget is small"), "the team's budget is small");
    }

    #[test]
    fn finds_people_quantities_dates_and_names() {
        assert_eq!(
            people_phrases("Grandparents who cook by heart, and grandchildren who want to learn."),
            ["Grandparents who cook by heart", "grandchildren who want to learn"]
        );
        assert_eq!(people_phrases("It is for busy parents"), ["busy parents"]);
        assert_eq!(
            quantity("Reach 200 active members by June").as_deref(),
            Some("200 active members")
        );
        assert_eq!(quantity("a budget of €500 for hosting").as_deref(), Some("€500"));
        assert_eq!(
            when_phrase("Reach 200 active members by June").as_deref(),
            Some("by June")
        );
        assert_eq!(
            when_phrase("within 6 months of launch").as_deref(),
            Some("within 6 months")
        );
        assert_eq!(when_phrase("We may ship it"), None);
        assert_eq!(
            proper_names("We start at Green Acres Garden with Maria."),
            ["Green Acres Garden", "Maria"]
        );
        assert_eq!(
            clauses("Scan a tool, and see who has it; return it"),
            ["Scan a tool", "see who has it", "return it"]
        );
    }
}
