//! The planning context handed to a model, and the deterministic offline planner that
//! answers from it without any network. It reads the whole conversation on every reply
//! (`facts`), drafts the section the user is answering and every section a correction names
//! from what it learned (`draft`), records and answers the user's questions, and asks the
//! next section's questions, leaving out what was already answered.

mod draft;
mod facts;
mod text;

use crate::workflow::{SectionDef, StepDef, Workflow};
use crate::{DocumentContent, MessageRole};
use draft::Drafter;
use facts::{Correction, Home, Kind, Knowledge, NOTICE_MARKER};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One earlier turn of the conversation.
#[derive(Debug, Clone)]
pub struct Turn {
    pub role: MessageRole,
    pub step_id: String,
    pub content: String,
}

/// Everything a model needs to write one reply.
#[derive(Debug, Clone)]
pub struct PlanningContext {
    pub title: String,
    pub idea: String,
    pub workflow: Arc<Workflow>,
    pub step_id: String,
    /// Current content of every document of the session, by step id.
    pub documents: BTreeMap<String, DocumentContent>,
    /// The conversation so far, oldest first, ending with the user message to answer.
    pub history: Vec<Turn>,
}

impl PlanningContext {
    pub fn step(&self) -> &StepDef {
        self.workflow
            .step(&self.step_id)
            .expect("a context is only built for a step of its workflow")
    }

    pub fn document(&self, step_id: &str) -> Option<&DocumentContent> {
        self.documents.get(step_id)
    }

    fn last_user_message(&self) -> &str {
        self.history
            .iter()
            .rev()
            .find(|t| t.role == MessageRole::User)
            .map(|t| t.content.as_str())
            .unwrap_or("")
    }
}

/// The chat message with which the agent opens a step. Questions the idea already answers
/// are left out.
pub fn step_intro(workflow: &Workflow, step: &StepDef, title: &str, idea: &str) -> String {
    let knowledge = Knowledge::from_idea(workflow, &step.id, idea);
    intro(workflow, step, title, idea, &knowledge)
}

/// The opening message of a step, leaving out every question the conversation so far (the
/// context's history and idea) already answered. The server can use it in place of
/// [`step_intro`] when it has the conversation at hand.
pub fn step_intro_in(ctx: &PlanningContext, step: &StepDef) -> String {
    let knowledge = Knowledge::from_context(ctx, None);
    intro(&ctx.workflow, step, &ctx.title, &ctx.idea, &knowledge)
}

fn intro(workflow: &Workflow, step: &StepDef, title: &str, idea: &str, k: &Knowledge) -> String {
    let vars = Vars {
        title,
        idea,
        answer: "",
        workflow,
        documents: &BTreeMap::new(),
    };
    let mut text = vars.render(&step.intro);
    if let Some(first) = step.sections.first() {
        text.push_str(&format!(
            "\n\nWe'll start with **{}**: {}\n\n{}",
            first.title,
            first.purpose,
            questions(first, k)
        ));
    }
    text
}

/// Said once per session, at the end of the first offline reply.
fn notice() -> String {
    format!(
        "\n\n_I'm the {NOTICE_MARKER}: I work by rules, without a language model. To connect a model, add it under `[[llm.providers]]` and to `llm.route` in the configuration (README, \"Model providers\")._"
    )
}

/// The offline planner's complete output for the context, in the model output protocol.
pub fn offline_reply(ctx: &PlanningContext) -> String {
    let step = ctx.step();
    let empty_doc = DocumentContent::default();
    let doc = ctx.document(&step.id).unwrap_or(&empty_doc);
    let message = ctx.last_user_message();
    let empty: Vec<&SectionDef> = step
        .sections
        .iter()
        .filter(|s| doc.section(&s.id).trim().is_empty())
        .collect();
    let named = facts::named_section(&ctx.workflow, &step.id, &message.to_lowercase()).filter(|h| h.step == step.id);
    let home = empty
        .first()
        .map(|s| Home {
            step: step.id.clone(),
            section: s.id.clone(),
        })
        .or(named.clone());
    let k = Knowledge::from_context(ctx, home);
    let reply = Reply {
        ctx,
        step,
        doc,
        k: &k,
        drafter: Drafter { ctx, k: &k },
    };
    let mut out = if k.current.draft_rest {
        reply.draft_rest(&empty)
    } else if let Some(target) = empty.first() {
        reply.answer(target, &empty)
    } else {
        reply.revise(named.as_ref())
    };
    if !k.notice_given {
        out.push_str(&notice());
    }
    tidy(&out)
}

/// No run of more than one blank line, no leading blank lines.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut newlines = 0;
    for c in text.trim_start_matches(['\n', ' ']).chars() {
        if c == '\n' {
            newlines += 1;
            if newlines > 2 {
                continue;
            }
        } else {
            newlines = 0;
        }
        out.push(c);
    }
    out
}

struct Reply<'a> {
    ctx: &'a PlanningContext,
    step: &'a StepDef,
    doc: &'a DocumentContent,
    k: &'a Knowledge,
    drafter: Drafter<'a>,
}

impl Reply<'_> {
    fn draft_rest(&self, empty: &[&SectionDef]) -> String {
        if empty.is_empty() {
            return all_drafted(self.step);
        }
        let titles: Vec<&str> = empty.iter().map(|s| s.title.as_str()).collect();
        let mut out = format!(
            "Here are drafts of the remaining {} section{} of the {}: {}. ",
            empty.len(),
            if empty.len() == 1 { "" } else { "s" },
            self.step.document_title,
            titles.join(", ")
        );
        out.push_str("They build on your idea and everything you told me so far. Review them in the document, edit anything that is off, and complete the step when you are happy.\n");
        for section in empty {
            out.push_str(&self.block(section));
        }
        let (text, blocks) = self.side_effects(&empty.iter().map(|s| s.id.as_str()).collect::<Vec<_>>());
        out.push_str(&blocks);
        out.push_str(&text);
        out
    }

    /// A message while sections are still empty: it answers the first one (unless it only
    /// corrects or asks), then the next section's questions are asked.
    fn answer(&self, target: &SectionDef, empty: &[&SectionDef]) -> String {
        let answered = self.k.current.is_answer();
        let mut out = String::new();
        let mut drafted = vec![];
        if answered {
            out.push_str(&format!(
                "Thanks — I've drafted **{}** from what you told me. Have a look in the document and tell me what to change.",
                target.title
            ));
            out.push_str(&self.noted());
            out.push('\n');
            out.push_str(&self.block(target));
            drafted.push(target.id.as_str());
            let refreshed = self.refresh(&mut drafted);
            if !refreshed.is_empty() {
                out.push_str(&refreshed);
            }
        }
        let (text, blocks) = self.side_effects(&drafted);
        out.push_str(&blocks);
        out.push_str(&text);
        if !answered {
            out.push_str(&format!(
                "\n\nWhen you're ready, back to **{}**: the questions above still stand, or say \"draft the rest\".",
                target.title
            ));
            return out;
        }
        match empty.get(1) {
            Some(next) => out.push_str(&format!(
                "\nNext, **{}**: {}\n\n{}\n\n(You can also say \"draft the rest\" and I'll draft every remaining section at once.)",
                next.title,
                next.purpose,
                questions(next, self.k)
            )),
            None => out.push_str(&format!(
                "\nThat was the last open section: every section of the {} now has a draft. Review it, edit anything directly, and complete the step when you are ready.",
                self.step.document_title
            )),
        }
        out
    }

    /// A message once every section has a draft: revise what it names or changes.
    fn revise(&self, named: Option<&Home>) -> String {
        let mut ids: Vec<&str> = Vec::new();
        if let Some(section) = named.and_then(|h| self.step.section(&h.section)) {
            ids.push(section.id.as_str());
        } else if self.k.current.corrections.is_empty() {
            // New facts: revise every section whose draft they change.
            let before = self.without_current();
            let previous = Drafter {
                ctx: self.ctx,
                k: &before,
            };
            for section in &self.step.sections {
                let now = self.drafter.known(self.step, section);
                if now.is_some() && now != previous.known(self.step, section) {
                    ids.push(section.id.as_str());
                }
            }
        }
        let mut out = String::new();
        if !ids.is_empty() {
            let titles: Vec<String> = ids
                .iter()
                .filter_map(|id| self.step.section(id))
                .map(|s| format!("**{}**", s.title))
                .collect();
            out.push_str(&format!("I've revised {} with your input.\n", draft::join_and(&titles)));
            for id in &ids {
                if let Some(section) = self.step.section(id) {
                    out.push_str(&self.block(section));
                }
            }
        }
        let (text, blocks) = self.side_effects(&ids);
        out.push_str(&blocks);
        out.push_str(&text);
        if out.trim().is_empty() {
            return all_drafted(self.step);
        }
        out.push_str("\n\nAnything else to change? Otherwise complete the step to move on.");
        out
    }

    /// Blocks (and a line of chat) for the drafted sections the message's facts change,
    /// when their content is still the planner's own draft: a user's edits are never
    /// overwritten by an answer to another section.
    fn refresh<'s>(&'s self, drafted: &mut Vec<&'s str>) -> String {
        let before = self.without_current();
        let previous = Drafter {
            ctx: self.ctx,
            k: &before,
        };
        let mut blocks = String::new();
        let mut titles = Vec::new();
        for section in &self.step.sections {
            let current = self.doc.section(&section.id).trim();
            if current.is_empty() || drafted.contains(&section.id.as_str()) {
                continue;
            }
            let Some(old) = previous.known(self.step, section) else {
                continue;
            };
            let Some(new) = self.drafter.known(self.step, section) else {
                continue;
            };
            if old.trim() == current && new.trim() != current {
                blocks.push_str(&format!(
                    "<section id=\"{}\">\n{}\n</section>\n",
                    section.id,
                    new.trim()
                ));
                titles.push(format!("**{}**", section.title));
                drafted.push(section.id.as_str());
            }
        }
        if titles.is_empty() {
            return String::new();
        }
        format!(
            "{blocks}I've also brought {} up to date with it.\n",
            draft::join_and(&titles)
        )
    }

    /// The knowledge without the message being answered (to see what it changes).
    fn without_current(&self) -> Knowledge {
        let mut ctx = self.ctx.clone();
        if let Some(last) = ctx.history.iter().rposition(|t| t.role == MessageRole::User) {
            ctx.history.truncate(last);
        }
        Knowledge::from_context(&ctx, None)
    }

    /// Corrections and questions of the message: chat text, and blocks for the drafted
    /// sections they change (except those in `done`, which are drafted already).
    fn side_effects(&self, done: &[&str]) -> (String, String) {
        let mut text = String::new();
        let mut blocks = String::new();
        let mut updated: Vec<&str> = done.to_vec();
        for correction in &self.k.current.corrections {
            text.push_str("\n\n");
            text.push_str(&self.correction(correction, &mut updated, &mut blocks));
        }
        for question in &self.k.current.questions {
            text.push_str(&format!(
                "\n\nYou asked: *{}* ",
                question.trim_end_matches('?').to_owned() + "?"
            ));
            match answer(question, self.k) {
                Some(a) => text.push_str(&format!("{a} (my suggestion, to confirm).")),
                None => text.push_str("I can't answer that reliably offline."),
            }
            match self.questions_section() {
                Some(section) => {
                    text.push_str(&format!(
                        " I've recorded it under the open questions in **{}**.",
                        section.title
                    ));
                    let drafted = !self.doc.section(&section.id).trim().is_empty();
                    if drafted && !updated.contains(&section.id.as_str()) {
                        blocks.push_str(&self.block(section));
                        updated.push(section.id.as_str());
                    }
                }
                None => text.push_str(" I've recorded it with the plan's open questions."),
            }
        }
        (text, blocks)
    }

    fn correction<'s>(&'s self, c: &Correction, updated: &mut Vec<&'s str>, blocks: &mut String) -> String {
        if let Some((from, to)) = &c.replace {
            let sections: Vec<&SectionDef> = self
                .step
                .sections
                .iter()
                .filter(|s| {
                    c.target
                        .as_ref()
                        .is_none_or(|t| t.step == self.step.id && t.section == s.id)
                })
                .filter(|s| self.doc.section(&s.id).to_lowercase().contains(&from.to_lowercase()))
                .filter(|s| !updated.contains(&s.id.as_str()))
                .collect();
            for s in &sections {
                let content = self.drafter.finish(self.doc.section(&s.id));
                blocks.push_str(&format!("<section id=\"{}\">\n{}\n</section>\n", s.id, content.trim()));
                updated.push(s.id.as_str());
            }
            let titles: Vec<String> = sections.iter().map(|s| format!("**{}**", s.title)).collect();
            return if titles.is_empty() {
                format!("I'll write \"{to}\" instead of \"{from}\" from now on.")
            } else {
                format!("Done: \"{from}\" is now \"{to}\" in {}.", draft::join_and(&titles))
            };
        }
        let Some(target) = &c.target else {
            return format!("Noted: {}.", c.said);
        };
        if target.step != self.step.id {
            let (doc_title, section_title) = self
                .ctx
                .workflow
                .step(&target.step)
                .and_then(|s| Some((s.document_title.clone(), s.section(&target.section)?.title.clone())))
                .unwrap_or_default();
            return format!(
                "Your correction concerns **{section_title}** in the {doc_title}, which I can't change from this step: edit it there. I use the corrected value in everything I draft from now on."
            );
        }
        let Some(section) = self.step.section(&target.section) else {
            return format!("Noted: {}.", c.said);
        };
        if self.doc.section(&section.id).trim().is_empty() && !updated.contains(&section.id.as_str()) {
            return format!(
                "Noted for **{}**: {}. It goes into the draft when we get there.",
                section.title, c.said
            );
        }
        if !updated.contains(&section.id.as_str()) {
            blocks.push_str(&self.block(section));
            updated.push(section.id.as_str());
        }
        format!("I've applied your correction to **{}**: {}.", section.title, c.said)
    }

    /// The section of this step that lists open questions, if it has one.
    fn questions_section(&self) -> Option<&SectionDef> {
        self.step.sections.iter().find(|s| {
            matches!(
                (self.step.id.as_str(), s.id.as_str()),
                ("brief", "risks") | ("delivery", "next_steps")
            )
        })
    }

    /// "I also noted …" for facts of the message that belong to other sections.
    fn noted(&self) -> String {
        let mut labels: Vec<&str> = Vec::new();
        for fact in &self.k.current.facts {
            let label = match fact.kind {
                Kind::User => "who it is for",
                Kind::Metric => "a success target",
                Kind::Budget => "the budget",
                Kind::Deadline => "the deadline",
                Kind::Milestone => "the first milestone",
                Kind::Offline => "the offline constraint",
                Kind::Team => "who builds it",
                Kind::Platform => "the devices",
                Kind::Risk => "a risk",
                Kind::Later => "what waits until later",
                _ => continue,
            };
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        if labels.is_empty() {
            return String::new();
        }
        let labels: Vec<String> = labels.into_iter().map(str::to_owned).collect();
        format!(
            " I also took note of {}; each goes into the section where it belongs.",
            draft::join_and(&labels)
        )
    }

    fn block(&self, section: &SectionDef) -> String {
        let content = match self.drafter.known(self.step, section) {
            Some(content) => content,
            None => self.drafter.finish(&self.template(section)),
        };
        format!("<section id=\"{}\">\n{}\n</section>\n", section.id, content.trim())
    }

    /// A section this planner has no renderer for: its template, with the user's notes.
    fn template(&self, section: &SectionDef) -> String {
        let notes = self.drafter.notes_prose(self.step, section);
        let answer = if notes.is_empty() { NO_ANSWER.to_owned() } else { notes };
        let vars = Vars {
            title: &self.ctx.title,
            idea: &self.ctx.idea,
            answer: &answer,
            workflow: &self.ctx.workflow,
            documents: &self.ctx.documents,
        };
        vars.render(&section.template).trim().to_owned()
    }
}

fn all_drafted(step: &StepDef) -> String {
    let titles: Vec<&str> = step.sections.iter().map(|s| s.title.as_str()).collect();
    format!(
        "Every section of the {} has a draft. Tell me which section to change by its title ({}), edit it directly in the document, or complete the step to move on.",
        step.document_title,
        titles.join(", ")
    )
}

/// The section's questions, leaving out what the conversation already answered and what was
/// asked before.
fn questions(section: &SectionDef, k: &Knowledge) -> String {
    let asked: Vec<String> = section
        .questions
        .iter()
        .filter(|q| !k.was_asked(q))
        .filter_map(|q| open_part(q, k))
        .map(|q| format!("- {q}"))
        .collect();
    if asked.is_empty() {
        return "You've already told me what I need for it: confirm, add anything, or say \"draft the rest\"."
            .to_owned();
    }
    asked.join("\n")
}

/// What a topic of a question is about, and whether the conversation settled it.
type Settled = fn(&Knowledge) -> bool;

const TOPICS: &[(&[&str], Settled)] = &[
    (&["offline"], |k| k.offline().is_some()),
    (&["budget"], |k| k.has(Kind::Budget)),
    (&["deadline", "date or event", "when can work start"], |k| {
        k.has(Kind::Deadline) || k.has(Kind::Milestone)
    }),
    (&["team", "who builds", "who will build", "hours a week"], |k| {
        k.has(Kind::Team)
    }),
    (&["devices", "browser, phone", "web, phone"], |k| k.has(Kind::Platform)),
    (&["languages", "frameworks"], |k| k.has(Kind::Tech)),
    (&["host", "cloud provider"], |k| k.has(Kind::Hosting)),
    (
        &[
            "numbers would you watch",
            "call this project a success",
            "make it a success",
        ],
        |k| k.has(Kind::Metric),
    ),
    (&["for whom", "primary user"], |k| !k.users().0.is_empty()),
    (&["secondary users"], |k| !k.users().1.is_empty()),
    (&["problem do people have"], |k| k.has(Kind::Problem)),
    (&["cope with it now"], |k| k.has(Kind::Workaround)),
    (&["core thing a user does", "what does the product do"], |k| {
        k.has(Kind::Feature) || k.has(Kind::Product)
    }),
    (&["can wait"], |k| k.has(Kind::Later)),
    (&["worries you"], |k| k.has(Kind::Risk)),
    (&["integrate", "external services"], |k| k.has(Kind::Integration)),
    (&["sensitive", "which rules apply"], |k| k.has(Kind::Compliance)),
    (&["better than, or different"], |k| k.has(Kind::Differentiator)),
    (&["why is now"], |k| k.has(Kind::WhyNow)),
];

/// The question without its parts the conversation already settled (`None` when nothing
/// is left to ask).
fn open_part(question: &str, k: &Knowledge) -> Option<String> {
    let parts = text::clauses(question);
    let settled = |part: &String| {
        let lower = part.to_lowercase();
        let topics: Vec<&Settled> = TOPICS
            .iter()
            .filter(|(cues, _)| cues.iter().any(|c| lower.contains(c)))
            .map(|(_, settled)| settled)
            .collect();
        !topics.is_empty() && topics.iter().all(|settled| settled(k))
    };
    // "…, and what do they need?" means nothing once its first part is settled.
    let first_settled = parts.first().is_some_and(settled);
    let open: Vec<String> = parts
        .iter()
        .enumerate()
        .filter(|(i, part)| {
            let lower = format!(" {} ", part.to_lowercase());
            let refers_back = [" they ", " them ", " their "].iter().any(|p| lower.contains(p));
            !(*i > 0 && first_settled && refers_back)
        })
        .map(|(_, part)| part.clone())
        .filter(|part| {
            let lower = part.to_lowercase();
            let topics: Vec<&Settled> = TOPICS
                .iter()
                .filter(|(cues, _)| cues.iter().any(|c| lower.contains(c)))
                .map(|(_, settled)| settled)
                .collect();
            topics.is_empty() || !topics.iter().all(|settled| settled(k))
        })
        .collect();
    if open.is_empty() {
        return None;
    }
    let joined = open.join(", and ");
    let joined = joined.trim_end_matches('?').trim_end_matches(',').trim();
    Some(format!("{}?", text::cap(joined)))
}

/// The planner's answer to a user's question, for the questions it can answer by rule.
fn answer(question: &str, k: &Knowledge) -> Option<String> {
    let q = question.to_lowercase();
    let has = |cues: &[&str]| text::any_cue(&q, cues);
    if has(&[
        "offline",
        "signal",
        "connection",
        "internet",
        "wifi",
        "wi-fi",
        "reception",
        "coverage",
        "network",
    ]) {
        return Some(match k.offline() {
            Some(false) => "You said offline use isn't needed; if the signal is poor where it is used, we should revisit that".into(),
            _ => "Yes, if we design for it: the app keeps what it needs on the phone, saves actions such as a scan locally and syncs them when the signal returns. Reading a QR code needs only the camera, not the network".into(),
        });
    }
    if has(&["qr", "barcode*", "scan*"]) {
        return Some(
            "A phone camera reads QR codes without any extra hardware; printed, weatherproof labels cost little".into(),
        );
    }
    if has(&["cost*", "price*", "expensive", "afford", "budget", "how much"]) {
        return Some(match k.latest(Kind::Budget) {
            Some(b) => format!(
                "Running an MVP like this on a small managed platform usually costs little per month, which fits the budget ({}); the main cost is build time",
                b.quantity.clone().unwrap_or_else(|| b.text.clone())
            ),
            None => "An MVP like this usually runs for little per month on a small managed platform; the main cost is build time. Tell me the budget and I'll plan to it".into(),
        });
    }
    if has(&["gdpr", "privacy", "personal data", "data protection", "legal"]) {
        return Some("Keep only the personal data the flow needs, let people delete their account, and publish a short privacy notice; GDPR applies if any users are in the EU".into());
    }
    if has(&[
        "how long",
        "how many weeks",
        "how many months",
        "when could",
        "when can",
        "timeline",
    ]) {
        return Some(match k.latest(Kind::Deadline) {
            Some(d) => format!("The delivery plan works back from your date ({}); the first epic alone usually takes a few weeks", d.when.clone().unwrap_or_else(|| d.text.clone())),
            None => "A first usable slice usually takes a few weeks of focused work; the delivery plan will set dates once we know the team's time".into(),
        });
    }
    if has(&["app store", "native", "iphone", "android", "pwa", "web app"]) {
        return Some("A mobile-friendly web app, installable on the home screen, reaches iPhone and Android from one code base and can work offline; native apps can come later".into());
    }
    if has(&["payment*", "pay", "stripe", "charge", "fee*"]) {
        return Some("Payments add a provider, fees and legal work; I suggest leaving them out of the first release unless they are the core of it".into());
    }
    if has(&["notif*", "remind*", "sms", "email*", "push"]) {
        return Some("Email and push reminders are cheap to add; text messages cost per message".into());
    }
    if has(&["how many users", "scale", "load", "traffic"]) {
        return Some(
            "One small server handles thousands of users of an app like this; scale is not the first risk".into(),
        );
    }
    None
}

const NO_ANSWER: &str = "_No specific input was given for this section yet: this draft is based on the project idea. Confirm it or tell me what to change._";

struct Vars<'a> {
    title: &'a str,
    idea: &'a str,
    answer: &'a str,
    workflow: &'a Workflow,
    documents: &'a BTreeMap<String, DocumentContent>,
}

impl Vars<'_> {
    /// Replaces `{title}`, `{idea}`, `{answer}` and `{step.section}`; leaves other braces alone.
    fn render(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 256);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after
                .find('}')
                .and_then(|close| Some((close, self.lookup(&after[..close])?)))
            {
                Some((close, value)) => {
                    out.push_str(&value);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn lookup(&self, key: &str) -> Option<String> {
        match key {
            "title" => Some(self.title.trim().to_owned()),
            "idea" => Some(self.idea.trim().to_owned()),
            "answer" => Some(match self.answer.trim() {
                "" => NO_ANSWER.to_owned(),
                text => text.to_owned(),
            }),
            _ => {
                let (step_id, section_id) = key.split_once('.')?;
                let step = self.workflow.step(step_id)?;
                let section = step.section(section_id)?;
                // The "no input yet" note belongs to its own section, not to later documents.
                let content = self
                    .documents
                    .get(step_id)
                    .map(|d| d.section(section_id).replace(NO_ANSWER, ""))
                    .unwrap_or_default();
                let content = content.trim();
                Some(if content.is_empty() {
                    format!("_({} — {} not written yet)_", step.document_title, section.title)
                } else {
                    content.to_owned()
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{OutputParser, OutputPiece};
    use crate::workflow::tests::SAMPLE;

    fn ctx(message: &str, doc: DocumentContent) -> PlanningContext {
        let workflow = Arc::new(Workflow::parse("tiny.toml", SAMPLE).unwrap());
        PlanningContext {
            title: "Recipe Box".into(),
            idea: "An app where families share recipes.".into(),
            workflow,
            step_id: "brief".into(),
            documents: BTreeMap::from([("brief".to_owned(), doc)]),
            history: vec![Turn {
                role: MessageRole::User,
                step_id: "brief".into(),
                content: message.into(),
            }],
        }
    }

    fn sections(output: &str) -> Vec<(String, String)> {
        let mut parser = OutputParser::new();
        let mut pieces = parser.push(output);
        pieces.extend(parser.finish());
        pieces
            .into_iter()
            .filter_map(|p| match p {
                OutputPiece::Section { id, content } => Some((id, content)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn drafts_the_first_empty_section_from_the_answer_and_asks_the_next() {
        let out = offline_reply(&ctx("Grandparents who cook by heart.", DocumentContent::default()));
        let drafted = sections(&out);
        assert_eq!(drafted.len(), 1);
        assert_eq!(drafted[0].0, "summary");
        assert!(
            drafted[0]
                .1
                .contains("**Recipe Box** is an app where families share recipes."),
            "{drafted:?}"
        );
        assert!(drafted[0].1.contains("Grandparents who cook by heart"), "{drafted:?}");
        assert!(out.contains("Who are the users?"));
        assert_eq!(
            offline_reply(&ctx("Grandparents who cook by heart.", DocumentContent::default())),
            out
        );
    }

    #[test]
    fn draft_the_rest_fills_every_empty_section() {
        let mut doc = DocumentContent::default();
        doc.set("summary", "done");
        let out = offline_reply(&ctx("Please DRAFT THE REST", doc));
        let drafted = sections(&out);
        assert_eq!(drafted.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(), ["users"]);
        assert!(drafted[0].1.contains("**Primary users:** Families"), "{drafted:?}");
    }

    #[test]
    fn earlier_documents_feed_later_steps() {
        let mut c = ctx("Ship it", DocumentContent::default());
        c.step_id = "prd".into();
        let mut brief = DocumentContent::default();
        brief.set("goals", "**Objectives**\n1. Reach 50 families by May\n\n| a | b |");
        c.documents.insert("brief".into(), brief);
        let drafted = sections(&offline_reply(&c));
        assert!(drafted[0].1.contains("- Reach 50 families by May"), "{drafted:?}");
    }

    #[test]
    fn sections_without_a_renderer_use_their_template_with_the_notes() {
        let toml = SAMPLE.replace("id = \"users\"", "id = \"audience\"");
        let mut c = ctx("draft the rest", DocumentContent::default());
        c.workflow = Arc::new(Workflow::parse("tiny.toml", &toml).unwrap());
        let drafted = sections(&offline_reply(&c));
        assert_eq!(drafted[1].0, "audience");
        assert!(drafted[1].1.starts_with("Users of Recipe Box: "), "{drafted:?}");
    }

    #[test]
    fn the_offline_notice_is_given_once() {
        let first = offline_reply(&ctx("Busy parents.", DocumentContent::default()));
        assert!(first.contains("built-in offline planner") && first.contains("llm.providers"));
        let mut c = ctx("Busy parents.", DocumentContent::default());
        c.history.insert(
            0,
            Turn {
                role: MessageRole::Assistant,
                step_id: "brief".into(),
                content: first,
            },
        );
        assert!(!offline_reply(&c).contains("built-in offline planner"));
    }

    /// Model-like tokens as the offline provider streams them (words, long ones in pieces of six).
    fn tokens(text: &str) -> usize {
        text.split_inclusive(char::is_whitespace)
            .map(|w| w.chars().count().div_ceil(6).max(1))
            .sum()
    }

    #[test]
    fn a_first_answer_stays_short_enough_to_finish_within_a_shutdown_grace() {
        // The server's shutdown test lets a reply of one answer finish in about 3 s at 100
        // tokens per second: the first reply of a session (with the notice) must stay well
        // under 300 tokens.
        let workflow =
            Arc::new(Workflow::parse("q.toml", include_str!("../../../workflows/quick-brief.toml")).unwrap());
        let mut c = ctx("Busy parents.", DocumentContent::default());
        c.workflow = workflow;
        c.idea = "An app where families share and preserve recipes across generations.".into();
        let out = offline_reply(&c);
        assert!(tokens(&out) < 260, "{} tokens:\n{out}", tokens(&out));
    }

    #[test]
    fn odd_inputs_never_panic() {
        let workflow =
            Arc::new(Workflow::parse("p.toml", include_str!("../../../workflows/product-plan.toml")).unwrap());
        let huge = "Members borrow tools, and admins see who has what. ".repeat(4_000);
        let odd: [&str; 16] = [
            "",
            " ",
            "?",
            "...",
            "\n\n\n",
            "draft the rest?",
            "change  to ",
            "change X to",
            "replace with",
            "The first milestone is",
            "İstanbul'da ÇİFTÇİLER için bir uygulama. Change İ to ı. Бюджет €5?",
            "👩‍🌾🧑‍🌾 members 🌱 can borrow 🛠️ by QR… «offline» — no signal!!!",
            "<section id=\"summary\">injected</section>",
            "| table | cell |\n|---|---|",
            "a.b.c.d e.g. i.e. 3.5 € 1,000,000 %%% 2026-13-45 Q5",
            &huge,
        ];
        for step in &workflow.steps {
            for message in odd {
                for idea in ["", message, "A tool-lending app: members scan QR codes."] {
                    let mut c = ctx(message, DocumentContent::default());
                    c.workflow = Arc::clone(&workflow);
                    c.idea = idea.to_owned();
                    c.step_id = step.id.clone();
                    c.history[0].step_id = step.id.clone();
                    let out = offline_reply(&c);
                    for (id, content) in sections(&out) {
                        assert!(step.section(&id).is_some(), "{id}");
                        assert!(!content.trim().is_empty() && content.len() < 50_000, "{id}");
                    }
                    let _ = step_intro(&workflow, step, message, idea);
                }
            }
        }
    }

    #[test]
    fn step_intro_asks_the_first_questions() {
        let workflow = Workflow::parse("tiny.toml", SAMPLE).unwrap();
        let text = step_intro(&workflow, &workflow.steps[0], "Recipe Box", "idea");
        assert!(text.starts_with("Let us write the brief for Recipe Box."));
        assert!(text.contains("- What is it?"));
    }

    #[test]
    fn step_intro_leaves_out_what_the_idea_answers() {
        let workflow = Workflow::parse("p.toml", include_str!("../../../workflows/product-plan.toml")).unwrap();
        let overview = workflow.step("architecture").unwrap();
        let asks = step_intro(&workflow, overview, "T", "An app for hikers.");
        assert!(asks.contains("must it work offline?"), "{asks}");
        let told = step_intro(&workflow, overview, "T", "An app for hikers. It must work offline.");
        assert!(!told.contains("offline?"), "{told}");
        assert!(told.contains("Where will people use the product"), "{told}");
    }
}
