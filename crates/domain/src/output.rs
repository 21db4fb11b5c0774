//! The model output protocol. Text outside section blocks is the chat reply; a block
//! `<section id="ID">…Markdown…</section>` is a section update. The parser is fed the stream
//! chunk by chunk: tags may be split anywhere across chunks, and a block that never closes is
//! reported as rejected rather than applied or shown.

const OPEN: &str = "<section";
const CLOSE: &str = "</section>";
/// A block larger than this is discarded while streaming (and rejected), so a runaway model
/// cannot grow memory without bound.
const MAX_BLOCK_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputPiece {
    /// Chat text, to be streamed and saved exactly.
    Text(String),
    /// A complete section block, not yet validated.
    Section { id: String, content: String },
    /// Something that looked like a section block but cannot be applied.
    Rejected { id: Option<String>, reason: String },
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Outside,
    Inside {
        id: Option<String>,
        overflow: bool,
    },
}

#[derive(Debug, Default)]
pub struct OutputParser {
    pending: String,
    state: State,
}

impl OutputParser {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, chunk: &str) -> Vec<OutputPiece> {
        self.pending.push_str(chunk);
        let mut out = Vec::new();
        while self.step(&mut out) {}
        out
    }

    /// Ends the stream: held-back text is released, an open block is rejected.
    pub fn finish(mut self) -> Vec<OutputPiece> {
        let mut out = Vec::new();
        match std::mem::take(&mut self.state) {
            State::Outside => {
                if !self.pending.is_empty() {
                    out.push(OutputPiece::Text(std::mem::take(&mut self.pending)));
                }
            }
            State::Inside { id, .. } => out.push(OutputPiece::Rejected {
                id,
                reason: "the section block was never closed".into(),
            }),
        }
        out
    }

    /// The section block being written now, if its tag is valid and it has not overflowed:
    /// its id and its text so far, as it would be committed if the block closed here (a
    /// possibly started closing tag is left out). Lets a client watch a section fill in.
    pub fn open_section(&self) -> Option<(&str, &str)> {
        let State::Inside {
            id: Some(id),
            overflow: false,
        } = &self.state
        else {
            return None;
        };
        let text = &self.pending[..self.pending.len() - partial_suffix(&self.pending, CLOSE)];
        Some((id, text.trim_matches(['\n', '\r'])))
    }

    /// Makes one unit of progress; returns whether another may be possible.
    fn step(&mut self, out: &mut Vec<OutputPiece>) -> bool {
        match &mut self.state {
            State::Outside => {
                let Some(start) = self.pending.find(OPEN) else {
                    let keep = partial_suffix(&self.pending, OPEN);
                    let emit = self.pending.len() - keep;
                    if emit > 0 {
                        let text: String = self.pending.drain(..emit).collect();
                        out.push(OutputPiece::Text(text));
                    }
                    return false;
                };
                if start > 0 {
                    let text: String = self.pending.drain(..start).collect();
                    out.push(OutputPiece::Text(text));
                }
                let Some(end) = self.pending.find('>') else {
                    // The opening tag is incomplete; a sane tag is short.
                    if self.pending.len() > 200 {
                        self.pending.drain(..OPEN.len());
                        self.state = State::Inside {
                            id: None,
                            overflow: false,
                        };
                        return true;
                    }
                    return false;
                };
                let tag: String = self.pending.drain(..=end).collect();
                let id = parse_open_tag(&tag);
                if id.is_none() {
                    out.push(OutputPiece::Rejected {
                        id: None,
                        reason: format!("malformed section tag {tag:?}"),
                    });
                }
                self.state = State::Inside { id, overflow: false };
                true
            }
            State::Inside { id, overflow } => {
                if let Some(end) = self.pending.find(CLOSE) {
                    let content: String = self.pending.drain(..end).collect();
                    self.pending.drain(..CLOSE.len());
                    let piece = match (id.take(), *overflow) {
                        (Some(id), false) => OutputPiece::Section {
                            id,
                            content: content.trim_matches(['\n', '\r']).to_owned(),
                        },
                        (Some(id), true) => OutputPiece::Rejected {
                            id: Some(id),
                            reason: format!("the section is larger than {MAX_BLOCK_BYTES} bytes"),
                        },
                        // The malformed tag was already reported.
                        (None, _) => {
                            self.state = State::Outside;
                            return true;
                        }
                    };
                    out.push(piece);
                    self.state = State::Outside;
                    return true;
                }
                if self.pending.len() > MAX_BLOCK_BYTES {
                    let keep = partial_suffix(&self.pending, CLOSE);
                    let cut = self.pending.len() - keep;
                    self.pending.drain(..cut);
                    *overflow = true;
                }
                false
            }
        }
    }
}

/// Length of the longest proper suffix of `text` that is a prefix of `marker` (the part of a
/// marker that may be completed by the next chunk).
fn partial_suffix(text: &str, marker: &str) -> usize {
    let max = marker.len().saturating_sub(1).min(text.len());
    (1..=max)
        .rev()
        .find(|&n| text.is_char_boundary(text.len() - n) && marker.starts_with(&text[text.len() - n..]))
        .unwrap_or(0)
}

/// `<section id="ID">` (single or double quotes, spaces allowed) → `ID`.
fn parse_open_tag(tag: &str) -> Option<String> {
    let inner = tag.strip_prefix(OPEN)?.strip_suffix('>')?.trim();
    let value = inner.strip_prefix("id")?.trim_start().strip_prefix('=')?.trim();
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let id = value[1..].strip_suffix(quote)?;
    let valid =
        !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    valid.then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&str]) -> Vec<OutputPiece> {
        let mut parser = OutputParser::new();
        let mut out: Vec<OutputPiece> = chunks.iter().flat_map(|c| parser.push(c)).collect();
        out.extend(parser.finish());
        // Merge adjacent text so chunking does not matter for comparison.
        let mut merged: Vec<OutputPiece> = Vec::new();
        for piece in out {
            match (merged.last_mut(), piece) {
                (Some(OutputPiece::Text(a)), OutputPiece::Text(b)) => a.push_str(&b),
                (_, p) => merged.push(p),
            }
        }
        merged
    }

    const SAMPLE: &str = "Here is a draft.\n<section id=\"summary\">\n**Plansmith** plans.\n</section>\nWhat next? a<b";

    fn expected() -> Vec<OutputPiece> {
        vec![
            OutputPiece::Text("Here is a draft.\n".into()),
            OutputPiece::Section {
                id: "summary".into(),
                content: "**Plansmith** plans.".into(),
            },
            OutputPiece::Text("\nWhat next? a<b".into()),
        ]
    }

    #[test]
    fn whole_output_parses() {
        assert_eq!(run(&[SAMPLE]), expected());
    }

    #[test]
    fn every_split_point_gives_the_same_result() {
        for i in 0..SAMPLE.len() {
            for j in i..SAMPLE.len() {
                let chunks = [&SAMPLE[..i], &SAMPLE[i..j], &SAMPLE[j..]];
                assert_eq!(run(&chunks), expected(), "split at {i},{j}");
            }
        }
    }

    #[test]
    fn char_by_char_with_multibyte_text() {
        let text = "Grüße <sec und <section id='users'>Ärzte</section> ✓";
        let chunks: Vec<String> = text.chars().map(String::from).collect();
        let refs: Vec<&str> = chunks.iter().map(String::as_str).collect();
        assert_eq!(
            run(&refs),
            vec![
                OutputPiece::Text("Grüße <sec und ".into()),
                OutputPiece::Section {
                    id: "users".into(),
                    content: "Ärzte".into()
                },
                OutputPiece::Text(" ✓".into()),
            ]
        );
    }

    #[test]
    fn unclosed_block_is_rejected_not_shown() {
        let out = run(&["Intro ", "<section id=\"goals\">half a dr", "aft"]);
        assert_eq!(
            out,
            vec![
                OutputPiece::Text("Intro ".into()),
                OutputPiece::Rejected {
                    id: Some("goals".into()),
                    reason: "the section block was never closed".into()
                },
            ]
        );
    }

    /// The open block after each chunk, as `open_section` reports it.
    fn drafts(chunks: &[&str]) -> Vec<Option<(String, String)>> {
        let mut parser = OutputParser::new();
        chunks
            .iter()
            .map(|chunk| {
                parser.push(chunk);
                parser.open_section().map(|(id, text)| (id.to_owned(), text.to_owned()))
            })
            .collect()
    }

    fn open(id: &str, text: &str) -> Option<(String, String)> {
        Some((id.to_owned(), text.to_owned()))
    }

    #[test]
    fn an_open_block_reports_its_text_so_far() {
        let got = drafts(&[
            "Intro <sec",
            "tion id=\"goals\">\n",
            "Grow ",
            "fast.</sec",
            "tion> more",
        ]);
        assert_eq!(
            got,
            [
                None,
                open("goals", ""),
                open("goals", "Grow "),
                open("goals", "Grow fast."),
                None
            ]
        );
    }

    #[test]
    fn the_last_draft_of_a_block_is_its_committed_content() {
        let body = "\n**Plansmith** plans.\n";
        let mut parser = OutputParser::new();
        parser.push("<section id=\"summary\">");
        parser.push(body);
        let draft = parser.open_section().map(|(_, text)| text.to_owned());
        let closed = parser.push("</section>");
        assert_eq!(
            closed,
            [OutputPiece::Section {
                id: "summary".into(),
                content: draft.unwrap()
            }]
        );
        assert_eq!(parser.open_section(), None);
    }

    #[test]
    fn malformed_and_oversized_blocks_have_no_draft() {
        assert_eq!(drafts(&["<section name=x>secret"]), [None]);
        let big = "x".repeat(MAX_BLOCK_BYTES + 10);
        assert_eq!(drafts(&["<section id=\"a\">", &big]), [open("a", ""), None]);
    }

    #[test]
    fn malformed_tag_is_rejected_and_swallowed() {
        let out = run(&["a<section name=x>secret</section>b"]);
        assert!(matches!(&out[1], OutputPiece::Rejected { id: None, .. }), "{out:?}");
        assert_eq!(out.len(), 3);
        assert_eq!(out[2], OutputPiece::Text("b".into()));
    }

    #[test]
    fn oversized_block_is_rejected() {
        let big = "x".repeat(MAX_BLOCK_BYTES + 10);
        let out = run(&["<section id=\"a\">", &big, &big, "</section>ok"]);
        assert!(matches!(&out[0], OutputPiece::Rejected { id: Some(id), .. } if id == "a"));
        assert_eq!(out[1], OutputPiece::Text("ok".into()));
    }
}
