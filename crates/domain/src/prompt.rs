//! The prompt for real language models: a system message that explains the agent's role,
//! the step's document and the output protocol, then the conversation of the step.

use crate::MessageRole;
use crate::planner::PlanningContext;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

pub fn build_messages(ctx: &PlanningContext) -> Vec<PromptMessage> {
    let step = ctx.step();
    let mut system = format!(
        "You are the {role} of a software planning team, helping the user plan the project \"{title}\".\n\
         Project idea: {idea}\n\n\
         You are writing the {doc}. Work section by section: ask one or two of the section's questions at a time, \
         using what is already known, then draft the section. When the user says \"draft the rest\", draft every remaining section.\n\n\
         Output protocol: write your chat reply as plain text. To write or replace a section of the {doc}, \
         include a block <section id=\"SECTION_ID\">Markdown content</section>. Only these section ids are valid:\n",
        role = step.role,
        title = ctx.title,
        idea = ctx.idea,
        doc = step.document_title,
    );
    let empty = Default::default();
    let doc = ctx.document(&step.id).unwrap_or(&empty);
    for section in &step.sections {
        let content = doc.section(&section.id);
        system.push_str(&format!(
            "- {} ({}): {} Questions: {}\n  Current content: {}\n",
            section.id,
            section.title,
            section.purpose,
            section.questions.join(" "),
            if content.trim().is_empty() { "(empty)" } else { content }
        ));
    }
    for earlier in ctx.workflow.steps.iter().take_while(|s| s.id != step.id) {
        if let Some(d) = ctx.document(&earlier.id) {
            system.push_str(&format!("\nEarlier document: {}\n", earlier.document_title));
            for section in &earlier.sections {
                let content = d.section(&section.id);
                if !content.trim().is_empty() {
                    system.push_str(&format!("## {}\n{}\n", section.title, content));
                }
            }
        }
    }
    let mut messages = vec![PromptMessage {
        role: "system".into(),
        content: system,
    }];
    messages.extend(ctx.history.iter().filter(|t| t.step_id == step.id).map(|t| {
        PromptMessage {
            role: match t.role {
                MessageRole::User => "user",
                MessageRole::Assistant => "assistant",
            }
            .into(),
            content: t.content.clone(),
        }
    }));
    messages
}
