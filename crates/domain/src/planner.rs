//! The planning context handed to a model, and the deterministic offline planner that
//! answers from it without any network: it drafts the section the user is answering from
//! their idea and words, then asks the next section's questions.

use crate::workflow::{SectionDef, StepDef, Workflow};
use crate::{DocumentContent, MessageRole};
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

const NO_ANSWER: &str = "_No specific input was given for this section yet: this draft is based on the project idea. Confirm it or tell me what to change._";

/// The chat message with which the agent opens a step.
pub fn step_intro(workflow: &Workflow, step: &StepDef, title: &str, idea: &str) -> String {
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
            questions(first)
        ));
    }
    text
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

    if message.to_lowercase().contains("draft the rest") {
        if empty.is_empty() {
            return all_drafted(step);
        }
        let titles: Vec<&str> = empty.iter().map(|s| s.title.as_str()).collect();
        let mut out = format!(
            "Here are drafts of the remaining {} section{} of the {}: {}. ",
            empty.len(),
            if empty.len() == 1 { "" } else { "s" },
            step.document_title,
            titles.join(", ")
        );
        out.push_str("They build on your idea and everything you told me so far. Review them in the document, edit anything that is off, and complete the step when you are happy.\n");
        for section in empty {
            out.push_str(&block(ctx, section, ""));
        }
        return out;
    }

    if let Some(target) = empty.first() {
        let mut out = format!(
            "Thanks — I've drafted **{}** from what you told me. Have a look in the document and tell me what to change.\n",
            target.title
        );
        out.push_str(&block(ctx, target, message));
        match empty.get(1) {
            Some(next) => out.push_str(&format!(
                "\nNext, **{}**: {}\n\n{}\n\n(You can also say \"draft the rest\" and I'll draft every remaining section at once.)",
                next.title,
                next.purpose,
                questions(next)
            )),
            None => out.push_str(&format!(
                "\nThat was the last open section: every section of the {} now has a draft. Review it, edit anything directly, and complete the step when you are ready.",
                step.document_title
            )),
        }
        return out;
    }

    // Every section is drafted: revise the one the user names, if any.
    let lower = message.to_lowercase();
    let named = step
        .sections
        .iter()
        .find(|s| lower.contains(&s.title.to_lowercase()) || lower.contains(&s.id.replace('_', " ")));
    match named {
        Some(section) => {
            let mut out = format!("I've revised **{}** with your input.\n", section.title);
            out.push_str(&block(ctx, section, message));
            out.push_str("\nAnything else to change? Otherwise complete the step to move on.");
            out
        }
        None => all_drafted(step),
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

fn questions(section: &SectionDef) -> String {
    section
        .questions
        .iter()
        .map(|q| format!("- {q}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn block(ctx: &PlanningContext, section: &SectionDef, answer: &str) -> String {
    let vars = Vars {
        title: &ctx.title,
        idea: &ctx.idea,
        answer,
        workflow: &ctx.workflow,
        documents: &ctx.documents,
    };
    format!(
        "<section id=\"{}\">\n{}\n</section>\n",
        section.id,
        vars.render(&section.template).trim()
    )
}

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
                .contains("Recipe Box: An app where families share recipes.")
        );
        assert!(drafted[0].1.contains("Grandparents who cook by heart."));
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
        assert!(drafted[0].1.contains(NO_ANSWER));
    }

    #[test]
    fn earlier_documents_feed_later_steps() {
        let mut c = ctx("Ship it", DocumentContent::default());
        c.step_id = "prd".into();
        let mut brief = DocumentContent::default();
        brief.set("summary", "Families keep recipes alive.");
        c.documents.insert("brief".into(), brief);
        let drafted = sections(&offline_reply(&c));
        assert!(
            drafted[0].1.contains("Building on Families keep recipes alive."),
            "{drafted:?}"
        );
    }

    #[test]
    fn step_intro_asks_the_first_questions() {
        let workflow = Workflow::parse("tiny.toml", SAMPLE).unwrap();
        let text = step_intro(&workflow, &workflow.steps[0], "Recipe Box", "idea");
        assert!(text.starts_with("Let us write the brief for Recipe Box."));
        assert!(text.contains("- What is it?"));
    }
}
