//! What the offline planner knows: facts read from the idea and every user message of the
//! session, rebuilt from the whole conversation on every reply (the planner keeps no state).
//! Each sentence is classified by cue words into kinds of fact (users, problems, metrics,
//! constraints…), questions or corrections; what fits no kind is kept as a note of the section
//! the user was answering.

use super::text::{self, any_cue, cap, has_word, voice};
use crate::MessageRole;
use crate::planner::PlanningContext;
use crate::workflow::{StepDef, Workflow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Product,
    User,
    Problem,
    Workaround,
    Value,
    WhyNow,
    Feature,
    Later,
    Differentiator,
    Metric,
    Milestone,
    Budget,
    Deadline,
    Team,
    Offline,
    Platform,
    Tech,
    Hosting,
    Integration,
    Compliance,
    Risk,
    Partner,
    Question,
    Note,
}

/// Where a sentence was said: the step and the section the user was answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub step: String,
    pub section: String,
}

#[derive(Debug, Clone)]
pub struct Fact {
    pub kind: Kind,
    /// The fact in the document's voice, without trailing punctuation.
    pub text: String,
    /// The number of a metric or budget ("200 active members", "€500").
    pub quantity: Option<String>,
    /// The time of a metric, deadline or milestone ("by June").
    pub when: Option<String>,
    /// For `Offline`: offline use is explicitly not needed.
    pub negative: bool,
    /// For `User`: administrators, coordinators and other secondary users.
    pub secondary: bool,
    /// Set explicitly ("the first milestone is …"): wins over facts of the same kind.
    pub slot: bool,
    pub home: Option<Home>,
    /// 0 for the idea, then the position of the user message in the history.
    pub turn: usize,
}

/// A correction the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    /// The section the user named (or the one the corrected fact belongs to).
    pub target: Option<Home>,
    /// `change X to Y`: text to replace in every draft from now on.
    pub replace: Option<(String, String)>,
    /// The sentence, in the document's voice, for the chat reply.
    pub said: String,
}

/// What one user message says.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    pub facts: Vec<Fact>,
    pub corrections: Vec<Correction>,
    pub questions: Vec<String>,
    /// Sentences that are neither questions nor corrections.
    pub statements: usize,
    pub draft_rest: bool,
}

impl Analysis {
    /// A message answers the open section unless it only asks or corrects.
    pub fn is_answer(&self) -> bool {
        self.statements > 0 || (self.questions.is_empty() && self.corrections.is_empty())
    }
}

/// Everything known from the conversation.
#[derive(Debug, Clone, Default)]
pub struct Knowledge {
    pub facts: Vec<Fact>,
    pub corrections: Vec<Correction>,
    /// Questions the agent already asked, normalised.
    pub asked: Vec<String>,
    /// Whether an earlier reply already said it comes from the offline planner.
    pub notice_given: bool,
    /// The message being answered.
    pub current: Analysis,
}

/// Said once per session, at the end of the first offline reply (and found again by it).
pub const NOTICE_MARKER: &str = "built-in offline planner";

impl Knowledge {
    /// What the idea alone says (for a step's opening message).
    pub fn from_idea(workflow: &Workflow, step_id: &str, idea: &str) -> Self {
        let mut k = Knowledge::default();
        k.absorb(analyse(workflow, step_id, idea, 0, None, true));
        k
    }

    pub fn from_context(ctx: &PlanningContext, current_home: Option<Home>) -> Self {
        let mut k = Knowledge::default();
        let idea = analyse(&ctx.workflow, &ctx.step_id, &ctx.idea, 0, None, true);
        k.absorb(idea);
        let last_user = ctx.history.iter().rposition(|t| t.role == MessageRole::User);
        let mut home: Option<Home> = None;
        for (i, turn) in ctx.history.iter().enumerate() {
            match turn.role {
                MessageRole::Assistant => {
                    if turn.content.contains(NOTICE_MARKER) {
                        k.notice_given = true;
                    }
                    k.asked.extend(asked_questions(&turn.content));
                    home = ctx
                        .workflow
                        .step(&turn.step_id)
                        .and_then(|step| asked_section(step, &turn.content))
                        .or(home.filter(|h| h.step == turn.step_id));
                }
                MessageRole::User => {
                    let is_current = Some(i) == last_user;
                    let here = if is_current {
                        current_home.clone()
                    } else {
                        home.clone().filter(|h| h.step == turn.step_id)
                    };
                    let analysis = analyse(&ctx.workflow, &turn.step_id, &turn.content, i + 1, here, false);
                    if is_current {
                        k.current = analysis.clone();
                    }
                    k.absorb(analysis);
                }
            }
        }
        k
    }

    fn absorb(&mut self, analysis: Analysis) {
        for fact in analysis.facts {
            let key = norm(&fact.text);
            let duplicate = self
                .facts
                .iter()
                .any(|f| f.kind == fact.kind && norm(&f.text) == key && f.negative == fact.negative);
            if !duplicate || single_valued(fact.kind) {
                self.facts.push(fact);
            }
        }
        self.corrections.extend(analysis.corrections);
    }

    /// Facts of a kind, oldest first, without repeats.
    pub fn all(&self, kind: Kind) -> Vec<&Fact> {
        let mut out: Vec<&Fact> = Vec::new();
        for f in self.facts.iter().filter(|f| f.kind == kind) {
            if !out.iter().any(|o| norm(&o.text) == norm(&f.text)) {
                out.push(f);
            }
        }
        out
    }

    /// The value of a single-valued kind: the last one set explicitly, else the last one said.
    pub fn latest(&self, kind: Kind) -> Option<&Fact> {
        let of_kind = || self.facts.iter().filter(move |f| f.kind == kind);
        of_kind().rfind(|f| f.slot).or_else(|| of_kind().next_back())
    }

    pub fn has(&self, kind: Kind) -> bool {
        self.facts.iter().any(|f| f.kind == kind)
    }

    /// Whether it must work offline: `Some(true)` / `Some(false)` when the user said so.
    pub fn offline(&self) -> Option<bool> {
        self.latest(Kind::Offline).map(|f| !f.negative)
    }

    /// Primary users (explicitly set ones first) and secondary users. Phrases about the same
    /// group ("members", "community garden members") count once, in their longest form.
    pub fn users(&self) -> (Vec<&Fact>, Vec<&Fact>) {
        let mut all: Vec<&Fact> = Vec::new();
        for f in self.all(Kind::User) {
            let head = head_noun(&f.text);
            match all.iter_mut().find(|o| head.is_some() && head_noun(&o.text) == head) {
                Some(o) => {
                    // What the user said explicitly beats the idea, and a longer phrase a shorter one.
                    let said_later = o.turn == 0 && f.turn > 0;
                    let longer = f.text.len() > o.text.len() && (f.turn > 0) == (o.turn > 0);
                    if f.slot
                        || (!o.slot && f.secondary == o.secondary && (said_later || longer))
                        || (f.secondary && !o.secondary)
                    {
                        *o = f;
                    }
                }
                None => all.push(f),
            }
        }
        let mut primary: Vec<&Fact> = all.iter().copied().filter(|f| !f.secondary && f.slot).collect();
        if primary.is_empty() {
            primary = all.iter().copied().filter(|f| !f.secondary).collect();
        }
        // "For managers": administrators alone are the primary users.
        if primary.is_empty() {
            return (all, Vec::new());
        }
        let secondary = all.into_iter().filter(|f| f.secondary).collect();
        (primary, secondary)
    }

    pub fn notes(&self, step: &str, section: &str) -> Vec<&Fact> {
        self.all(Kind::Note)
            .into_iter()
            .filter(|f| f.home.as_ref().is_some_and(|h| h.step == step && h.section == section))
            .collect()
    }

    /// `change X to Y` corrections, oldest first.
    pub fn replacements(&self) -> impl Iterator<Item = &(String, String)> {
        self.corrections.iter().filter_map(|c| c.replace.as_ref())
    }

    pub fn was_asked(&self, question: &str) -> bool {
        let q = norm(question);
        self.asked.contains(&q)
    }
}

/// The word for people in a phrase ("members" in "community garden members").
pub fn head_noun(phrase: &str) -> Option<String> {
    phrase
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .find(|w| text::is_people_word(w))
        .map(|w| w.strip_suffix('s').map(str::to_owned).unwrap_or(w))
}

fn single_valued(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Product | Kind::Milestone | Kind::Budget | Kind::Deadline | Kind::Team | Kind::Offline
    )
}

/// Lower-case letters and digits only: the key for "the same fact said twice".
pub fn norm(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The question lines (`- …?`) of an earlier reply.
fn asked_questions(content: &str) -> Vec<String> {
    content
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .filter(|l| l.trim_end().ends_with('?'))
        .map(norm)
        .collect()
}

/// The section an agent message asked about: the last `Next, **Title**`, `start with **Title**`
/// or `back to **Title**` in it.
fn asked_section(step: &StepDef, content: &str) -> Option<Home> {
    let markers = ["Next, **", "start with **", "back to **"];
    let (at, marker) = markers
        .iter()
        .filter_map(|m| content.rfind(m).map(|at| (at, *m)))
        .max_by_key(|(at, _)| *at)?;
    let rest = &content[at + marker.len()..];
    let title = &rest[..rest.find("**")?];
    let section = step.sections.iter().find(|s| s.title == title)?;
    Some(Home {
        step: step.id.clone(),
        section: section.id.clone(),
    })
}

// ---------------------------------------------------------------------------
// Cue lists (lower case; `word*` matches a word prefix, a phrase matches whole words)
// ---------------------------------------------------------------------------

const OFFLINE: &[&str] = &[
    "offline",
    "no signal",
    "poor signal",
    "bad signal",
    "weak signal",
    "little signal",
    "no reception",
    "poor reception",
    "no coverage",
    "poor coverage",
    "without internet",
    "no internet",
    "without a connection",
    "without connection",
    "no connection",
    "no wifi",
    "no wi-fi",
    "patchy",
    "spotty",
    "dead zone*",
    "no network",
];
const NOT_NEEDED: &[&str] = &[
    "doesn't need",
    "does not need",
    "don't need",
    "do not need",
    "no need",
    "not required",
    "not needed",
    "won't need",
    "isn't needed",
    "not necessary",
    "always online",
    "always connected",
    "good signal",
];
const BUDGET: &[&str] = &["budget*", "grant", "funding", "afford", "spend"];
const MONEY: &[&str] = &["euro*", "dollar*", "pound*", "usd", "eur", "gbp"];
const DEADLINE: &[&str] = &[
    "deadline",
    "launch*",
    "ready by",
    "ready for",
    "release*",
    "go live",
    "go-live",
    "live by",
    "ship*",
    "finished by",
    "done by",
    "due",
];
const TEAM: &[&str] = &[
    "developer",
    "developers",
    "our team",
    "my team",
    "a team",
    "the team",
    "hours a week",
    "hours per week",
    "evenings",
    "weekends",
    "freelancer*",
    "by myself",
    "alone",
    "solo",
    "part-time",
    "full-time",
    "designer",
    "build it myself",
    "i build",
    "i'll build",
    "i will build",
    "who builds",
    "programmer*",
    "agency",
];
const PLATFORM: &[(&str, &str)] = &[
    ("android", "Android phones"),
    ("iphone*", "iPhones"),
    ("ios", "iPhones"),
    ("smartphone*", "phones"),
    ("phone", "phones"),
    ("phones", "phones"),
    ("mobile", "phones"),
    ("tablet*", "tablets"),
    ("web app", "the web"),
    ("website", "the web"),
    ("browser*", "the web"),
    ("desktop", "desktop computers"),
    ("laptop*", "desktop computers"),
    ("pwa", "the web"),
];
const TECH: &[&str] = &[
    "rust",
    "python",
    "django",
    "flask",
    "react",
    "vue",
    "svelte",
    "angular",
    "flutter",
    "kotlin",
    "swift",
    "typescript",
    "javascript",
    "node",
    "node.js",
    "postgres*",
    "mysql",
    "sqlite",
    "firebase",
    "supabase",
    "rails",
    "ruby",
    "php",
    "laravel",
    "java",
    "golang",
    ".net",
    "c#",
    "next.js",
    "react native",
    "wordpress",
];
const HOSTING: &[&str] = &[
    "host",
    "hosted",
    "hosting",
    "aws",
    "azure",
    "gcp",
    "google cloud",
    "heroku",
    "fly.io",
    "hetzner",
    "vercel",
    "netlify",
    "digitalocean",
    "raspberry pi",
    "on-prem*",
    "self-host*",
    "own server",
    "cloud",
];
const INTEGRATION: &[&str] = &[
    "integrat*",
    "api",
    "apis",
    "connect to",
    "connects to",
    "sync with",
    "import*",
    "stripe",
    "paypal",
    "google calendar",
    "outlook",
    "mailchimp",
    "google sheets",
];
const COMPLIANCE: &[&str] = &[
    "gdpr",
    "hipaa",
    "privacy",
    "personal data",
    "consent",
    "accessib*",
    "wcag",
    "legal",
    "regulation*",
    "compliance",
    "data protection",
    "minors",
    "coppa",
    "insurance",
    "liability",
];
const RISK: &[&str] = &[
    "worr*",
    "risk*",
    "afraid",
    "concern*",
    "fear*",
    "might not",
    "may not",
    "danger*",
    "what if",
    "nervous",
    "unsure",
    "scared",
];
const PROBLEM: &[&str] = &[
    "problem*",
    "pain*",
    "lose",
    "loses",
    "lost",
    "losing",
    "go missing",
    "goes missing",
    "missing",
    "nobody knows",
    "no one knows",
    "hard to",
    "difficult",
    "frustrat*",
    "waste*",
    "struggle*",
    "forget*",
    "broken",
    "no way to",
    "can't find",
    "cannot find",
    "can't tell",
    "can't keep",
    "lose track",
    "chaos",
    "mess",
    "annoy*",
    "tedious",
    "never know",
    "don't know",
    "doesn't know",
    "duplicate*",
    "double-book*",
    "double book*",
];
const WORKAROUND: &[&str] = &[
    "today",
    "currently",
    "right now",
    "at the moment",
    "spreadsheet*",
    "whiteboard",
    "paper",
    "notebook",
    "clipboard",
    "whatsapp",
    "group chat",
    "by hand",
    "manually",
    "sign-out sheet",
    "sign out sheet",
    "logbook",
    "excel",
    "word of mouth",
];
const VALUE: &[&str] = &[
    "so that",
    "saves",
    "save time",
    "no more",
    "easier",
    "benefit*",
    "helps them",
    "peace of mind",
];
const WHY_NOW: &[&str] = &[
    "why now",
    "right time",
    "this year",
    "recently",
    "new rule*",
    "growing",
    "more and more",
    "just got",
    "now that",
    "waiting list",
    "since last",
];
const FEATURE: &[&str] = &[
    "can",
    "could",
    "should be able",
    "must be able",
    "able to",
    "lets",
    "let them",
    "allow*",
    "scan*",
    "book*",
    "reserve*",
    "borrow*",
    "return*",
    "track*",
    "notif*",
    "remind*",
    "search*",
    "sign in",
    "log in",
    "login",
    "dashboard",
    "map",
    "upload*",
    "share*",
    "export*",
    "list of",
    "history",
    "check out",
    "check in",
    "qr",
    "barcode*",
    "message*",
    "rate",
    "review*",
    "photo*",
    "inventory",
    "catalog*",
    "catalogue*",
    "waitlist",
    "plan",
    "add",
    "see",
    "view",
    "report*",
    "invite*",
];
const LATER: &[&str] = &[
    "later",
    "can wait",
    "not in the first",
    "not for the first",
    "not in v1",
    "out of scope",
    "phase 2",
    "v2",
    "eventually",
    "someday",
    "some day",
    "nice to have",
    "nice-to-have",
    "next version",
    "after launch",
    "after the first release",
    "not now",
    "leave out",
    "won't need",
    "no need for",
    "not needed",
    "don't need",
    "not for now",
    "skip",
];
const METRIC: &[&str] = &[
    "user*",
    "member*",
    "active",
    "sign-up*",
    "signup*",
    "download*",
    "%",
    "percent",
    "retention",
    "revenue",
    "loan*",
    "per week",
    "per month",
    "a week",
    "a month",
    "weekly",
    "monthly",
    "rating",
    "nps",
    "reduce",
    "cut",
    "increase",
    "grow",
    "reach",
    "goal",
    "target",
    "success*",
    "measure*",
    "kpi*",
    "fewer",
    "at least",
    "households",
    "gardens",
    "sessions",
    "bookings",
    "orders",
    "visits",
    "hours",
];
/// Words that make a number a target even in a sentence about a problem ("cut lost tools by 50%").
const AIMED: &[&str] = &[
    "reach", "goal", "target", "success*", "percent", "reduce", "cut", "increase", "grow", "at least", "kpi*",
    "measure*", "aim*", "halve", "double",
];
const SUCCESS: &[&str] = &[
    "success*",
    "would be a win",
    "the goal is",
    "our goal",
    "my goal",
    "we aim",
    "aim to",
    "target is",
];
const MILESTONE: &[&str] = &[
    "milestone*",
    "pilot*",
    "beta",
    "first version",
    "mvp by",
    "prototype",
    "demo",
];
const PARTNER: &[&str] = &[
    "partner*",
    "council",
    "sponsor*",
    "pilot at",
    "pilot with",
    "run by",
    "foundation",
    "association",
    "club",
    "school",
    "garden",
    "library",
    "church",
    "charity",
    "ngo",
    "company",
    "called",
    "named",
    "network",
    "trust",
];
const DIFFERENT: &[&str] = &[
    "unlike",
    "better than",
    "different from",
    "differs",
    "instead of",
    "compared to",
    "competitor*",
    "existing apps",
    "other apps",
    "no other",
    "only one",
    "only app",
    "simpler than",
];
const USER_CUES: &[&str] = &[
    "for",
    "users",
    "user",
    "used by",
    "use it",
    "primary",
    "secondary",
    "audience",
    "target",
    "mostly",
    "mainly",
    "who",
    "serves",
    "serve",
    "aimed at",
];
const SECONDARY: &[&str] = &[
    "admin*",
    "coordinator*",
    "organiser*",
    "organizer*",
    "manager*",
    "staff",
    "run the",
    "runs the",
    "who run",
    "who manage",
    "secondary",
    "moderator*",
    "treasurer*",
    "committee",
    "board",
];
const CORRECTION: &[&str] = &[
    "actually",
    "correction",
    "that's wrong",
    "that is wrong",
    "is wrong",
    "not right",
    "should say",
    "should read",
    "please change",
    "please fix",
    "fix the",
    "update the",
    "i meant",
    "typo",
    "mistake",
];
const COURTESY: &[&str] = &[
    "thanks",
    "thank you",
    "hello",
    "hi",
    "hey",
    "ok",
    "okay",
    "great",
    "sounds good",
    "looks good",
    "perfect",
    "yes",
    "no",
    "sure",
    "cool",
    "nice",
    "good",
];

/// Names of single-valued things a user can set ("the first milestone is …"), with their kind.
const SLOTS: &[(&str, Kind)] = &[
    ("first milestone", Kind::Milestone),
    ("milestone", Kind::Milestone),
    ("budget", Kind::Budget),
    ("deadline", Kind::Deadline),
    ("launch date", Kind::Deadline),
    ("release date", Kind::Deadline),
    ("primary users", Kind::User),
    ("primary user", Kind::User),
    ("main users", Kind::User),
    ("target users", Kind::User),
    ("audience", Kind::User),
    ("main goal", Kind::Metric),
    ("success metric", Kind::Metric),
    ("main metric", Kind::Metric),
    ("target", Kind::Metric),
    ("team", Kind::Team),
    ("product", Kind::Product),
    ("one-liner", Kind::Product),
    ("pitch", Kind::Product),
    ("hosting", Kind::Hosting),
    ("stack", Kind::Tech),
];

/// The section of the workflow where a kind of fact primarily belongs (for corrections).
pub fn primary_section(kind: Kind) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        Kind::Product | Kind::Milestone | Kind::WhyNow => ("brief", "summary"),
        Kind::Problem | Kind::Workaround => ("brief", "problem"),
        Kind::Feature | Kind::Differentiator | Kind::Value => ("brief", "solution"),
        Kind::User => ("brief", "users"),
        Kind::Metric => ("brief", "goals"),
        Kind::Later => ("brief", "mvp"),
        Kind::Budget | Kind::Deadline | Kind::Team | Kind::Offline | Kind::Platform | Kind::Compliance => {
            ("brief", "constraints")
        }
        Kind::Tech | Kind::Hosting | Kind::Integration => ("prd", "technical"),
        Kind::Risk | Kind::Question => ("brief", "risks"),
        Kind::Partner | Kind::Note => return None,
    })
}

// ---------------------------------------------------------------------------
// Reading one message
// ---------------------------------------------------------------------------

/// Reads one message (or the idea) into facts, corrections and questions.
pub fn analyse(
    workflow: &Workflow,
    step_id: &str,
    message: &str,
    turn: usize,
    home: Option<Home>,
    is_idea: bool,
) -> Analysis {
    let mut out = Analysis::default();
    let lower_message = message.to_lowercase();
    out.draft_rest = !is_idea && lower_message.contains("draft the rest");
    let sentences = text::sentences(message);
    for (index, sentence) in sentences.iter().enumerate() {
        let lower = sentence.text.to_lowercase();
        let base = Fact {
            kind: Kind::Note,
            text: String::new(),
            quantity: None,
            when: None,
            negative: false,
            secondary: false,
            slot: false,
            home: home.clone(),
            turn,
        };
        if lower.contains("draft the rest") {
            continue;
        }
        if is_idea && index == 0 {
            out.facts.push(Fact {
                kind: Kind::Product,
                text: voice(&sentence.text),
                ..base.clone()
            });
            // "An app for X: members do Y" — what follows the colon is how it works.
            let (head, rest) = sentence.text.split_once(": ").unwrap_or((&sentence.text, ""));
            let mut facts = classify(head, &base);
            facts.retain(|f| f.kind != Kind::Feature);
            if !rest.is_empty() {
                facts.extend(classify(rest, &base));
            }
            out.facts.extend(facts);
            continue;
        }
        if sentence.question && !is_idea {
            out.questions.push(format!("{}?", cap(sentence.text.trim())));
            out.facts.push(Fact {
                kind: Kind::Question,
                text: format!("{}?", cap(sentence.text.trim())),
                ..base
            });
            continue;
        }
        if !is_idea && let Some(correction) = correction(workflow, step_id, &sentence.text, &base) {
            let (correction, fact) = correction;
            out.corrections.push(correction);
            out.facts.extend(fact);
            continue;
        }
        if !is_idea && COURTESY.contains(&norm(&lower).as_str()) {
            continue;
        }
        out.statements += 1;
        let facts = classify(&sentence.text, &base);
        if facts.is_empty() {
            out.facts.push(Fact {
                kind: Kind::Note,
                text: voice(&sentence.text),
                ..base
            });
        } else {
            out.facts.extend(facts);
        }
    }
    out
}

/// The facts in one statement.
fn classify(sentence: &str, base: &Fact) -> Vec<Fact> {
    let lower = sentence.to_lowercase();
    let clean = voice(sentence);
    let fact = |kind: Kind| Fact {
        kind,
        text: clean.clone(),
        ..base.clone()
    };
    let mut out = Vec::new();
    let has_number = sentence.chars().any(|c| c.is_ascii_digit());
    let money = sentence.contains(['€', '$', '£']) || any_cue(&lower, MONEY);

    if any_cue(&lower, OFFLINE) {
        out.push(Fact {
            negative: any_cue(&lower, NOT_NEEDED),
            ..fact(Kind::Offline)
        });
    }
    let problem_cue = any_cue(&lower, PROBLEM);
    if any_cue(&lower, BUDGET) || (money && has_number && !problem_cue) {
        out.push(Fact {
            quantity: text::quantity(sentence).filter(|_| has_number),
            ..fact(Kind::Budget)
        });
    }
    let when = text::when_phrase(sentence);
    let milestone = any_cue(&lower, MILESTONE);
    let is_metric = (has_number && any_cue(&lower, METRIC) && !money) || any_cue(&lower, SUCCESS);
    if milestone {
        out.push(Fact {
            when: when.clone(),
            ..fact(Kind::Milestone)
        });
    }
    if when.is_some() && any_cue(&lower, DEADLINE) && !milestone {
        out.push(Fact {
            when: when.clone(),
            ..fact(Kind::Deadline)
        });
    }
    let aimed = sentence.contains('%') || any_cue(&lower, AIMED);
    if is_metric && !milestone && (!problem_cue || aimed) {
        for part in metric_parts(sentence) {
            out.push(Fact {
                text: voice(&part),
                quantity: text::quantity(&part).filter(|_| part.chars().any(|c| c.is_ascii_digit())),
                when: text::when_phrase(&part).or_else(|| when.clone()),
                ..fact(Kind::Metric)
            });
        }
    }
    if any_cue(&lower, TEAM) {
        out.push(fact(Kind::Team));
    }
    let platforms: Vec<&str> = PLATFORM
        .iter()
        .filter(|(cue, _)| has_word(&lower, cue))
        .map(|(_, name)| *name)
        .collect();
    if !platforms.is_empty() {
        let mut names: Vec<&str> = Vec::new();
        for p in platforms {
            if !names.contains(&p) {
                names.push(p);
            }
        }
        out.push(Fact {
            quantity: Some(names.join(", ")),
            ..fact(Kind::Platform)
        });
    }
    for (cues, kind) in [
        (TECH, Kind::Tech),
        (HOSTING, Kind::Hosting),
        (INTEGRATION, Kind::Integration),
        (COMPLIANCE, Kind::Compliance),
        (DIFFERENT, Kind::Differentiator),
        (WHY_NOW, Kind::WhyNow),
        (VALUE, Kind::Value),
    ] {
        if any_cue(&lower, cues) {
            out.push(fact(kind));
        }
    }
    let risk = any_cue(&lower, RISK);
    if risk {
        out.push(fact(Kind::Risk));
    }
    let offline_said = out.iter().any(|f| f.kind == Kind::Offline);
    let later = any_cue(&lower, LATER) && !offline_said;
    let workaround = any_cue(&lower, WORKAROUND);
    let problem = any_cue(&lower, PROBLEM) && !risk && !later;
    if workaround {
        out.push(fact(Kind::Workaround));
    }
    if problem {
        out.push(Fact {
            quantity: text::quantity(sentence).filter(|_| has_number),
            ..fact(Kind::Problem)
        });
    }
    // A feature is a sentence about what the product does, and nothing else.
    let only_context = out
        .iter()
        .all(|f| matches!(f.kind, Kind::Platform | Kind::Tech | Kind::Integration | Kind::Partner));
    if later {
        for clause in text::clauses(sentence) {
            let text = later_text(&clause);
            if !text.is_empty() {
                out.push(Fact {
                    text,
                    ..fact(Kind::Later)
                });
            }
        }
    } else if (any_cue(&lower, FEATURE) || answers_what_it_does(base)) && only_context && !is_metric {
        for clause in text::clauses(sentence) {
            out.push(Fact {
                text: feature_text(&clause),
                ..fact(Kind::Feature)
            });
        }
    }
    let people = text::people_phrases(sentence);
    let leads_with_people = people
        .first()
        .is_some_and(|p| lower.starts_with(&p.to_lowercase()) || norm(p) == norm(sentence));
    // The idea names its users without cue words ("an app where families share recipes").
    let from_idea = base.turn == 0;
    if !people.is_empty() && (any_cue(&lower, USER_CUES) || leads_with_people || from_idea) {
        for phrase in people {
            let lp = phrase.to_lowercase();
            if ["users", "people", "user"].contains(&lp.as_str()) {
                continue;
            }
            out.push(Fact {
                text: phrase.clone(),
                secondary: any_cue(&lp, SECONDARY) || has_word(&lower, "secondary"),
                ..fact(Kind::User)
            });
        }
    }
    if any_cue(&lower, PARTNER) {
        for name in text::proper_names(sentence) {
            out.push(Fact {
                text: name,
                ..fact(Kind::Partner)
            });
        }
    }
    out
}

/// Whether the sentence answers a section about what the product does (then a plain
/// statement is a feature even without a cue word).
fn answers_what_it_does(base: &Fact) -> bool {
    base.home
        .as_ref()
        .is_some_and(|h| matches!(h.section.as_str(), "solution" | "mvp" | "functional" | "stories"))
}

/// Metric sentences with two numbers joined by "and" are two metrics.
fn metric_parts(sentence: &str) -> Vec<String> {
    let parts: Vec<&str> = sentence.split(" and ").collect();
    let numbered = parts.iter().filter(|p| p.chars().any(|c| c.is_ascii_digit())).count();
    if parts.len() > 1 && numbered == parts.len() {
        parts
            .iter()
            .map(|p| p.trim().trim_end_matches(',').to_owned())
            .collect()
    } else {
        vec![sentence.to_owned()]
    }
}

/// What is deferred, without the words that say so: "Reminders can wait until later" → "Reminders".
fn later_text(clause: &str) -> String {
    let mut t = voice(clause);
    for lead in ["so can ", "and so can ", "so does ", "as can ", "can "] {
        if t.to_lowercase().starts_with(lead) {
            t = t[lead.len()..].to_owned();
        }
    }
    for tail in [
        " can wait until after the first release",
        " can wait until later",
        " can wait",
        " can come later",
        " comes later",
        " until later",
        " for later",
        " later",
        " is a nice to have",
        " are nice to have",
        " is out of scope",
        " are out of scope",
        " for now",
    ] {
        if t.to_lowercase().ends_with(tail) && t.len() > tail.len() {
            t.truncate(t.len() - tail.len());
        }
    }
    let t = t.trim().to_owned();
    if t.split_whitespace().count() == 0 { t } else { cap(&t) }
}

/// A feature in the document's voice: "It should let members reserve" → "Members can reserve".
fn feature_text(clause: &str) -> String {
    let t = voice(clause);
    let lower = t.to_lowercase();
    for lead in [
        "it should ",
        "it must ",
        "it will ",
        "it needs to ",
        "it can ",
        "the app should ",
        "the app must ",
        "the app will ",
        "the app can ",
        "you can ",
        "they can ",
        "and ",
    ] {
        if lower.starts_with(lead) {
            return cap(&t[lead.len()..]);
        }
    }
    cap(&t)
}

/// A correction: `change X to Y`, `replace X with Y`, or a setting such as "the first milestone
/// is …" said with a correction cue or about a named section.
fn correction(workflow: &Workflow, step_id: &str, sentence: &str, base: &Fact) -> Option<(Correction, Option<Fact>)> {
    let lower = sentence.to_lowercase();
    let named = named_section(workflow, step_id, &lower);
    let said = voice(sentence);
    if let Some((from, to)) = change_pair(sentence) {
        let slot = SLOTS.iter().find(|(name, _)| {
            let f = norm(&from);
            f == *name || f == format!("the {name}") || f.ends_with(&format!(" {name}"))
        });
        if let Some((_, kind)) = slot {
            let fact = slot_fact(*kind, &to, base);
            let target = named.or_else(|| default_home(workflow, step_id, *kind));
            return Some((
                Correction {
                    target,
                    replace: None,
                    said: format!("{} is now \"{}\"", norm(&from), fact.text),
                },
                Some(fact),
            ));
        }
        return Some((
            Correction {
                target: named,
                replace: Some((from, to)),
                said,
            },
            None,
        ));
    }
    let cue = any_cue(&lower, CORRECTION);
    let (kind, value) = slot_setting(sentence)?;
    let first_milestone = kind == Kind::Milestone && lower.contains("first milestone");
    if !(cue || named.is_some() || first_milestone) {
        return None;
    }
    let fact = slot_fact(kind, &value, base);
    let target = named.or_else(|| default_home(workflow, step_id, kind));
    let label = SLOTS
        .iter()
        .find(|(_, k)| *k == kind)
        .map(|(name, _)| *name)
        .unwrap_or("value");
    Some((
        Correction {
            target,
            replace: None,
            said: format!("the {label} is now \"{}\"", fact.text),
        },
        Some(fact),
    ))
}

fn slot_fact(kind: Kind, value: &str, base: &Fact) -> Fact {
    let value = voice(value.trim_matches(['"', '\'', '“', '”', '‘', '’']));
    let lower = value.to_lowercase();
    Fact {
        kind,
        text: value.clone(),
        quantity: text::quantity(&value).filter(|_| value.chars().any(|c| c.is_ascii_digit())),
        when: text::when_phrase(&value),
        negative: false,
        secondary: kind == Kind::User && any_cue(&lower, SECONDARY),
        slot: true,
        home: base.home.clone(),
        turn: base.turn,
    }
}

/// `change X to Y`, `replace X with Y`, `rename X to Y` (quotes around X and Y are dropped).
fn change_pair(sentence: &str) -> Option<(String, String)> {
    // ASCII lower-casing keeps byte positions, so they index `sentence` too.
    let lower = sentence.to_ascii_lowercase();
    for (verb, link) in [("change ", " to "), ("replace ", " with "), ("rename ", " to ")] {
        let Some(at) = find_word(&lower, verb) else { continue };
        // "Change X to Y" is an instruction only near the start ("Please change …").
        if lower[..at].split_whitespace().count() > 4 {
            continue;
        }
        let after = at + verb.len();
        let Some(link_at) = lower[after..].find(link).map(|i| after + i) else {
            continue;
        };
        let quotes = ['"', '\'', '“', '”', '‘', '’', ' '];
        let from = sentence[after..link_at].trim_matches(quotes).to_owned();
        let to = sentence[link_at + link.len()..].trim_matches(quotes).to_owned();
        if !from.is_empty() && !to.is_empty() && from.chars().count() <= 200 {
            return Some((strip_section_lead(&from), to));
        }
    }
    None
}

/// "the summary's first milestone" / "in the summary the first milestone" → "the first milestone".
fn strip_section_lead(text: &str) -> String {
    match text.find("'s ") {
        Some(at) => text[at + 3..].to_owned(),
        None => text.to_owned(),
    }
}

fn find_word(lower: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = lower[from..].find(word) {
        let at = from + i;
        if lower[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric()) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// "(the) SLOT is|are|should be|will be|: VALUE" → the slot's kind and the value.
fn slot_setting(sentence: &str) -> Option<(Kind, String)> {
    let lower = sentence.to_ascii_lowercase();
    for (name, kind) in SLOTS {
        let Some(at) = find_word(&lower, name) else { continue };
        let rest = &lower[at + name.len()..];
        for link in [" should be ", " will be ", " is ", " are ", ": ", " = "] {
            if rest.starts_with(link) {
                let start = at + name.len() + link.len();
                let value = sentence[start..].trim();
                if !value.is_empty() {
                    return Some((*kind, value.to_owned()));
                }
            }
        }
    }
    None
}

/// The section of the current step a kind belongs to, else of the workflow's first step that
/// has it.
fn default_home(workflow: &Workflow, step_id: &str, kind: Kind) -> Option<Home> {
    let (_, section) = primary_section(kind)?;
    let step = workflow
        .step(step_id)
        .filter(|s| s.section(section).is_some())
        .or_else(|| workflow.steps.iter().find(|s| s.section(section).is_some()))?;
    Some(Home {
        step: step.id.clone(),
        section: section.to_owned(),
    })
}

/// Short names users give sections, besides their titles.
const ALIASES: &[(&str, &str)] = &[
    ("summary", "summary"),
    ("executive summary", "summary"),
    ("problem statement", "problem"),
    ("proposed solution", "solution"),
    ("target users", "users"),
    ("success metrics", "goals"),
    ("mvp scope", "mvp"),
    ("mvp", "mvp"),
    ("scope", "mvp"),
    ("constraints", "constraints"),
    ("open questions", "risks"),
    ("risks", "risks"),
    ("functional requirements", "functional"),
    ("requirements", "functional"),
    ("non-functional requirements", "non_functional"),
    ("ux goals", "ux"),
    ("technical assumptions", "technical"),
    ("epic list", "epics"),
    ("epics", "epics"),
    ("stories", "stories"),
    ("tech stack", "stack"),
    ("stack", "stack"),
    ("data models", "data"),
    ("data model", "data"),
    ("components", "components"),
    ("api design", "api"),
    ("infrastructure", "infrastructure"),
    ("test strategy", "testing"),
    ("checklist", "checklist"),
    ("next steps", "next_steps"),
];

/// The section a sentence names (by title or a common short name), preferring the current
/// step, then the latest earlier step that has it.
pub fn named_section(workflow: &Workflow, step_id: &str, lower: &str) -> Option<Home> {
    let current = workflow.step_index(step_id).unwrap_or(0);
    let order = std::iter::once(current).chain((0..current).rev());
    for index in order {
        let step = &workflow.steps[index];
        let by_title = step.sections.iter().find(|s| {
            let title = s.title.to_lowercase();
            let short = title.split(" (").next().unwrap_or(&title).trim().to_owned();
            has_word(lower, &short) && short.contains(' ')
        });
        let by_alias = || {
            ALIASES
                .iter()
                .filter(|(alias, _)| has_word(lower, alias))
                .filter(|(alias, _)| {
                    alias.contains(' ')
                        || *alias == "summary"
                        || lower.contains(&format!("{alias} section"))
                        || lower.contains(&format!("the {alias}"))
                })
                .find_map(|(_, id)| step.section(id))
        };
        if let Some(section) = by_title.or_else(by_alias) {
            return Some(Home {
                step: step.id.clone(),
                section: section.id.clone(),
            });
        }
    }
    None
}
