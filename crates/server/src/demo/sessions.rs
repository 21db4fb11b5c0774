//! The demo accounts' first planning sessions, written as real sessions: the conversation with
//! its times (the agent's opening of each step, the person's answers, the replies), the
//! documents of the steps reached (the workflow's own section templates filled in from the
//! project), ratings, the end-of-session survey and the comments feedback themes are found in.

use super::DemoError;
use chrono::{DateTime, Duration, Utc};
use plansmith_domain::workflow::{StepDef, Workflow};
use plansmith_domain::{DocumentId, MessageId, MessageRole, SessionId, SessionStatus, UserId, Workflows};
use plansmith_store::history::{PastDocument, PastMessage, PastSession};
use plansmith_store::quality::{DocumentRating, SessionSurvey};
use rand::Rng;
use rand::rngs::StdRng;
use uuid::Uuid;

/// The course of an account's first session, as the activity simulation ran it.
pub(super) struct Script {
    pub workflow: &'static str,
    pub started: DateTime<Utc>,
    /// The steps reached, in order.
    pub steps: Vec<StepScript>,
    pub completed: Option<DateTime<Utc>>,
    pub abandoned: Option<DateTime<Utc>>,
}

pub(super) struct StepScript {
    /// When the person wrote.
    pub messages: Vec<DateTime<Utc>>,
    pub completed: Option<DateTime<Utc>>,
}

pub(super) struct Made {
    pub session: PastSession,
    /// The person agreed to be quoted in product research.
    pub quotable: bool,
}

/// A project people plan, by category (what the themes' project categories should find).
struct Project {
    title: &'static str,
    idea: &'static str,
    answers: [&'static str; 3],
}

const PROJECTS: [Project; 12] = [
    Project {
        title: "ClinicQueue",
        idea: "A patient check-in and waiting room app for small clinics, so patients wait at home and get a text when the doctor is ready.",
        answers: [
            "Receptionists at small clinics juggle phone calls and a paper list; patients wait an hour in a crowded room.",
            "Patients and receptionists first, clinic owners pay. Success is halving time in the waiting room.",
            "It must work on any phone without an app install and keep patient data private under health rules.",
        ],
    },
    Project {
        title: "Tabletop Tutor",
        idea: "An online tutoring marketplace matching secondary school students with university students for maths and science lessons.",
        answers: [
            "Parents struggle to find affordable, trusted tutors; students want help the evening before a test.",
            "Parents pay per lesson, tutors get most of it. Success is 500 lessons a month by the end of the year.",
            "Tutors need identity checks, lessons happen by video, and payments must be held until the lesson is done.",
        ],
    },
    Project {
        title: "LedgerLite",
        idea: "A bookkeeping tool for freelancers that reads bank transactions, sorts expenses and prepares the quarterly tax return.",
        answers: [
            "Freelancers lose a weekend every quarter sorting receipts in spreadsheets and still miss deductible expenses.",
            "Solo freelancers and small agencies. Success is a tax return prepared in under an hour.",
            "Bank connections through an open banking provider; the numbers must be exact to the cent and auditable.",
        ],
    },
    Project {
        title: "ShiftSwap",
        idea: "A shift scheduling app for restaurants where staff swap shifts themselves and managers approve with one tap.",
        answers: [
            "Managers spend hours on group chats every week finding cover when someone cannot work a shift.",
            "Restaurant staff and their managers; owners pay per location. Success is no unfilled shift in a month.",
            "It has to work offline in a basement kitchen and sync when a phone gets signal again.",
        ],
    },
    Project {
        title: "GreenRoute",
        idea: "A route planner for delivery vans that cuts fuel use by planning stops around traffic and charging points for electric vans.",
        answers: [
            "Dispatchers plan routes by hand each morning; electric vans run out of charge because charging stops are not planned.",
            "Dispatchers of small delivery fleets. Success is ten percent less energy per delivery.",
            "Routes must be ready in under a minute for 200 stops and update when a driver falls behind.",
        ],
    },
    Project {
        title: "Homebase HOA",
        idea: "A portal for homeowner associations to collect fees, book shared spaces and vote on decisions online.",
        answers: [
            "Volunteer boards chase fees by email and run votes on paper that half the owners never return.",
            "Board members and homeowners; the association pays a yearly fee. Success is 80 percent of votes cast online.",
            "Votes must be secret and verifiable, and payments reconciled with the association's bank account.",
        ],
    },
    Project {
        title: "PantryPal",
        idea: "A mobile app that plans the week's meals from what is already in the fridge and builds the shopping list.",
        answers: [
            "Families throw away food every week and still shop without a plan.",
            "Busy parents. Success is people keeping the app after a month and saying they waste less.",
            "Scanning receipts has to be quick, and recipes should respect allergies and diets.",
        ],
    },
    Project {
        title: "Incident Desk",
        idea: "An internal tool for IT teams to log incidents, page the on-call engineer and write the post-mortem in one place.",
        answers: [
            "Incidents are tracked across chat, email and a wiki, so nobody knows who is on it or what was learned.",
            "On-call engineers and their managers in mid-sized companies. Success is a post-mortem for every major incident.",
            "It must integrate with our single sign-on and the monitoring tools we already use.",
        ],
    },
    Project {
        title: "FieldNotes",
        idea: "A data collection app for agricultural researchers recording crop measurements in the field, even without signal.",
        answers: [
            "Researchers write measurements on paper and type them in later, with errors and lost sheets.",
            "Field researchers and their lab managers. Success is no more paper forms in the next season.",
            "Forms change every season, data must sync without loss, and exports go to R and spreadsheets.",
        ],
    },
    Project {
        title: "GigLedger",
        idea: "A booking and invoicing platform for independent musicians to manage gigs, contracts and payments from venues.",
        answers: [
            "Musicians negotiate by message, lose track of deposits and chase venues for payment for months.",
            "Independent musicians and small bands. Success is getting paid within two weeks of a gig.",
            "Contracts need e-signatures and the payments have to support several currencies.",
        ],
    },
    Project {
        title: "CareCircle",
        idea: "A shared calendar and task list for families coordinating care for an elderly parent.",
        answers: [
            "Siblings coordinate care by phone, appointments get missed and one person ends up doing everything.",
            "Adult children caring for a parent, and paid carers. Success is every appointment covered.",
            "It must be simple enough for a parent to use, with reminders by text message.",
        ],
    },
    Project {
        title: "Storefront Sync",
        idea: "A tool for small online shops to keep stock levels in sync across their website, marketplaces and the physical shop.",
        answers: [
            "Shop owners oversell items that are already gone because each channel keeps its own stock count.",
            "Owners of small shops selling on two or more channels. Success is no oversold order in a month.",
            "Updates must reach every channel within a minute and survive a marketplace being down.",
        ],
    },
];

/// What people say in a comment: a theme, the ratings it goes with, and its words.
const COMMENTS: [(u8, &str); 14] = [
    (
        1,
        "The architecture section felt generic and did not fit our stack; it needed more detail on the database and hosting.",
    ),
    (
        2,
        "Too many questions before the first draft appeared; I wanted to see a draft sooner.",
    ),
    (
        2,
        "The estimates in the delivery plan were too optimistic; more detail on costs and timelines please.",
    ),
    (3, "Export to Word lost some formatting of the tables and the headings."),
    (
        3,
        "Decent draft, but the risks section repeated the constraints almost word for word.",
    ),
    (
        3,
        "Good structure overall; the user stories needed more acceptance criteria.",
    ),
    (
        4,
        "Clear brief, it made me think about users and goals I had not written down.",
    ),
    (
        4,
        "The questions were sharp, like talking to an experienced product manager.",
    ),
    (
        4,
        "The PRD was thorough and the epics were a good starting point for our backlog.",
    ),
    (
        5,
        "Saved me days of writing; the delivery plan milestones were exactly what the team needed.",
    ),
    (
        5,
        "Excellent plan, the architecture and the security section convinced our investors.",
    ),
    (
        5,
        "Loved how each section was drafted from my answers; a great planning partner.",
    ),
    (
        1,
        "The replies were slow and one section came out empty, I had to retry twice.",
    ),
    (
        2,
        "Without a model key the offline planner answers felt mechanical and repetitive.",
    ),
];

/// Provider, model, share of sessions, and how much better or worse people rate its work.
const MODELS: [(&str, &str, f64, f64); 3] = [
    ("openai", "gpt-4.1-mini", 0.45, 0.0),
    ("anthropic", "claude-sonnet-4-5", 0.35, 0.3),
    ("offline", "offline-planner-1", 0.20, -0.7),
];

const RATES_A_DOCUMENT: f64 = 0.35;
const COMMENTS_A_RATING: f64 = 0.3;
const ANSWERS_THE_SURVEY: f64 = 0.55;
const COMMENTS_THE_SURVEY: f64 = 0.25;
const AGREES_TO_QUOTES: f64 = 0.4;

/// The session of a script as it stands at `now`.
pub(super) fn write(
    rng: &mut StdRng,
    workflows: &Workflows,
    user: UserId,
    script: &Script,
    now: DateTime<Utc>,
) -> Result<Made, DemoError> {
    let workflow = workflows
        .get(script.workflow)
        .ok_or_else(|| DemoError::Workflows(format!("the demo workflow {} is not built in", script.workflow)))?;
    let project = &PROJECTS[rng.random_range(0..PROJECTS.len())];
    let mut pick = rng.random::<f64>();
    let (provider, model, _, bias) = MODELS
        .iter()
        .find(|(_, _, share, _)| {
            pick -= share;
            pick < 0.0
        })
        .copied()
        .unwrap_or(MODELS[0]);
    let id = SessionId(id_at(rng, script.started));
    let mut w = Writer {
        rng,
        project,
        provider,
        model,
        messages: Vec::new(),
    };
    let mut documents = Vec::new();
    // The documents of the steps completed, which people rate.
    let mut finished = Vec::new();
    let mut current_step = workflow.steps.first().map(|s| s.id.clone());
    let mut completed_steps = 0;
    let mut opened = script.started;
    for (index, step) in workflow.steps.iter().enumerate() {
        let ran = script.steps.get(index).filter(|_| opened < now);
        let (sections, at) = match ran {
            Some(ran) => {
                w.say(MessageRole::Assistant, step, opened, opening(workflow, step, project));
                let filled = w.converse(step, ran, now);
                let done = ran.completed.filter(|at| *at < now);
                let at = done.or(ran.messages.iter().rev().find(|m| **m < now).copied());
                match done {
                    Some(done) => {
                        finished.push(index);
                        completed_steps += 1;
                        opened = done;
                        current_step = workflow.steps.get(index + 1).map(|s| s.id.clone());
                    }
                    None => opened = now,
                }
                (fill(step, project, filled), at.unwrap_or(script.started))
            }
            None => (Vec::new(), script.started),
        };
        documents.push(PastDocument {
            id: DocumentId(id_at(w.rng, script.started)),
            step_id: step.id.clone(),
            title: step.document_title.clone(),
            sections,
            at,
        });
    }
    let completed = script.completed.filter(|at| *at < now);
    let abandoned = script.abandoned.filter(|at| *at < now);
    let status = match (completed, abandoned) {
        (Some(_), _) => SessionStatus::Completed,
        (None, Some(_)) => SessionStatus::Abandoned,
        (None, None) => SessionStatus::Active,
    };
    if completed.is_some() {
        current_step = None;
    }
    let last_message = w.messages.last().map_or(script.started, |m| m.at);
    let updated_at = [Some(last_message), completed, abandoned]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(script.started);
    let Writer { rng, messages, .. } = w;
    let mut ratings = Vec::new();
    let mut comments = 0;
    for d in finished.iter().map(|i| &documents[*i]) {
        if rng.random::<f64>() >= RATES_A_DOCUMENT {
            continue;
        }
        let rating = score(rng, bias);
        let comment = (rng.random::<f64>() < COMMENTS_A_RATING).then(|| comment(rng, rating));
        comments += usize::from(comment.is_some());
        let at = d.at + Duration::minutes(rng.random_range(1..90));
        ratings.push(DocumentRating {
            document: d.id,
            session: id,
            user,
            rating,
            useful: rating >= 3 || rng.random::<f64>() < 0.2,
            comment,
            at: at.min(now),
        });
    }
    let survey = match completed {
        Some(done) if rng.random::<f64>() < ANSWERS_THE_SURVEY => {
            let csat = score(rng, bias + 0.2);
            let comment = (rng.random::<f64>() < COMMENTS_THE_SURVEY).then(|| comment(rng, csat));
            comments += usize::from(comment.is_some());
            // A full plan takes people weeks of evenings by hand; a brief, an afternoon.
            let typical: f64 = if workflow.steps.len() > 1 { 40.0 } else { 6.0 };
            let hours = (typical.ln() + 0.6 * normal(rng)).exp();
            Some(SessionSurvey {
                session: id,
                user,
                csat,
                hours_without: (hours * 2.0).round().clamp(1.0, 10_000.0) / 2.0,
                comment,
                at: (done + Duration::minutes(rng.random_range(1..30))).min(now),
            })
        }
        _ => None,
    };
    let updated_at = ratings
        .iter()
        .map(|r| r.at)
        .chain(survey.as_ref().map(|s| s.at))
        .fold(updated_at, DateTime::max);
    let quotable = comments > 0 && rng.random::<f64>() < AGREES_TO_QUOTES;
    Ok(Made {
        session: PastSession {
            id,
            user,
            workflow_id: workflow.id.clone(),
            title: project.title.to_owned(),
            idea: project.idea.to_owned(),
            status,
            current_step,
            completed_steps,
            created_at: script.started,
            updated_at,
            completed_at: completed,
            messages,
            documents,
            ratings,
            survey,
        },
        quotable,
    })
}

struct Writer<'a> {
    rng: &'a mut StdRng,
    project: &'static Project,
    provider: &'static str,
    model: &'static str,
    messages: Vec<PastMessage>,
}

impl Writer<'_> {
    fn say(&mut self, role: MessageRole, step: &StepDef, at: DateTime<Utc>, content: String) {
        let by_model = role == MessageRole::Assistant;
        self.messages.push(PastMessage {
            id: MessageId(id_at(self.rng, at)),
            role,
            step_id: step.id.clone(),
            content,
            provider: by_model.then(|| self.provider.to_owned()),
            model: by_model.then(|| self.model.to_owned()),
            at,
        });
    }

    /// The person's messages of a step and the replies; how many sections they filled.
    fn converse(&mut self, step: &StepDef, ran: &StepScript, now: DateTime<Utc>) -> usize {
        let mut filled = 0;
        let sent: Vec<DateTime<Utc>> = ran.messages.iter().copied().filter(|at| *at < now).collect();
        // The sections are spread over the person's answers; a completed step has them all.
        let per_answer = step.sections.len().div_ceil(ran.messages.len().max(1));
        for (n, at) in sent.iter().enumerate() {
            let answer = self.project.answers[n % self.project.answers.len()];
            let text = match n {
                0 => answer.to_owned(),
                _ if self.rng.random::<f64>() < 0.3 => "Yes, that's right. Let's go on.".to_owned(),
                _ => answer.to_owned(),
            };
            self.say(MessageRole::User, step, *at, text);
            // Under a minute: a step is completed a minute or more after its last answer.
            let reply_at = *at + Duration::seconds(self.rng.random_range(8..55));
            let drafted: Vec<&str> = step
                .sections
                .iter()
                .skip(filled)
                .take(per_answer)
                .map(|s| s.title.as_str())
                .collect();
            filled += drafted.len();
            let next = step.sections.get(filled);
            let mut reply = match drafted.as_slice() {
                [] => "Thanks, noted. The document is complete for this step.".to_owned(),
                titles => format!("I've drafted **{}** from your answer.", titles.join("**, **")),
            };
            if let Some(next) = next {
                let question = next.questions.first().map_or("", String::as_str);
                reply.push_str(&format!("\n\nNext, **{}**: {question}", next.title));
            }
            self.say(MessageRole::Assistant, step, reply_at.min(now), reply);
        }
        if ran.completed.is_some_and(|at| at < now) {
            step.sections.len()
        } else {
            filled.min(step.sections.len())
        }
    }
}

/// The agent's opening of a step, as the workflow words it.
fn opening(workflow: &Workflow, step: &StepDef, project: &Project) -> String {
    plansmith_domain::planner::step_intro(workflow, step, project.title, project.idea)
}

/// The step's first `count` sections: its templates filled from the project.
fn fill(step: &StepDef, project: &Project, count: usize) -> Vec<(String, String)> {
    step.sections
        .iter()
        .take(count)
        .enumerate()
        .map(|(n, section)| {
            let text = section
                .template
                .replace("{title}", project.title)
                .replace("{idea}", project.idea)
                .replace("{answer}", project.answers[n % project.answers.len()]);
            (section.id.clone(), text.trim().to_owned())
        })
        .collect()
}

/// A 1–5 score around four, moved by `bias`.
fn score(rng: &mut StdRng, bias: f64) -> i64 {
    (3.9 + bias + 1.1 * normal(rng)).round().clamp(1.0, 5.0) as i64
}

/// A comment that fits the score.
fn comment(rng: &mut StdRng, score: i64) -> String {
    let near: Vec<&str> = COMMENTS
        .iter()
        .filter(|(s, _)| (i64::from(*s) - score).abs() <= 1)
        .map(|(_, text)| *text)
        .collect();
    near[rng.random_range(0..near.len())].to_owned()
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// A time-ordered id (UUIDv7) of that instant, its random part from the demo's generator.
fn id_at(rng: &mut StdRng, at: DateTime<Utc>) -> Uuid {
    let random: [u8; 10] = rng.random();
    uuid::Builder::from_unix_timestamp_millis(at.timestamp_millis().max(0) as u64, &random).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn script(started: DateTime<Utc>, completed: bool) -> Script {
        let minutes = |m: i64| started + Duration::minutes(m);
        Script {
            workflow: "quick-brief",
            started,
            steps: vec![StepScript {
                messages: vec![minutes(5), minutes(15), minutes(40)],
                completed: completed.then(|| minutes(45)),
            }],
            completed: completed.then(|| minutes(45)),
            abandoned: None,
        }
    }

    #[test]
    fn a_completed_session_has_its_conversation_filled_documents_and_no_problem() {
        let workflows = crate::workflows::builtin().unwrap();
        let started = Utc::now() - Duration::days(3);
        let mut rng = StdRng::seed_from_u64(7);
        let made = write(&mut rng, &workflows, UserId::new(), &script(started, true), Utc::now()).unwrap();
        let s = &made.session;
        assert_eq!(s.problem(), None);
        assert_eq!(s.status, SessionStatus::Completed);
        assert_eq!(s.current_step, None);
        assert_eq!(s.completed_steps, 1);
        // The opening, then each of the three answers with its reply.
        assert_eq!(s.messages.len(), 7);
        assert_eq!(s.messages[0].role, MessageRole::Assistant);
        assert!(
            s.messages[0].content.contains(&s.title),
            "the brief's opening names the project"
        );
        assert!(
            s.messages
                .iter()
                .filter(|m| m.role == MessageRole::Assistant)
                .all(|m| m.model.is_some())
        );
        assert!(
            s.messages
                .iter()
                .filter(|m| m.role == MessageRole::User)
                .all(|m| m.model.is_none())
        );
        let brief = &workflows.get("quick-brief").unwrap().steps[0];
        assert_eq!(s.documents[0].sections.len(), brief.sections.len());
        assert!(s.documents[0].sections.iter().all(|(_, text)| text.contains(&s.title)));
        assert!(
            s.documents[0]
                .sections
                .iter()
                .all(|(_, text)| !text.contains("{answer}"))
        );
    }

    #[test]
    fn a_session_still_running_has_what_was_written_so_far() {
        let workflows = crate::workflows::builtin().unwrap();
        let now = Utc::now();
        let started = now - Duration::minutes(20);
        let mut rng = StdRng::seed_from_u64(8);
        let made = write(&mut rng, &workflows, UserId::new(), &script(started, true), now).unwrap();
        let s = &made.session;
        assert_eq!(s.problem(), None);
        assert_eq!(s.status, SessionStatus::Active);
        assert_eq!(s.current_step.as_deref(), Some("brief"));
        assert!(s.messages.iter().all(|m| m.at <= now));
        // Two answers so far, each drafting its share of the sections; none rated yet.
        assert_eq!(s.messages.len(), 5);
        let filled = s.documents[0].sections.len();
        assert!(filled > 0 && filled < 8, "{filled}");
        assert!(s.ratings.is_empty() && s.survey.is_none());
    }
}
