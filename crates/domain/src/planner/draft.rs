//! Section drafts of the offline planner, written from what it knows: one renderer per section
//! of the built-in workflows (the brief from the conversation; the PRD, architecture and
//! delivery plan from the earlier documents and the facts), and the workflow's own template for
//! any other section.

use super::facts::{Fact, Kind, Knowledge};
use super::text::{cap, cut_words, decap};
use crate::planner::PlanningContext;
use crate::workflow::{SectionDef, StepDef};

/// Most items in one list of a draft.
const MAX_ITEMS: usize = 8;
/// Longest draft of one section (well under the server's section limit).
const MAX_DRAFT_CHARS: usize = 20_000;

pub struct Drafter<'a> {
    pub ctx: &'a PlanningContext,
    pub k: &'a Knowledge,
}

impl Drafter<'_> {
    /// The Markdown of one section, or `None` for a section this planner has no renderer for.
    pub fn known(&self, step: &StepDef, section: &SectionDef) -> Option<String> {
        let body = match (step.id.as_str(), section.id.as_str()) {
            ("brief", "summary") => self.summary(),
            ("brief", "problem") => self.problem(),
            ("brief", "solution") => self.solution(),
            ("brief", "users") => self.users(),
            ("brief", "goals") => self.goals(),
            ("brief", "mvp") => self.mvp(),
            ("brief", "constraints") => self.constraints(),
            ("brief", "risks") => self.risks(),
            ("prd", "goals") => self.prd_goals(),
            ("prd", "functional") => self.functional(),
            ("prd", "non_functional") => self.non_functional(),
            ("prd", "ux") => self.ux(),
            ("prd", "technical") => self.technical(),
            ("prd", "epics") => self.prd_epics(),
            ("prd", "stories") => self.stories(),
            ("architecture", "overview") => self.overview(),
            ("architecture", "stack") => self.stack(),
            ("architecture", "data") => self.data(),
            ("architecture", "components") => self.components(),
            ("architecture", "api") => self.api(),
            ("architecture", "infrastructure") => self.infrastructure(),
            ("architecture", "security") => self.security(),
            ("architecture", "testing") => self.testing(),
            ("delivery", "checklist") => self.checklist(),
            ("delivery", "epics") => self.delivery_epics(),
            ("delivery", "first_stories") => self.first_stories(),
            ("delivery", "next_steps") => self.next_steps(),
            _ => return None,
        };
        let mut body = body.trim().to_owned();
        let notes = self.k.notes(&step.id, &section.id);
        if !notes.is_empty() {
            body.push_str("\n\n**Also noted**\n");
            body.push_str(&bullets(notes.iter().map(|f| cap(&f.text))));
        }
        Some(self.finish(&body))
    }

    /// The notes of a section without a renderer, in place of the template's `{answer}`.
    pub fn notes_prose(&self, step: &StepDef, section: &SectionDef) -> String {
        let notes = self.k.notes(&step.id, &section.id);
        if notes.is_empty() {
            return String::new();
        }
        bullets(notes.iter().map(|f| cap(&f.text)))
    }

    /// Applies the user's `change X to Y` corrections and bounds the length.
    pub fn finish(&self, body: &str) -> String {
        let mut out = body.to_owned();
        for (from, to) in self.k.replacements() {
            out = replace_ignoring_case(&out, from, to);
        }
        cut_words(&out, MAX_DRAFT_CHARS)
    }

    fn title(&self) -> String {
        match self.ctx.title.trim() {
            "" => "The product".to_owned(),
            t => cut_words(t, 120),
        }
    }

    fn texts(&self, kind: Kind) -> Vec<String> {
        self.k.all(kind).iter().take(MAX_ITEMS).map(|f| cap(&f.text)).collect()
    }

    fn primary_users(&self) -> Vec<String> {
        self.k.users().0.iter().take(4).map(|f| f.text.clone()).collect()
    }

    fn secondary_users(&self) -> Vec<String> {
        self.k.users().1.iter().take(4).map(|f| f.text.clone()).collect()
    }

    /// "community gardeners" for prose: the primary users, or a neutral phrase.
    fn who(&self) -> String {
        let users = self.primary_users();
        if users.is_empty() {
            "its users".to_owned()
        } else {
            join_and(&users.iter().map(|u| decap(u)).collect::<Vec<_>>())
        }
    }

    fn platforms(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in self.k.all(Kind::Platform) {
            for p in f
                .quantity
                .as_deref()
                .unwrap_or("")
                .split(", ")
                .filter(|p| !p.is_empty())
            {
                if !out.iter().any(|o| o == p) {
                    out.push(p.to_owned());
                }
            }
        }
        // "Android phones" already says "phones".
        if out
            .iter()
            .any(|p| p != "phones" && p.ends_with("phones") || p == "iPhones")
        {
            out.retain(|p| p != "phones");
        }
        out
    }

    fn features(&self) -> Vec<String> {
        let mut out = self.texts(Kind::Feature);
        if out.is_empty()
            && let Some(product) = self.k.latest(Kind::Product)
        {
            out.push(cap(&product.text));
        }
        out
    }

    /// In-scope items: from the brief's MVP section when it is written (the user may have
    /// edited it), else the features heard in the conversation.
    fn scope(&self) -> Vec<String> {
        let items = self.doc_items("brief", "mvp", "in scope");
        if items.is_empty() { self.features() } else { items }
    }

    fn offline_line(&self) -> Option<&'static str> {
        match self.k.offline()? {
            true => {
                Some("Works without a signal: actions are saved on the device and synced when the connection returns")
            }
            false => Some("Online use is enough: offline support is not needed"),
        }
    }

    fn deadline(&self) -> Option<String> {
        let f = self.k.latest(Kind::Deadline)?;
        Some(f.when.clone().unwrap_or_else(|| f.text.clone()))
    }

    fn milestone(&self) -> Option<String> {
        self.k.latest(Kind::Milestone).map(|f| cap(&f.text))
    }

    fn budget(&self) -> Option<String> {
        self.k.latest(Kind::Budget).map(|f| cap(&f.text))
    }

    /// List items of an earlier document's section, after the line containing `under` (all of
    /// them when `under` is empty), without bold labels and without open placeholders.
    fn doc_items(&self, step: &str, section: &str, under: &str) -> Vec<String> {
        let Some(doc) = self.ctx.document(step) else {
            return Vec::new();
        };
        list_items(doc.section(section), under)
    }

    // -----------------------------------------------------------------------
    // Project brief
    // -----------------------------------------------------------------------

    fn summary(&self) -> String {
        let title = self.title();
        let mut out = match self.k.latest(Kind::Product) {
            Some(p) => {
                let lower = p.text.to_lowercase();
                if lower.starts_with("a ") || lower.starts_with("an ") {
                    format!("**{title}** is {}.", decap(&p.text))
                } else {
                    format!("**{title}**: {}.", cap(&p.text))
                }
            }
            None => format!("**{title}**: the idea in one sentence is still to be written."),
        };
        let users = self.primary_users();
        if !users.is_empty() {
            out.push_str(&format!(" It is for {}.", self.who()));
        }
        if let Some(problem) = self.k.all(Kind::Problem).first() {
            out.push_str(&format!(" It tackles a real problem: {}.", decap(&problem.text)));
        }
        let mut glance = Vec::new();
        let mut open = Vec::new();
        slot(
            &mut glance,
            &mut open,
            "For",
            (!users.is_empty()).then(|| cap(&join_and(&users))),
            "who it is for",
        );
        slot(
            &mut glance,
            &mut open,
            "Value",
            self.texts(Kind::Value).first().cloned(),
            "the main benefit",
        );
        slot(
            &mut glance,
            &mut open,
            "Why now",
            self.texts(Kind::WhyNow).first().cloned(),
            "why now",
        );
        slot(
            &mut glance,
            &mut open,
            "First milestone",
            self.milestone(),
            "the first milestone",
        );
        let metrics = self.texts(Kind::Metric);
        slot(
            &mut glance,
            &mut open,
            "Success looks like",
            (!metrics.is_empty()).then(|| join_semi(&metrics[..metrics.len().min(2)])),
            "a measurable success target",
        );
        let partners = self.texts(Kind::Partner);
        if !partners.is_empty() {
            glance.push(format!("- **Named so far:** {}", join_and(&partners)));
        }
        out.push_str("\n\n**At a glance**\n");
        out.push_str(&glance.join("\n"));
        out.push_str(&open_line(&open));
        out
    }

    fn problem(&self) -> String {
        let mut out = String::new();
        let problems = self.texts(Kind::Problem);
        if problems.is_empty() {
            out.push_str(&format!(
                "The problem {} solves is not described in detail yet.",
                self.title()
            ));
        } else {
            out.push_str(&format!("Today, {}.", decap(&problems[0])));
            if !self.primary_users().is_empty() {
                out.push_str(&format!(" Those who feel it most are {}.", self.who()));
            }
        }
        let mut open = Vec::new();
        let all = self.k.all(Kind::Problem);
        let (costs, others): (Vec<&Fact>, Vec<&Fact>) = all.iter().skip(1).partition(|f| f.quantity.is_some());
        section_list(
            &mut out,
            "What goes wrong",
            others.iter().map(|f| cap(&f.text)).collect(),
            None,
        );
        section_list(
            &mut out,
            "How people cope now",
            self.texts(Kind::Workaround),
            Some(("current workarounds", &mut open)),
        );
        section_list(
            &mut out,
            "What it costs",
            costs.iter().map(|f| cap(&f.text)).collect(),
            Some(("what the problem costs", &mut open)),
        );
        section_list(&mut out, "Why solve it now", self.texts(Kind::WhyNow), None);
        if problems.is_empty() {
            open.insert(0, "the problem itself");
        }
        out.push_str(&open_line(&open));
        out
    }

    fn solution(&self) -> String {
        let title = self.title();
        let features = self.features();
        let mut out = match features.first() {
            Some(first) => format!("{title} answers the problem with one core action: {}.", decap(first)),
            None => format!("{title} brings the core task of {} into one place.", self.who()),
        };
        let mut open = Vec::new();
        section_list(
            &mut out,
            "How it works",
            features.iter().skip(1).cloned().collect(),
            None,
        );
        let mut shaping: Vec<String> = Vec::new();
        if let Some(line) = self.offline_line() {
            shaping.push(line.to_owned());
        }
        let platforms = self.platforms();
        if !platforms.is_empty() {
            shaping.push(format!("Runs on {}", join_and(&platforms)));
        }
        section_list(&mut out, "Designed around", shaping, None);
        section_list(
            &mut out,
            "What makes it different",
            self.texts(Kind::Differentiator),
            Some(("what makes it different", &mut open)),
        );
        section_list(&mut out, "Later", self.texts(Kind::Later), None);
        out.push_str(&open_line(&open));
        out
    }

    fn users(&self) -> String {
        let primary = self.primary_users();
        let secondary = self.secondary_users();
        let mut open = Vec::new();
        let mut out = if primary.is_empty() {
            open.push("the primary users");
            format!("The primary users of {} are not named yet.", self.title())
        } else {
            format!("**Primary users:** {}", cap(&join_and(&primary)))
        };
        let mut profile = Vec::new();
        if let Some(p) = self.texts(Kind::Problem).first() {
            profile.push(format!("- **Needs:** {}", decap(p)));
        }
        let platforms = self.platforms();
        if !platforms.is_empty() {
            profile.push(format!("- **Devices:** {}", join_and(&platforms)));
        }
        if let Some(line) = self.offline_line() {
            profile.push(format!("- **Context:** {}", decap(line)));
        }
        if let Some(v) = self.texts(Kind::Value).first() {
            profile.push(format!("- **Goal:** {}", decap(v)));
        }
        if !profile.is_empty() {
            out.push('\n');
            out.push_str(&profile.join("\n"));
        }
        if secondary.is_empty() {
            out.push_str("\n\n**Secondary users:** none named yet.");
        } else {
            out.push_str(&format!("\n\n**Secondary users:** {}", cap(&join_and(&secondary))));
        }
        out.push_str(&open_line(&open));
        out
    }

    fn goals(&self) -> String {
        let metrics = self.k.all(Kind::Metric);
        let mut out = String::new();
        if metrics.is_empty() {
            out.push_str(&format!("No success target for {} has been set yet.", self.title()));
        } else {
            out.push_str("**Objectives**\n");
            out.push_str(&numbered(metrics.iter().take(MAX_ITEMS).map(|f| cap(&f.text))));
            let rows: Vec<String> = metrics
                .iter()
                .filter(|f| f.quantity.is_some())
                .take(MAX_ITEMS)
                .map(|f| {
                    format!(
                        "| {} | {} | {} |",
                        cell(&cap(&f.text)),
                        cell(f.quantity.as_deref().unwrap_or("")),
                        cell(f.when.as_deref().unwrap_or("to set"))
                    )
                })
                .collect();
            if !rows.is_empty() {
                out.push_str("\n\n**Key performance indicators**\n| Metric | Target | By when |\n|---|---|---|\n");
                out.push_str(&rows.join("\n"));
            }
        }
        if let Some(m) = self.milestone() {
            out.push_str(&format!("\n\n**First milestone:** {m}"));
        }
        let open: Vec<&str> = if metrics.iter().any(|f| f.quantity.is_some()) {
            vec![]
        } else {
            vec!["a number to aim for (members, uses per week, time saved)"]
        };
        out.push_str(&open_line(&open));
        out
    }

    fn mvp(&self) -> String {
        let mut scope = self.features();
        if let Some(line) = self.offline_line().filter(|_| self.k.offline() == Some(true)) {
            scope.push(line.to_owned());
        }
        let mut out = format!(
            "The first release of {} proves the core flow and nothing more.",
            self.title()
        );
        let mut open = Vec::new();
        section_list(&mut out, "In scope (first release)", scope, None);
        section_list(
            &mut out,
            "Out of scope (later)",
            self.texts(Kind::Later),
            Some(("what waits until later", &mut open)),
        );
        let criteria = self.milestone().or_else(|| self.texts(Kind::Metric).first().cloned());
        match criteria {
            Some(c) => out.push_str(&format!("\n\n**Success criteria:** {}", decap(&c))),
            None => open.push("the MVP's success criteria"),
        }
        out.push_str(&open_line(&open));
        out
    }

    fn constraints(&self) -> String {
        let mut lines = Vec::new();
        let mut open = Vec::new();
        slot(&mut lines, &mut open, "Budget", self.budget(), "the budget");
        let timeline = self.deadline().map(|d| cap(&d)).or_else(|| {
            self.k
                .latest(Kind::Milestone)
                .and_then(|m| m.when.clone())
                .map(|w| cap(&w))
        });
        slot(&mut lines, &mut open, "Timeline", timeline, "the deadline");
        slot(
            &mut lines,
            &mut open,
            "Team",
            self.k.latest(Kind::Team).map(|f| cap(&f.text)),
            "who builds it",
        );
        let platforms = self.platforms();
        if !platforms.is_empty() {
            lines.push(format!("- **Platforms:** {}", join_and(&platforms)));
        }
        if let Some(line) = self.offline_line() {
            lines.push(format!("- **Connectivity:** {line}"));
        }
        for (label, kind) in [
            ("Technology", Kind::Tech),
            ("Hosting", Kind::Hosting),
            ("Integrations", Kind::Integration),
            ("Legal and compliance", Kind::Compliance),
        ] {
            let items = self.texts(kind);
            if !items.is_empty() {
                lines.push(format!("- **{label}:** {}", join_semi(&items)));
            }
        }
        let mut out = format!("**Constraints**\n{}", lines.join("\n"));
        let mut assumptions = vec![format!(
            "{} have the problem described and will try a new tool for it",
            cap(&self.who())
        )];
        assumptions.push(match (self.deadline(), self.k.latest(Kind::Team)) {
            (Some(d), Some(_)) => format!("The first release fits {d} with the team described"),
            _ => "The first release fits the time and people available".to_owned(),
        });
        out.push_str("\n\n**Key assumptions**\n");
        out.push_str(&bullets(assumptions.into_iter()));
        out.push_str(&open_line(&open));
        out
    }

    fn risks(&self) -> String {
        let mut risks: Vec<String> = self.texts(Kind::Risk);
        risks.push(format!(
            "**Adoption:** {} may not change their habits. Mitigation: try the core flow with five of them before building more",
            self.who()
        ));
        if self.k.offline() == Some(true) {
            risks.push("**Sync conflicts:** two people may act on the same item while offline. Mitigation: decide which action wins and show it clearly".into());
        }
        if self.k.latest(Kind::Team).is_some_and(|t| {
            let l = t.text.to_lowercase();
            l.contains("alone")
                || l.contains("only")
                || l.contains("solo")
                || l.contains("evening")
                || l.contains("weekend")
        }) {
            risks.push(
                "**Capacity:** little build time. Mitigation: order the work so each epic ships something usable"
                    .into(),
            );
        }
        let mut out = format!("**Key risks**\n{}", bullets(risks.into_iter()));
        out.push_str("\n\n**Open questions**\n");
        out.push_str(&bullets(self.open_questions().into_iter()));
        out
    }

    /// The user's questions (with the planner's proposed answer) and what is still unknown.
    fn open_questions(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .k
            .all(Kind::Question)
            .iter()
            .take(MAX_ITEMS)
            .map(|q| match super::answer(&q.text, self.k) {
                Some(a) => format!("{} _Proposed answer: {a}_", q.text),
                None => format!("{} _(to answer)_", q.text),
            })
            .collect();
        let gaps = [
            (Kind::Budget, "What is the budget?"),
            (Kind::Deadline, "Is there a date the first release must be ready for?"),
            (Kind::Metric, "Which number shows that it works?"),
        ];
        for (kind, question) in gaps {
            if !self.k.has(kind) {
                out.push(question.to_owned());
            }
        }
        if out.is_empty() {
            out.push("None open right now.".into());
        }
        out
    }

    // -----------------------------------------------------------------------
    // PRD: derived from the brief
    // -----------------------------------------------------------------------

    fn prd_goals(&self) -> String {
        let mut goals = self.doc_items("brief", "goals", "objectives");
        if goals.is_empty() {
            goals = self.texts(Kind::Metric);
        }
        let mut out = format!("**Goals for the first release of {}**\n", self.title());
        if goals.is_empty() {
            out.push_str("- Prove that the core flow solves the problem for the first users\n");
        } else {
            out.push_str(&bullets(goals.into_iter().take(MAX_ITEMS)));
            out.push('\n');
        }
        if let Some(m) = self.milestone() {
            out.push_str(&format!("- First milestone: {}\n", decap(&m)));
        }
        out.push_str(&format!("\n**Background**\n{} is for {}.", self.title(), self.who()));
        if let Some(p) = self.texts(Kind::Problem).first() {
            out.push_str(&format!(" Today, {}.", decap(p)));
        }
        if let Some(w) = self.texts(Kind::Workaround).first() {
            out.push_str(&format!(" {}.", cap(w)));
        }
        out
    }

    /// The functional requirements: one per in-scope item of the brief, then those that
    /// follow from the users and constraints.
    fn requirements(&self) -> Vec<String> {
        let mut reqs: Vec<String> = self.scope().into_iter().take(MAX_ITEMS).map(|s| cap(&s)).collect();
        let mentions = |reqs: &[String], words: &[&str]| {
            reqs.iter().any(|r| {
                let l = r.to_lowercase();
                words.iter().any(|w| l.contains(w))
            })
        };
        let secondary = self.secondary_users();
        if !secondary.is_empty() && !mentions(&reqs, &["admin", "manage"]) {
            reqs.push(format!(
                "{} can manage members, items and settings",
                cap(&join_and(&secondary))
            ));
        }
        if self.k.offline() == Some(true) && !mentions(&reqs, &["offline", "signal", "sync"]) {
            reqs.push("Actions taken without a connection are saved on the device and synced when it returns".into());
        }
        if let Some(metric) = self.k.all(Kind::Metric).first() {
            reqs.push(format!(
                "The system records what is needed to measure the goal: {}",
                decap(&metric.text)
            ));
        }
        reqs
    }

    fn functional(&self) -> String {
        let reqs = self.requirements();
        let mut out = format!(
            "Each requirement comes from the brief's MVP scope, users and goals for {}.\n\n",
            self.who()
        );
        for (i, r) in reqs.iter().enumerate() {
            out.push_str(&format!("- **FR{}:** {}\n", i + 1, r));
        }
        out
    }

    fn non_functional(&self) -> String {
        let mut nfrs: Vec<String> = Vec::new();
        if self.k.offline() == Some(true) {
            nfrs.push("**Offline:** the core flow works with no connection; changes sync within a minute of reconnecting, without duplicates".into());
        }
        let scale = self
            .k
            .all(Kind::Metric)
            .into_iter()
            .find_map(|f| f.quantity.clone())
            .map(|q| format!("**Scale:** sized for the goal of {q}, with room for ten times as much"))
            .unwrap_or_else(|| "**Scale:** a few hundred users at launch on one small server".into());
        nfrs.push(scale);
        nfrs.push("**Performance:** main actions answer in under a second on a mid-range phone".into());
        let platforms = self.platforms();
        if !platforms.is_empty() {
            nfrs.push(format!("**Compatibility:** {}", join_and(&platforms)));
        }
        let privacy = self.texts(Kind::Compliance);
        nfrs.push(if privacy.is_empty() {
            "**Privacy:** only the personal data the flow needs is kept; users can export and delete it".into()
        } else {
            format!("**Privacy and compliance:** {}", join_semi(&privacy))
        });
        if let Some(b) = self.budget() {
            nfrs.push(format!("**Running cost:** within the budget, {}", decap(&b)));
        }
        nfrs.push("**Security:** HTTPS everywhere; passwords never stored in plain text".into());
        nfrs.push("**Accessibility:** core flows meet WCAG 2.1 AA".into());
        let mut out = String::new();
        for (i, n) in nfrs.iter().enumerate() {
            out.push_str(&format!("- **NFR{}** {}\n", i + 1, n));
        }
        out
    }

    fn ux(&self) -> String {
        let platforms = self.platforms();
        let mut out = format!(
            "{} should feel quick and obvious for {}: the core action is one tap away from the first screen.",
            self.title(),
            self.who()
        );
        let screens: Vec<String> = self
            .scope()
            .iter()
            .take(4)
            .enumerate()
            .map(|(i, s)| format!("{}. Screen for: {}", i + 1, decap(s)))
            .collect();
        if !screens.is_empty() {
            out.push_str("\n\n**Core screens**\n");
            out.push_str(&screens.join("\n"));
        }
        out.push_str("\n\n");
        out.push_str(&format!(
            "- **Platforms:** {}\n",
            if platforms.is_empty() {
                "responsive web".into()
            } else {
                join_and(&platforms)
            }
        ));
        if self.k.offline() == Some(true) {
            out.push_str(
                "- **Offline state:** a clear sign when the device is offline, and which actions wait to sync\n",
            );
        }
        out.push_str("- **Accessibility:** large touch targets, readable contrast, WCAG 2.1 AA");
        out
    }

    fn technical(&self) -> String {
        let mut lines = vec!["- **Repository:** one repository for the whole product".to_owned()];
        lines.push("- **Architecture:** a modular monolith for the MVP".to_owned());
        let tech = self.texts(Kind::Tech);
        lines.push(format!(
            "- **Languages and frameworks:** {}",
            if tech.is_empty() {
                "to choose with the architect, from the team's skills".into()
            } else {
                join_semi(&tech)
            }
        ));
        let hosting = self.texts(Kind::Hosting);
        if !hosting.is_empty() {
            lines.push(format!("- **Hosting:** {}", join_semi(&hosting)));
        }
        let integrations = self.texts(Kind::Integration);
        if !integrations.is_empty() {
            lines.push(format!("- **Integrations:** {}", join_semi(&integrations)));
        }
        if self.k.offline() == Some(true) {
            lines.push("- **Offline-first client:** data the user needs is kept on the device".to_owned());
        }
        lines.push("- **Testing:** unit tests of the rules, integration tests of the core flow".to_owned());
        lines.join("\n")
    }

    /// Epics: foundation with the first in-scope item, then the rest in pairs, then launch.
    fn epic_names(&self) -> Vec<String> {
        let scope = self.scope();
        let mut epics = vec![match scope.first() {
            Some(first) => format!("Foundation and first slice: setup, deployment and {}", decap(first)),
            None => "Foundation and first slice: setup, deployment and the core flow".to_owned(),
        }];
        for pair in scope.get(1..).unwrap_or(&[]).chunks(2).take(3) {
            epics.push(cap(&join_and(&pair.iter().map(|p| decap(p)).collect::<Vec<_>>())));
        }
        epics.push("Launch readiness: onboarding and measuring the goals".to_owned());
        epics
    }

    fn prd_epics(&self) -> String {
        let mut out = String::from("Epics in delivery order, from the MVP scope; each ends with something usable.\n\n");
        for (i, e) in self.epic_names().iter().enumerate() {
            out.push_str(&format!("{}. **Epic {}:** {}\n", i + 1, i + 1, e));
        }
        out
    }

    fn stories(&self) -> String {
        let persona = self
            .primary_users()
            .first()
            .and_then(|u| super::facts::head_noun(u))
            .map(|h| {
                h.strip_suffix('s')
                    .filter(|s| s.len() > 2)
                    .map(str::to_owned)
                    .unwrap_or(h)
            })
            .unwrap_or_else(|| "user".into());
        let value = self
            .texts(Kind::Value)
            .first()
            .map(|v| decap(v))
            .unwrap_or_else(|| "the problem in the brief goes away".into());
        let mut out = String::from(
            "**Story 1.1: Project setup**\nAs a developer, I want CI and a deployment pipeline, so that every change is tested and can ship.\n1. Every change is built and tested automatically.\n2. A health check is deployed to staging.",
        );
        for (i, item) in self.scope().iter().take(4).enumerate() {
            out.push_str(&format!(
                "\n\n**Story {}:** As {} {persona}, I want {}, so that {value}.\n1. The flow works end to end on a phone.\n2. Errors are shown in plain language and nothing is lost.",
                if i == 0 { "1.2".to_owned() } else { format!("2.{i}") },
                article(&persona),
                as_want(item),
            ));
            if self.k.offline() == Some(true) && i == 0 {
                out.push_str("\n3. With no connection, the action is saved and synced later.");
            }
        }
        out
    }

    // -----------------------------------------------------------------------
    // Architecture: derived from the PRD and the constraints
    // -----------------------------------------------------------------------

    fn overview(&self) -> String {
        let offline = self.k.offline() == Some(true);
        let client = if offline {
            "an installable web app (PWA) that keeps its data on the device and syncs in the background"
        } else {
            "a responsive web app"
        };
        let mut out = format!(
            "{} is a modular monolith: {client}, one application server with the business rules, and one database. It is sized for {}.",
            self.title(),
            self.k
                .all(Kind::Metric)
                .into_iter()
                .find_map(|f| f.quantity.clone())
                .unwrap_or_else(|| "the first few hundred users".into())
        );
        let mut drivers = Vec::new();
        if let Some(line) = self.offline_line() {
            drivers.push(line.to_owned());
        }
        let platforms = self.platforms();
        if !platforms.is_empty() {
            drivers.push(format!("Used on {}", join_and(&platforms)));
        }
        if let Some(b) = self.budget() {
            drivers.push(format!("Budget: {}", decap(&b)));
        }
        section_list(&mut out, "What shapes it", drivers, None);
        out.push_str(
            "\n\n**Request flow:** client → API → domain rules → database; slow work goes to background jobs.",
        );
        out
    }

    fn stack(&self) -> String {
        let tech = self.texts(Kind::Tech).join("; ");
        let hosting = self.texts(Kind::Hosting).join("; ");
        let offline = self.k.offline() == Some(true);
        let rows = [
            (
                "Front end",
                if offline {
                    "TypeScript PWA with a service worker and IndexedDB"
                } else {
                    "TypeScript with a light framework"
                },
                if offline {
                    "works offline, installs on phones"
                } else {
                    "one code base for all devices"
                },
            ),
            ("Back end", "a mainstream web framework the team knows", "fits the team"),
            (
                "Database",
                "PostgreSQL (SQLite for a very small start)",
                "relational data and transactions",
            ),
            ("Hosting", "a small managed platform", "low running cost and effort"),
            ("CI/CD", "the repository host's CI", "tests and deploys on every change"),
        ];
        let mut out = String::from("| Layer | Choice | Why |\n|---|---|---|\n");
        for (layer, choice, why) in rows {
            let (choice, why) = match layer {
                "Back end" if !tech.is_empty() => (tech.as_str(), "the team's stated preference"),
                "Hosting" if !hosting.is_empty() => (hosting.as_str(), "stated in our conversation"),
                _ => (choice, why),
            };
            out.push_str(&format!("| {layer} | {} | {why} |\n", cell(choice)));
        }
        out.push_str("\nChoices not stated by you are proposals; tell me what the team knows best.");
        out
    }

    /// The main things the product keeps: objects of the in-scope actions ("borrow shared
    /// tools" → Tool), and the record of the action itself ("borrow" → Loan).
    fn entities(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut acts: Vec<&str> = Vec::new();
        for item in self.scope() {
            let words: Vec<String> = item
                .split_whitespace()
                .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
                .collect();
            for (verb, record) in RECORDS {
                if words.iter().any(|w| w.starts_with(verb)) && !acts.contains(&record) {
                    acts.push(record);
                }
            }
            let Some(at) = words.iter().position(|w| ACTIONS.iter().any(|a| w.starts_with(a))) else {
                continue;
            };
            let object = words[at + 1..].iter().find(|w| !OBJECT_SKIP.contains(&w.as_str()));
            let Some(object) = object
                .filter(|w| w.len() > 2 && w.chars().all(char::is_alphabetic) && !NOT_OBJECTS.contains(&w.as_str()))
            else {
                continue;
            };
            let name = cap(object.strip_suffix('s').filter(|s| s.len() > 2).unwrap_or(object));
            if !out.contains(&name) && name != "User" {
                out.push(name);
            }
        }
        out.extend(
            acts.iter()
                .map(|a| (*a).to_owned())
                .filter(|a| !out.contains(a))
                .collect::<Vec<_>>(),
        );
        out.truncate(4);
        out
    }

    fn data(&self) -> String {
        let users = join_and(
            &self
                .primary_users()
                .iter()
                .chain(self.secondary_users().iter())
                .map(|u| decap(u))
                .collect::<Vec<_>>(),
        );
        let mut out = format!(
            "**User**: {}\n- Key attributes: `id`, `name`, `email`, `role`, `created_at`",
            if users.is_empty() {
                "a person using the product".into()
            } else {
                users
            }
        );
        let entities = self.entities();
        for e in &entities {
            out.push_str(&format!(
                "\n\n**{e}**\n- Key attributes: `id`, `name`, `status`, `created_at`, `updated_at`\n- Relationships: belongs to one User"
            ));
        }
        if entities.is_empty() {
            out.push_str("\n\n**Main item**: the core thing users work with; name it and I'll add its fields.");
        }
        if self.k.offline() == Some(true) {
            out.push_str(
                "\n\n**Pending change** (on the device): `id`, `action`, `payload`, `created_at`: what waits to sync.",
            );
        }
        out
    }

    fn components(&self) -> String {
        let reqs = self.doc_items("prd", "functional", "");
        let reqs = if reqs.is_empty() { self.requirements() } else { reqs };
        let has = |words: &[&str]| {
            reqs.iter().any(|r| {
                let l = r.to_lowercase();
                words.iter().any(|w| l.contains(w))
            })
        };
        let mut comps = vec!["**Client:** the screens from the UI/UX goals; talks only to the API".to_owned()];
        comps.push("**API layer:** sign-in, input checks and routing".to_owned());
        let entities = self.entities();
        comps.push(format!(
            "**Core module:** the rules of {}",
            if entities.is_empty() {
                "the core flow".into()
            } else {
                join_and(&entities.iter().map(|e| e.to_lowercase()).collect::<Vec<_>>())
            }
        ));
        if has(&["scan", "qr", "barcode"]) {
            comps.push("**Scanning:** reads QR codes with the phone camera, without the network".into());
        }
        if self.k.offline() == Some(true) || has(&["offline", "sync"]) {
            comps.push("**Offline store and sync:** keeps data on the device and replays pending changes".into());
        }
        if has(&["remind", "notif", "email", "message"]) {
            comps.push("**Notifications:** reminders and messages, sent by background jobs".into());
        }
        if has(&["manage", "admin"]) {
            comps.push("**Administration:** managing members, items and settings".into());
        }
        if has(&["search", "find", "browse"]) {
            comps.push("**Search:** finding items by name and status".into());
        }
        for i in self.texts(Kind::Integration).iter().take(3) {
            comps.push(format!("**Adapter:** {}", decap(i)));
        }
        comps.push("**Persistence:** the only component that writes to the database".into());
        let mut out = String::new();
        for (i, c) in comps.iter().enumerate() {
            out.push_str(&format!("{}. {c}\n", i + 1));
        }
        out.push_str(&format!(
            "\nThese components cover the {} functional requirements of the PRD.",
            reqs.len()
        ));
        out
    }

    fn api(&self) -> String {
        let mut out = String::from(
            "- **Style:** REST over HTTPS with JSON, under `/api/v1`\n- **Errors:** one JSON error shape with a code and a readable message\n\n| Method | Path | Purpose |\n|---|---|---|\n| POST | `/api/v1/session` | Sign in |\n",
        );
        for e in self.entities() {
            let path = format!("{}s", e.to_lowercase());
            out.push_str(&format!("| GET, POST | `/api/v1/{path}` | List or add {path} |\n"));
            out.push_str(&format!(
                "| GET, PUT, DELETE | `/api/v1/{path}/:id` | One {} |\n",
                e.to_lowercase()
            ));
        }
        if self.k.offline() == Some(true) {
            out.push_str("| POST | `/api/v1/sync` | Replay changes made offline, idempotently |\n");
        }
        out
    }

    fn infrastructure(&self) -> String {
        let hosting = self.texts(Kind::Hosting);
        let mut lines = vec![
            "- **Environments:** local, staging and production".to_owned(),
            format!(
                "- **Hosting:** {}",
                if hosting.is_empty() {
                    "a small managed platform".into()
                } else {
                    join_semi(&hosting)
                }
            ),
        ];
        if let Some(b) = self.budget() {
            lines.push(format!("- **Cost:** kept within the budget, {}", decap(&b)));
        }
        lines.push("- **Deployment:** every merge is tested and deployed to staging; production on approval".into());
        lines.push("- **Backups:** daily database backups; a restore is tested before launch".into());
        if let Some(team) = self.k.latest(Kind::Team) {
            lines.push(format!("- **Who runs it:** {}", decap(&team.text)));
        }
        lines.join("\n")
    }

    fn security(&self) -> String {
        let roles: Vec<String> = self
            .primary_users()
            .iter()
            .chain(self.secondary_users().iter())
            .map(|u| decap(u))
            .collect();
        let mut lines = vec![
            "- **Authentication:** a well-tested library; passwords hashed with Argon2".to_owned(),
            format!(
                "- **Roles:** {}",
                if roles.is_empty() {
                    "member and administrator".into()
                } else {
                    join_and(&roles)
                }
            ),
            "- **Authorisation:** every request checks role and ownership; deny by default".to_owned(),
        ];
        let compliance = self.texts(Kind::Compliance);
        lines.push(if compliance.is_empty() {
            "- **Personal data:** only names and contact details; deleted on request".to_owned()
        } else {
            format!("- **Compliance:** {}", join_semi(&compliance))
        });
        if self.k.offline() == Some(true) {
            lines.push("- **On the device:** offline data is limited to what the user may see".into());
        }
        lines.join("\n")
    }

    fn testing(&self) -> String {
        let mut lines = vec![
            "- **Unit tests:** the domain rules".to_owned(),
            "- **Integration tests:** the API against a real test database".to_owned(),
        ];
        if let Some(first) = self.scope().first() {
            lines.push(format!(
                "- **End-to-end:** {} on a phone, before each release",
                decap(first)
            ));
        }
        if self.k.offline() == Some(true) {
            lines.push("- **Offline and sync:** actions made offline arrive exactly once after reconnecting".into());
        }
        lines.push("- **When:** unit and integration tests on every change".into());
        lines.join("\n")
    }

    // -----------------------------------------------------------------------
    // Delivery plan: derived from the three documents
    // -----------------------------------------------------------------------

    fn checklist(&self) -> String {
        let functional = self
            .ctx
            .document("prd")
            .map(|d| d.section("functional").to_lowercase())
            .unwrap_or_default();
        let components = self
            .ctx
            .document("architecture")
            .map(|d| d.section("components").to_lowercase())
            .unwrap_or_default();
        let mut out = String::from("**MVP scope covered by requirements**\n");
        for item in self.doc_items("brief", "mvp", "in scope").iter().take(MAX_ITEMS) {
            let covered = key_words(item).iter().any(|w| functional.contains(w.as_str()));
            out.push_str(&format!("- [{}] {}\n", if covered { "x" } else { " " }, item));
        }
        let checks = [
            (!functional.is_empty(), "The PRD lists functional requirements"),
            (!components.is_empty(), "The architecture names its components"),
            (
                self.k.all(Kind::Metric).iter().any(|m| m.quantity.is_some()),
                "Every goal has a number to aim for",
            ),
            (
                self.k.has(Kind::Deadline) || self.k.has(Kind::Milestone),
                "The first milestone has a date",
            ),
            (
                self.k.offline() != Some(true) || components.contains("offline"),
                "The offline constraint has a component",
            ),
        ];
        out.push_str("\n**Consistency**\n");
        for (ok, text) in checks {
            out.push_str(&format!("- [{}] {text}\n", if ok { "x" } else { " " }));
        }
        out
    }

    fn delivery_epics(&self) -> String {
        let mut epics: Vec<String> = self.doc_items("prd", "epics", "");
        if epics.is_empty() {
            epics = self.epic_names();
        }
        let target = self
            .deadline()
            .or_else(|| self.k.latest(Kind::Milestone).and_then(|m| m.when.clone()));
        let mut out = String::from("| Order | Epic | Milestone | Target |\n|---|---|---|---|\n");
        let last = epics.len().saturating_sub(1);
        for (i, e) in epics.iter().enumerate() {
            let milestone = if i == 0 {
                self.milestone().unwrap_or_else(|| "Core flow works end to end".into())
            } else if i == last {
                "MVP released, goals measured".into()
            } else {
                "Feature complete for this epic".into()
            };
            let when = match (&target, i) {
                (Some(t), 0) => t.clone(),
                _ => "to set".into(),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                i + 1,
                cell(e),
                cell(&milestone),
                cell(&when)
            ));
        }
        out
    }

    fn first_stories(&self) -> String {
        let stories: Vec<String> = self
            .ctx
            .document("prd")
            .map(|d| {
                d.section("stories")
                    .lines()
                    .filter(|l| l.starts_with("**Story"))
                    .map(|l| l.replace("**", ""))
                    .take(3)
                    .collect()
            })
            .unwrap_or_default();
        let mut out = String::from(
            "**Definition of ready:** user value stated, numbered acceptance criteria, dependencies available, a few days of work at most.\n",
        );
        let list = if stories.is_empty() {
            self.scope()
                .iter()
                .take(3)
                .map(|s| format!("Story: {}", decap(s)))
                .collect()
        } else {
            stories
        };
        for s in list {
            out.push_str(&format!("\n- [ ] {}", cut_words(&s, 160)));
        }
        out
    }

    fn next_steps(&self) -> String {
        let mut steps = vec![format!(
            "Share the four documents for {} with everyone involved",
            self.title()
        )];
        match self.k.latest(Kind::Team) {
            Some(team) => steps.push(format!("Start the build: {}", decap(&team.text))),
            None => steps.push("Decide who builds it and when work starts".into()),
        }
        steps.push("Set up the repository, CI and staging (Story 1.1)".into());
        steps.push(format!("Build the first slice and show it to {}", self.who()));
        if let Some(m) = self.milestone() {
            steps.push(format!("Reach the first milestone: {}", decap(&m)));
        }
        steps.push("Review the plan after Epic 1 and measure the goals from the first release".into());
        let mut out = numbered(steps.into_iter());
        let questions = self.open_questions();
        out.push_str("\n\n**Open questions to settle first**\n");
        out.push_str(&bullets(questions.into_iter()));
        out
    }
}

const ACTIONS: [&str; 18] = [
    "borrow", "book", "reserve", "track", "share", "add", "list", "plan", "log", "record", "order", "upload", "rate",
    "review", "manage", "create", "find", "report",
];
const OBJECT_SKIP: [&str; 14] = [
    "a", "an", "the", "their", "his", "her", "our", "my", "your", "shared", "new", "own", "all", "each",
];
const NOT_OBJECTS: [&str; 16] = [
    "it", "them", "this", "that", "what", "who", "which", "when", "where", "how", "again", "back", "has", "have",
    "out", "with",
];
/// Actions whose every occurrence is a record worth keeping.
const RECORDS: [(&str, &str); 5] = [
    ("borrow", "Loan"),
    ("lend", "Loan"),
    ("book", "Booking"),
    ("reserve", "Booking"),
    ("order", "Order"),
];

/// "Members can scan a tool" → "to scan a tool"; anything else → "this: …".
fn as_want(item: &str) -> String {
    let words: Vec<&str> = item.split_whitespace().collect();
    let mut at = 0;
    while at < words.len() && at < 5 {
        let w = words[at].to_lowercase();
        if super::text::is_people_word(&w) {
            at += 1;
            break;
        }
        at += 1;
    }
    let starts_with_people = at < words.len()
        && words[..at]
            .iter()
            .any(|w| super::text::is_people_word(&w.to_lowercase()));
    if !starts_with_people {
        return format!("this: {}", decap(item));
    }
    let mut rest = &words[at..];
    while let Some(first) = rest.first() {
        if ["can", "should", "will", "must", "to", "be", "able"].contains(&first.to_lowercase().as_str()) {
            rest = &rest[1..];
        } else {
            break;
        }
    }
    match rest.first() {
        Some(verb) => {
            let verb = verb.to_lowercase();
            let base = verb
                .strip_suffix('s')
                .filter(|_| {
                    verb.ends_with("ks") || verb.ends_with("ns") || verb.ends_with("ws") || verb.ends_with("ds")
                })
                .unwrap_or(&verb);
            format!("to {base} {}", rest[1..].join(" ")).trim_end().to_owned()
        }
        None => format!("this: {}", decap(item)),
    }
}

fn article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// Significant words of an item (for "is it covered by that document?").
fn key_words(item: &str) -> Vec<String> {
    item.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase())
        .filter(|w| w.chars().count() > 4)
        .collect()
}

/// List items of a Markdown section after the line containing `under` (all when empty).
pub fn list_items(markdown: &str, under: &str) -> Vec<String> {
    let under = under.to_lowercase();
    let mut active = under.is_empty();
    let mut out = Vec::new();
    for line in markdown.lines() {
        let trimmed = line.trim();
        if !active {
            active = trimmed.to_lowercase().contains(&under);
            continue;
        }
        let item = trimmed
            .strip_prefix("- [ ] ")
            .or_else(|| trimmed.strip_prefix("- [x] "))
            .or_else(|| trimmed.strip_prefix("- "))
            .or_else(|| trimmed.strip_prefix("* "))
            .or_else(|| {
                let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
                (digits > 0).then(|| trimmed[digits..].strip_prefix(". ")).flatten()
            });
        match item {
            Some(item) => {
                let item = strip_label(item).trim().trim_end_matches('.').to_owned();
                if !item.is_empty() && !item.starts_with('_') {
                    out.push(item);
                }
            }
            None if !under.is_empty() && trimmed.starts_with("**") && !out.is_empty() => break,
            None => {}
        }
    }
    out
}

/// "**FR1:** text" → "text"; "**Epic 2:** text" → "text".
fn strip_label(item: &str) -> &str {
    if let Some(rest) = item.strip_prefix("**")
        && let Some(end) = rest.find("**")
    {
        let label = &rest[..end];
        if label.ends_with(':') && label.len() < 40 {
            return rest[end + 2..].trim_start();
        }
    }
    item
}

fn replace_ignoring_case(text: &str, from: &str, to: &str) -> String {
    if from.trim().is_empty() {
        return text.to_owned();
    }
    let lower = text.to_ascii_lowercase();
    let needle = from.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    while let Some(i) = lower[rest..].find(&needle) {
        let at = rest + i;
        out.push_str(&text[rest..at]);
        out.push_str(to);
        rest = at + needle.len();
    }
    out.push_str(&text[rest..]);
    out
}

fn slot(
    lines: &mut Vec<String>,
    open: &mut Vec<&'static str>,
    label: &str,
    value: Option<String>,
    missing: &'static str,
) {
    match value {
        Some(v) => lines.push(format!("- **{label}:** {v}")),
        None => open.push(missing),
    }
}

fn section_list(
    out: &mut String,
    heading: &str,
    items: Vec<String>,
    missing: Option<(&'static str, &mut Vec<&'static str>)>,
) {
    if items.is_empty() {
        if let Some((what, open)) = missing {
            open.push(what);
        }
        return;
    }
    out.push_str(&format!("\n\n**{heading}**\n"));
    out.push_str(&bullets(items.into_iter().take(MAX_ITEMS)));
}

fn open_line(open: &[&str]) -> String {
    if open.is_empty() {
        return String::new();
    }
    format!(
        "\n\n_Not discussed yet: {}. Tell me and I'll add it._",
        join_and(&open.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    )
}

fn bullets(items: impl Iterator<Item = String>) -> String {
    items.map(|i| format!("- {i}")).collect::<Vec<_>>().join("\n")
}

fn numbered(items: impl Iterator<Item = String>) -> String {
    items
        .enumerate()
        .map(|(n, i)| format!("{}. {i}", n + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

/// "a", "a and b", "a, b and c".
pub fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn join_semi(items: &[String]) -> String {
    items.join("; ")
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "/").replace('\n', " ")
}
