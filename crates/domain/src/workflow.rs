//! Workflows are data: one TOML file per workflow (see `workflows/` at the repository root),
//! parsed and checked here.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("workflow file {file}: {message}")]
    Invalid { file: String, message: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub steps: Vec<StepDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    pub id: String,
    pub title: String,
    pub role: String,
    pub document_title: String,
    pub intro: String,
    pub sections: Vec<SectionDef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionDef {
    pub id: String,
    pub title: String,
    pub purpose: String,
    pub questions: Vec<String>,
    pub template: String,
}

impl Workflow {
    pub fn parse(file: &str, text: &str) -> Result<Self, WorkflowError> {
        let invalid = |message: String| WorkflowError::Invalid {
            file: file.to_owned(),
            message,
        };
        let workflow: Workflow = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if workflow.steps.is_empty() {
            return Err(invalid("a workflow needs at least one step".into()));
        }
        let mut step_ids = HashSet::new();
        for step in &workflow.steps {
            if !step_ids.insert(step.id.as_str()) {
                return Err(invalid(format!("step id '{}' appears twice", step.id)));
            }
            if step.sections.is_empty() {
                return Err(invalid(format!("step '{}' has no sections", step.id)));
            }
            let mut section_ids = HashSet::new();
            for section in &step.sections {
                if !section_ids.insert(section.id.as_str()) {
                    return Err(invalid(format!(
                        "section id '{}' appears twice in step '{}'",
                        section.id, step.id
                    )));
                }
            }
        }
        Ok(workflow)
    }

    pub fn step(&self, id: &str) -> Option<&StepDef> {
        self.steps.iter().find(|s| s.id == id)
    }

    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    pub fn total_sections(&self) -> usize {
        self.steps.iter().map(|s| s.sections.len()).sum()
    }
}

impl StepDef {
    pub fn section(&self, id: &str) -> Option<&SectionDef> {
        self.sections.iter().find(|s| s.id == id)
    }
}

/// The set of workflows the server offers, keyed by id.
#[derive(Debug, Clone, Default)]
pub struct Workflows(BTreeMap<String, Arc<Workflow>>);

impl Workflows {
    /// Builds the registry from `(file name, TOML text)` pairs.
    pub fn from_sources<'a>(sources: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, WorkflowError> {
        let mut map = BTreeMap::new();
        for (file, text) in sources {
            let workflow = Workflow::parse(file, text)?;
            let id = workflow.id.clone();
            if map.insert(id.clone(), Arc::new(workflow)).is_some() {
                return Err(WorkflowError::Invalid {
                    file: file.to_owned(),
                    message: format!("workflow id '{id}' is defined twice"),
                });
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Workflow>> {
        self.0.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Workflow>> {
        self.0.values()
    }

    pub fn ids(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const SAMPLE: &str = r#"
id = "tiny"
name = "Tiny"
[[steps]]
id = "brief"
title = "Brief"
role = "analyst"
document_title = "Project brief"
intro = "Let us write the brief for {title}."
[[steps.sections]]
id = "summary"
title = "Executive summary"
purpose = "Say what it is."
questions = ["What is it?", "Who is it for?"]
template = "{title}: {idea}\n\n{answer}"
[[steps.sections]]
id = "users"
title = "Target users"
purpose = "Say who uses it."
questions = ["Who are the users?"]
template = "Users of {title}: {answer}"
[[steps]]
id = "prd"
title = "PRD"
role = "product manager"
document_title = "PRD"
intro = "Now the PRD."
[[steps.sections]]
id = "goals"
title = "Goals"
purpose = "Goals."
questions = ["What are the goals?"]
template = "Building on {brief.summary}\n\n{answer}"
"#;

    #[test]
    fn parses_and_rejects_duplicates() {
        let w = Workflow::parse("tiny.toml", SAMPLE).unwrap();
        assert_eq!(w.total_sections(), 3);
        assert_eq!(w.step_index("prd"), Some(1));
        let dup = SAMPLE.replace("id = \"users\"", "id = \"summary\"");
        let err = Workflow::parse("tiny.toml", &dup).unwrap_err().to_string();
        assert!(err.contains("section id 'summary' appears twice"), "{err}");
        let err = Workflow::parse("bad.toml", "id = 1").unwrap_err().to_string();
        assert!(err.contains("bad.toml"), "{err}");
    }
}
