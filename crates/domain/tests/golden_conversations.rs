//! Golden conversations with the offline planner: whole sessions (idea, a dozen turns with a
//! correction, questions and a repeated constraint) played the way the server plays them, then
//! checked for where the named facts landed, that corrections applied, that the user's
//! questions were recorded, that no question was asked twice, and that later documents derive
//! from earlier ones.

use plansmith_domain::output::{OutputParser, OutputPiece};
use plansmith_domain::planner::{PlanningContext, Turn, offline_reply, step_intro, step_intro_in};
use plansmith_domain::{DocumentContent, MessageRole, Workflow};
use std::collections::BTreeMap;
use std::sync::Arc;

const PRODUCT_PLAN: &str = include_str!("../../../workflows/product-plan.toml");
const QUICK_BRIEF: &str = include_str!("../../../workflows/quick-brief.toml");

/// A session played through: every message and the documents at the end.
struct Played {
    /// (role, step, chat text) in order.
    messages: Vec<(MessageRole, String, String)>,
    documents: BTreeMap<String, DocumentContent>,
    /// Sections each reply wrote, in order: (user message, step, section ids).
    writes: Vec<(String, String, Vec<String>)>,
}

impl Played {
    fn section(&self, step: &str, section: &str) -> &str {
        self.documents.get(step).map(|d| d.section(section)).unwrap_or("")
    }

    fn assistant(&self) -> impl Iterator<Item = &str> {
        self.messages
            .iter()
            .filter(|m| m.0 == MessageRole::Assistant)
            .map(|m| m.2.as_str())
    }

    /// Question lines the agent asked (`- …?`), in order.
    fn asked(&self) -> Vec<String> {
        self.assistant()
            .flat_map(|m| m.lines())
            .filter_map(|l| l.trim().strip_prefix("- "))
            .filter(|l| l.ends_with('?'))
            .map(str::to_owned)
            .collect()
    }

    fn wrote(&self, message_contains: &str) -> Vec<String> {
        self.writes
            .iter()
            .find(|w| w.0.contains(message_contains))
            .map(|w| w.2.clone())
            .unwrap_or_default()
    }
}

/// Plays a session: each step opens with its introduction, each message gets the offline
/// reply, whose section blocks update the step's document (as the server applies them). A
/// step whose document still has empty sections at its end is finished with "draft the rest".
fn play(workflow_toml: &str, title: &str, idea: &str, steps: &[(&str, &[&str])]) -> Played {
    let workflow = Arc::new(Workflow::parse("golden.toml", workflow_toml).expect("a built-in workflow parses"));
    let mut played = Played {
        messages: Vec::new(),
        documents: BTreeMap::new(),
        writes: Vec::new(),
    };
    let mut history: Vec<Turn> = Vec::new();
    for (step_id, messages) in steps {
        let step = workflow.step(step_id).expect("the script names steps of the workflow");
        // The first step opens from the idea alone; later ones from the whole conversation.
        let intro = if history.is_empty() {
            step_intro(&workflow, step, title, idea)
        } else {
            step_intro_in(
                &PlanningContext {
                    title: title.to_owned(),
                    idea: idea.to_owned(),
                    workflow: Arc::clone(&workflow),
                    step_id: step.id.clone(),
                    documents: played.documents.clone(),
                    history: history.clone(),
                },
                step,
            )
        };
        history.push(Turn {
            role: MessageRole::Assistant,
            step_id: step.id.clone(),
            content: intro.clone(),
        });
        played.messages.push((MessageRole::Assistant, step.id.clone(), intro));
        let say = |played: &mut Played, history: &mut Vec<Turn>, message: &str| {
            history.push(Turn {
                role: MessageRole::User,
                step_id: step.id.clone(),
                content: message.to_owned(),
            });
            played
                .messages
                .push((MessageRole::User, step.id.clone(), message.to_owned()));
            let ctx = PlanningContext {
                title: title.to_owned(),
                idea: idea.to_owned(),
                workflow: Arc::clone(&workflow),
                step_id: step.id.clone(),
                documents: played.documents.clone(),
                history: history.clone(),
            };
            let output = offline_reply(&ctx);
            assert_eq!(offline_reply(&ctx), output, "the offline planner is deterministic");
            let mut parser = OutputParser::new();
            let mut pieces = parser.push(&output);
            pieces.extend(parser.finish());
            let mut chat = String::new();
            let mut written = Vec::new();
            let doc = played.documents.entry(step.id.clone()).or_default();
            for piece in pieces {
                match piece {
                    OutputPiece::Text(t) => chat.push_str(&t),
                    OutputPiece::Section { id, content } => {
                        assert!(step.section(&id).is_some(), "unknown section {id} in {output}");
                        assert!(!content.trim().is_empty(), "empty draft of {id}");
                        doc.set(&id, &content);
                        written.push(id);
                    }
                    OutputPiece::Rejected { reason, .. } => panic!("rejected block: {reason}\n{output}"),
                }
            }
            played.writes.push((message.to_owned(), step.id.clone(), written));
            history.push(Turn {
                role: MessageRole::Assistant,
                step_id: step.id.clone(),
                content: chat.clone(),
            });
            played.messages.push((MessageRole::Assistant, step.id.clone(), chat));
        };
        for message in *messages {
            say(&mut played, &mut history, message);
        }
        let doc = played.documents.get(&step.id).cloned().unwrap_or_default();
        if step.sections.iter().any(|s| doc.section(&s.id).trim().is_empty()) {
            say(&mut played, &mut history, "draft the rest");
        }
    }
    played
}

fn dump(p: &Played) -> String {
    let mut out = String::new();
    for (role, step, text) in &p.messages {
        out.push_str(&format!("\n===== {} [{step}]\n{text}\n", role.as_str()));
    }
    for (step, doc) in &p.documents {
        for (id, content) in &doc.0 {
            out.push_str(&format!("\n##### {step}.{id}\n{content}\n"));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Checks shared by every conversation
// ---------------------------------------------------------------------------

/// Every needle is in the section (case-insensitive), with the section shown when not.
#[track_caller]
fn lands(p: &Played, step: &str, section: &str, needles: &[&str]) {
    let content = p.section(step, section).to_lowercase();
    for needle in needles {
        assert!(
            content.contains(&needle.to_lowercase()),
            "{step}.{section} should mention {needle:?}:\n{}",
            p.section(step, section)
        );
    }
}

#[track_caller]
fn absent(p: &Played, step: &str, section: &str, needles: &[&str]) {
    let content = p.section(step, section).to_lowercase();
    for needle in needles {
        assert!(
            !content.contains(&needle.to_lowercase()),
            "{step}.{section} should not mention {needle:?}:\n{}",
            p.section(step, section)
        );
    }
}

/// The checks every session must pass, whatever its content.
#[track_caller]
fn common_checks(p: &Played) {
    // No question is asked twice in a session.
    let asked = p.asked();
    let mut seen = std::collections::HashSet::new();
    for q in &asked {
        assert!(seen.insert(q.to_lowercase()), "asked twice: {q}\n{}", dump(p));
    }
    // The offline planner says what it is, and only once.
    let notices = p.assistant().filter(|m| m.contains("built-in offline planner")).count();
    assert_eq!(notices, 1, "the offline notice is given exactly once");
    assert!(
        p.assistant()
            .any(|m| m.contains("llm.providers") && m.contains("README"))
    );
    // Answers are read, not pasted: no message of two or more sentences appears whole.
    for (role, _, message) in &p.messages {
        if *role != MessageRole::User || message.matches(". ").count() == 0 {
            continue;
        }
        for (step, doc) in &p.documents {
            for (id, content) in &doc.0 {
                assert!(
                    !content.contains(message.trim_end_matches('.')),
                    "{step}.{id} pastes {message:?}"
                );
            }
        }
    }
    // No placeholder boilerplate of the workflow templates survives.
    for (step, doc) in &p.documents {
        for (id, content) in &doc.0 {
            assert!(
                !content.contains("(to confirm)"),
                "{step}.{id} has template placeholders:\n{content}"
            );
        }
    }
}

/// No question line about `topic` after the user message containing `said`.
#[track_caller]
fn never_asked_again(p: &Played, said: &str, topic: &str) {
    let from = p
        .messages
        .iter()
        .position(|m| m.0 == MessageRole::User && m.2.contains(said))
        .expect("the script has that message");
    for (role, step, text) in &p.messages[from..] {
        if *role != MessageRole::Assistant {
            continue;
        }
        for line in text
            .lines()
            .filter(|l| l.trim_start().starts_with("- ") && l.ends_with('?'))
        {
            assert!(
                !line.to_lowercase().contains(topic),
                "asked about {topic} in {step} after being told: {line}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The conversations
// ---------------------------------------------------------------------------

const SHED_IDEA: &str = "A tool-lending app for community gardens: members borrow shared tools by scanning a QR code on the shed door. Success would be 200 active members across 5 gardens within a year.";

const SHED_BRIEF: &[&str] = &[
    // summary
    "It's for community garden members, mostly retired people with basic Android phones, and the volunteers who run the tool shed. Now is the time because the city council gives a grant for shared equipment this year.",
    // problem
    "Tools go missing every week and nobody knows who has the wheelbarrow. Today they use a paper sign-out sheet on the shed door that nobody fills in. We lose about 15 tools a year, worth €600.",
    // solution: a correction of the summary and a question instead of an answer
    "In the executive summary, the first milestone is a pilot at Green Acres Garden by June 2026. Does QR scanning work with poor signal?",
    "Members scan the QR code on a tool to borrow it, and scan it again to return it. The shed volunteers can see who has which tool. Unlike generic inventory apps, it needs no account setup for members.",
    // users
    "The sheds have no signal at all, so it must work offline.",
    // goals
    "Reach 200 active members within 12 months and cut lost tools by 50%.",
    // mvp
    "Reminders when a tool is overdue can wait until later, and so can payments.",
    // constraints: the offline constraint said again
    "Our budget is €3,000 from the grant. I'm the only developer, working evenings. Remember it must work offline, the sheds have no signal.",
    // risks
    "I'm worried the older members won't bother to scan. What would hosting cost per month?",
];

#[test]
fn tool_shed_product_plan() {
    let p = play(
        PRODUCT_PLAN,
        "Toolshare",
        SHED_IDEA,
        &[
            ("brief", SHED_BRIEF),
            (
                "prd",
                &[
                    "Members borrowing a tool in under 10 seconds matters most.",
                    "draft the rest",
                ],
            ),
            (
                "architecture",
                &["As I said, the sheds have no signal.", "draft the rest"],
            ),
            ("delivery", &["The pilot is the date that matters.", "draft the rest"]),
        ],
    );
    common_checks(&p);

    // Users named in the idea and the answers reach the users and summary sections.
    lands(
        &p,
        "brief",
        "users",
        &[
            "community garden members",
            "volunteers who run the tool shed",
            "Android phones",
        ],
    );
    lands(
        &p,
        "brief",
        "summary",
        &["Toolshare", "community garden members", "grant"],
    );
    // Metrics with numbers, from the idea and from an answer, reach the goals.
    lands(
        &p,
        "brief",
        "goals",
        &["200 active members", "within a year", "50%", "within 12 months"],
    );
    lands(
        &p,
        "brief",
        "problem",
        &["go missing", "paper sign-out sheet", "15 tools a year"],
    );
    lands(
        &p,
        "brief",
        "mvp",
        &["scan", "Reminders when a tool is overdue", "Payments"],
    );
    lands(
        &p,
        "brief",
        "constraints",
        &["€3,000", "only developer", "without a signal"],
    );
    // The correction of the summary applied to the summary, and nowhere near the solution.
    assert_eq!(p.wrote("the first milestone is"), ["summary"]);
    lands(
        &p,
        "brief",
        "summary",
        &["First milestone:** A pilot at Green Acres Garden by June 2026"],
    );
    // The question is recorded under open questions, answered, and not pasted into the solution.
    lands(
        &p,
        "brief",
        "risks",
        &[
            "Does QR scanning work with poor signal?",
            "Proposed answer",
            "hosting cost",
        ],
    );
    absent(&p, "brief", "solution", &["poor signal", "milestone"]);
    lands(
        &p,
        "brief",
        "risks",
        &["older members won't bother to scan", "Sync conflicts"],
    );
    // Offline use was said twice in the brief: the architect does not ask again.
    never_asked_again(&p, "The sheds have no signal at all", "offline");
    // Later documents derive from earlier ones.
    lands(&p, "prd", "goals", &["200 active members", "paper sign-out sheet"]);
    lands(
        &p,
        "prd",
        "functional",
        &[
            "Members borrow shared tools",
            "Volunteers who run the tool shed can manage",
            "synced",
        ],
    );
    lands(&p, "prd", "non_functional", &["Offline", "200 active members"]);
    lands(&p, "prd", "stories", &["As a member, I want to borrow shared tools"]);
    lands(&p, "architecture", "overview", &["PWA", "syncs"]);
    lands(
        &p,
        "architecture",
        "components",
        &["Scanning", "Offline store and sync", "Administration"],
    );
    lands(&p, "architecture", "data", &["**Tool**", "**Loan**"]);
    lands(
        &p,
        "delivery",
        "epics",
        &["Green Acres", "by June 2026", "Members borrow shared tools"],
    );
    lands(&p, "delivery", "checklist", &["[x] Members borrow shared tools"]);
    lands(
        &p,
        "delivery",
        "next_steps",
        &["Does QR scanning work with poor signal?", "only developer"],
    );
}

const SITTER_IDEA: &str = "Pawpal matches dog owners with trusted neighbours who can walk their dog at short notice.";

const SITTER_BRIEF: &[&str] = &[
    // summary
    "It's for busy dog owners who work long shifts, and for retired neighbours who love dogs. Now is the right time because more and more people got a dog during the last years.",
    // problem
    "Owners can't find someone they trust when a shift runs late. Today they ask in a WhatsApp group and often nobody answers.",
    // solution
    "Owners post a walk request and nearby walkers accept it in one tap. Unlike big pet-sitting platforms, walkers are neighbours the owner can meet first.",
    // a correction of the solution just drafted, not an answer to the users section
    "Please change \"nearby walkers\" to \"verified neighbours\".",
    // users
    "Admins from the neighbourhood association check new walkers.",
    // goals
    "The goal is 300 completed walks per month by December and 80% of requests accepted within an hour.",
    // mvp
    "Payments and ratings can wait until later.",
    // constraints, with the budget said twice and offline ruled out
    "The budget is €5,000. It does not need to work offline, everyone has signal in town.",
    "Two freelancers build it, 10 hours a week each. The budget is €5,000, as I said.",
    // risks, with a question
    "I'm worried that owners won't trust strangers. Do we need insurance for the walks?",
    "What does GDPR mean for storing addresses?",
];

#[test]
fn dog_walking_quick_brief() {
    let p = play(QUICK_BRIEF, "Pawpal", SITTER_IDEA, &[("brief", SITTER_BRIEF)]);
    common_checks(&p);
    lands(
        &p,
        "brief",
        "summary",
        &["Pawpal", "busy dog owners who work long shifts"],
    );
    lands(
        &p,
        "brief",
        "users",
        &[
            "busy dog owners",
            "retired neighbours",
            "Admins from the neighbourhood association",
        ],
    );
    lands(
        &p,
        "brief",
        "problem",
        &["can't find someone they trust", "WhatsApp group"],
    );
    lands(&p, "brief", "goals", &["300 completed walks", "by December", "80%"]);
    lands(&p, "brief", "mvp", &["Payments and ratings"]);
    lands(
        &p,
        "brief",
        "constraints",
        &["€5,000", "Two freelancers", "offline support is not needed"],
    );
    // "Change X to Y" applies to the drafted solution, and only to it; a correction alone
    // answers nothing, so the next message still answers the users section.
    assert_eq!(p.wrote("Please change"), ["solution"]);
    assert_eq!(
        p.wrote("Admins from the neighbourhood").first().map(String::as_str),
        Some("users")
    );
    lands(&p, "brief", "solution", &["verified neighbours"]);
    absent(&p, "brief", "solution", &["nearby walkers", "insurance"]);
    // Both questions are recorded under open questions; the GDPR one is answered.
    lands(
        &p,
        "brief",
        "risks",
        &[
            "Do we need insurance for the walks?",
            "What does GDPR mean for storing addresses?",
            "privacy notice",
        ],
    );
    lands(&p, "brief", "risks", &["won't trust strangers"]);
    // The budget is not asked for once given, and the risks question about it is not repeated.
    never_asked_again(&p, "The budget is €5,000. It does not", "budget");
    let budget_lines = p.section("brief", "constraints").matches("€5,000").count();
    assert_eq!(budget_lines, 1, "a repeated constraint is written once");
}

const CLINIC_IDEA: &str = "Shiftswap lets nurses at St Mary's Hospital swap shifts with each other from their phones. Success means 70% of swaps done in the app within 6 months.";

#[test]
fn shift_swap_product_plan_with_stack_and_compliance() {
    let p = play(
        PRODUCT_PLAN,
        "Shiftswap",
        CLINIC_IDEA,
        &[
            (
                "brief",
                &[
                    "It's for ward nurses on rotating shifts, and ward managers who approve swaps.",
                    "Today swaps are arranged on a whiteboard in the break room and managers lose track of who works when.",
                    "Nurses post a shift they can't work and colleagues claim it; the manager approves it in one tap.",
                    "It must run on iPhones and Android phones.",
                    "Cut the time managers spend on rota changes by 50%.",
                    "Shift bidding and overtime pay can wait.",
                    "The budget is €20,000 and the launch is by March 2027. Patient data is never stored, but staff data falls under GDPR.",
                    "Is a web app enough or do we need the app stores?",
                    "Change the budget to €25,000.",
                    "I'm worried the hospital IT department will block it.",
                ],
            ),
            (
                "prd",
                &[
                    "The 50% goal matters most.",
                    "It must integrate with the hospital's rota system through its API.",
                    "It must run on iPhones and Android phones, as I said.",
                    "draft the rest",
                ],
            ),
            (
                "architecture",
                &[
                    "We only know Python and Django, and it must be hosted on Hetzner in Germany.",
                    "draft the rest",
                ],
            ),
        ],
    );
    common_checks(&p);
    lands(
        &p,
        "brief",
        "users",
        &[
            "ward nurses on rotating shifts",
            "ward managers who approve swaps",
            "iPhones",
            "Android phones",
        ],
    );
    lands(&p, "brief", "goals", &["70%", "within 6 months", "50%"]);
    lands(&p, "brief", "problem", &["whiteboard"]);
    lands(&p, "brief", "summary", &["St Mary's Hospital"]);
    lands(&p, "brief", "constraints", &["by March 2027", "GDPR"]);
    // "Change the budget to …" corrects the budget everywhere it is drafted from now on.
    lands(&p, "brief", "constraints", &["€25,000"]);
    absent(&p, "brief", "constraints", &["€20,000"]);
    assert_eq!(p.wrote("Change the budget"), ["constraints"]);
    lands(
        &p,
        "brief",
        "risks",
        &["Is a web app enough or do we need the app stores?", "installable"],
    );
    // Devices were given in the brief: the PRD's UX question about devices is not asked.
    never_asked_again(&p, "It must run on iPhones and Android phones.", "which devices");
    // Derived documents.
    lands(
        &p,
        "prd",
        "functional",
        &["Nurses post a shift", "The manager approves it"],
    );
    lands(&p, "prd", "technical", &["rota system"]);
    lands(&p, "prd", "non_functional", &["GDPR", "€25,000"]);
    lands(&p, "architecture", "stack", &["Python and Django", "Hetzner"]);
    lands(&p, "architecture", "infrastructure", &["Hetzner"]);
    lands(&p, "architecture", "security", &["GDPR", "ward managers"]);
    lands(&p, "architecture", "components", &["Adapter", "rota system"]);
}
