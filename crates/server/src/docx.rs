//! A plan as a Word document (`.docx`, Office Open XML): the Markdown of every section parsed
//! with pulldown-cmark into WordprocessingML paragraphs (headings, paragraphs, bullet and
//! numbered lists, bold, italic, code, tables as tab-separated rows), packaged with zip.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use std::io::Write;

/// One paragraph being built: its style and its runs.
struct Paragraph {
    style: Option<&'static str>,
    runs: String,
}

#[derive(Default)]
struct Writer {
    body: String,
    current: Option<Paragraph>,
    bold: u32,
    italic: u32,
    code_block: bool,
    /// Open lists: `None` bulleted, `Some(n)` numbered with the next number.
    lists: Vec<Option<u64>>,
    cell: usize,
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Characters XML 1.0 cannot hold at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

impl Writer {
    fn open(&mut self, style: Option<&'static str>) {
        self.close();
        self.current = Some(Paragraph {
            style,
            runs: String::new(),
        });
    }

    fn close(&mut self) {
        if let Some(p) = self.current.take() {
            self.body.push_str("<w:p>");
            if let Some(style) = p.style {
                self.body
                    .push_str(&format!("<w:pPr><w:pStyle w:val=\"{style}\"/></w:pPr>"));
            }
            self.body.push_str(&p.runs);
            self.body.push_str("</w:p>");
        }
    }

    fn run(&mut self, text: &str, code: bool) {
        if self.current.is_none() {
            self.open(None);
        }
        let mut props = String::new();
        if self.bold > 0 {
            props.push_str("<w:b/>");
        }
        if self.italic > 0 {
            props.push_str("<w:i/>");
        }
        if code || self.code_block {
            props.push_str("<w:rFonts w:ascii=\"Consolas\" w:hAnsi=\"Consolas\"/>");
        }
        let props = if props.is_empty() {
            String::new()
        } else {
            format!("<w:rPr>{props}</w:rPr>")
        };
        let text = format!("<w:r>{props}<w:t xml:space=\"preserve\">{}</w:t></w:r>", escape(text));
        if let Some(p) = self.current.as_mut() {
            p.runs.push_str(&text);
        }
    }

    fn raw(&mut self, xml: &str) {
        if self.current.is_none() {
            self.open(None);
        }
        if let Some(p) = self.current.as_mut() {
            p.runs.push_str(xml);
        }
    }

    fn markdown(&mut self, markdown: &str) {
        for event in Parser::new_ext(markdown, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
            match event {
                Event::Start(Tag::Heading { level, .. }) => self.open(Some(match level {
                    HeadingLevel::H1 | HeadingLevel::H2 => "Heading2",
                    _ => "Heading3",
                })),
                Event::Start(Tag::Paragraph) => {
                    // The first paragraph of a list item continues the item's own paragraph.
                    let in_item = self.current.as_ref().is_some_and(|p| p.style == Some("ListParagraph"));
                    if !in_item {
                        self.open(None);
                    }
                }
                Event::Start(Tag::List(start)) => {
                    self.close();
                    self.lists.push(start);
                }
                Event::End(TagEnd::List(_)) => {
                    self.close();
                    self.lists.pop();
                }
                Event::Start(Tag::Item) => {
                    self.open(Some("ListParagraph"));
                    let depth = self.lists.len().saturating_sub(1);
                    let indent = "    ".repeat(depth);
                    let marker = match self.lists.last_mut() {
                        Some(Some(n)) => {
                            let marker = format!("{indent}{n}. ");
                            *n += 1;
                            marker
                        }
                        _ => format!("{indent}• "),
                    };
                    self.run(&marker, false);
                }
                Event::Start(Tag::CodeBlock(_)) => {
                    self.open(None);
                    self.code_block = true;
                }
                Event::End(TagEnd::CodeBlock) => {
                    self.code_block = false;
                    self.close();
                }
                Event::Start(Tag::Strong) => self.bold += 1,
                Event::End(TagEnd::Strong) => self.bold = self.bold.saturating_sub(1),
                Event::Start(Tag::Emphasis) => self.italic += 1,
                Event::End(TagEnd::Emphasis) => self.italic = self.italic.saturating_sub(1),
                Event::Start(Tag::TableHead | Tag::TableRow) => {
                    self.open(None);
                    self.cell = 0;
                    self.bold = u32::from(matches!(event, Event::Start(Tag::TableHead)));
                }
                Event::End(TagEnd::TableHead | TagEnd::TableRow) => {
                    self.bold = 0;
                    self.close();
                }
                Event::Start(Tag::TableCell) => {
                    if self.cell > 0 {
                        self.raw("<w:r><w:tab/></w:r>");
                    }
                    self.cell += 1;
                }
                Event::Text(text) if self.code_block => {
                    for (i, line) in text.trim_end_matches('\n').split('\n').enumerate() {
                        if i > 0 {
                            self.raw("<w:r><w:br/></w:r>");
                        }
                        self.run(line, true);
                    }
                }
                Event::Text(text) => self.run(&text, false),
                Event::Code(text) => self.run(&text, true),
                Event::SoftBreak => self.run(" ", false),
                Event::HardBreak => self.raw("<w:r><w:br/></w:r>"),
                Event::TaskListMarker(done) => self.run(if done { "☑ " } else { "☐ " }, false),
                Event::Rule => {
                    self.open(None);
                    self.close();
                }
                Event::Html(text) | Event::InlineHtml(text) => self.run(&text, false),
                // A paragraph in a list item ends with the item.
                Event::End(TagEnd::Paragraph) if !self.lists.is_empty() => {}
                Event::End(TagEnd::Heading(_) | TagEnd::Paragraph | TagEnd::Item) => self.close(),
                _ => {}
            }
        }
        self.close();
    }
}

/// One part of the plan: a document of a step with its sections' Markdown.
pub struct Part<'a> {
    pub title: &'a str,
    pub sections: Vec<(&'a str, &'a str)>,
}

/// The `word/document.xml` of a plan.
fn document_xml(title: &str, subtitle: &str, parts: &[Part<'_>]) -> String {
    let mut w = Writer::default();
    w.open(Some("Title"));
    w.run(title, false);
    w.open(Some("Subtitle"));
    w.run(subtitle, false);
    w.close();
    for part in parts {
        w.open(Some("Heading1"));
        w.run(part.title, false);
        w.close();
        for (section, markdown) in &part.sections {
            w.open(Some("Heading2"));
            w.run(section, false);
            w.close();
            if markdown.trim().is_empty() {
                w.italic += 1;
                w.run("Not written yet.", false);
                w.italic -= 1;
                w.close();
            } else {
                w.markdown(markdown);
            }
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
         <w:body>{}<w:sectPr><w:pgSz w:w=\"11906\" w:h=\"16838\"/>\
         <w:pgMar w:top=\"1440\" w:right=\"1440\" w:bottom=\"1440\" w:left=\"1440\" w:header=\"708\" w:footer=\"708\" w:gutter=\"0\"/>\
         </w:sectPr></w:body></w:document>",
        w.body
    )
}

const CONTENT_TYPES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
<Default Extension=\"xml\" ContentType=\"application/xml\"/>\
<Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
<Override PartName=\"/word/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml\"/>\
</Types>";

const PACKAGE_RELS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"word/document.xml\"/>\
</Relationships>";

const DOCUMENT_RELS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">\
<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles\" Target=\"styles.xml\"/>\
</Relationships>";

fn style(id: &str, name: &str, size_half_points: u32, bold: bool, space_before: u32) -> String {
    format!(
        "<w:style w:type=\"paragraph\" w:styleId=\"{id}\"><w:name w:val=\"{name}\"/><w:basedOn w:val=\"Normal\"/>\
         <w:next w:val=\"Normal\"/><w:qFormat/><w:pPr><w:keepNext/><w:spacing w:before=\"{space_before}\" w:after=\"120\"/></w:pPr>\
         <w:rPr>{}<w:sz w:val=\"{size_half_points}\"/></w:rPr></w:style>",
        if bold { "<w:b/>" } else { "" }
    )
}

fn styles_xml() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <w:styles xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">\
         <w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii=\"Calibri\" w:hAnsi=\"Calibri\" w:cs=\"Calibri\"/>\
         <w:sz w:val=\"22\"/></w:rPr></w:rPrDefault><w:pPrDefault><w:pPr><w:spacing w:after=\"120\"/></w:pPr></w:pPrDefault></w:docDefaults>\
         <w:style w:type=\"paragraph\" w:default=\"1\" w:styleId=\"Normal\"><w:name w:val=\"Normal\"/><w:qFormat/></w:style>\
         {}{}{}{}{}\
         <w:style w:type=\"paragraph\" w:styleId=\"ListParagraph\"><w:name w:val=\"List Paragraph\"/><w:basedOn w:val=\"Normal\"/>\
         <w:pPr><w:spacing w:after=\"60\"/><w:ind w:left=\"360\"/></w:pPr></w:style>\
         </w:styles>",
        style("Title", "Title", 52, true, 0),
        style("Subtitle", "Subtitle", 26, false, 0),
        style("Heading1", "heading 1", 36, true, 360),
        style("Heading2", "heading 2", 28, true, 240),
        style("Heading3", "heading 3", 24, true, 200),
    )
}

/// The plan as a `.docx` file.
pub fn plan(title: &str, subtitle: &str, parts: &[Part<'_>]) -> zip::result::ZipResult<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let files: [(&str, String); 5] = [
        ("[Content_Types].xml", CONTENT_TYPES.to_owned()),
        ("_rels/.rels", PACKAGE_RELS.to_owned()),
        ("word/_rels/document.xml.rels", DOCUMENT_RELS.to_owned()),
        ("word/styles.xml", styles_xml()),
        ("word/document.xml", document_xml(title, subtitle, parts)),
    ];
    for (name, content) in files {
        zip.start_file(name, options)?;
        zip.write_all(content.as_bytes())?;
    }
    Ok(zip.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Every element opened is closed, in order (the XML is well formed as far as tags go).
    fn assert_balanced(xml: &str) {
        let mut open: Vec<String> = Vec::new();
        let mut rest = xml;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').expect("a tag ends") + start;
            let tag = &rest[start + 1..end];
            rest = &rest[end + 1..];
            if tag.starts_with('?') || tag.ends_with('/') {
                continue;
            }
            let name = tag.trim_start_matches('/').split(' ').next().unwrap().to_owned();
            if tag.starts_with('/') {
                assert_eq!(open.pop().as_deref(), Some(name.as_str()), "in {xml}");
            } else {
                open.push(name);
            }
        }
        assert!(open.is_empty(), "unclosed {open:?}");
    }

    #[test]
    fn markdown_becomes_styled_paragraphs() {
        let parts = [Part {
            title: "Project brief",
            sections: vec![
                (
                    "Goals",
                    "Reach **200 loans** a month.\n\n- members <18 & parents\n- *gardens*\n  1. north\n  2. south\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\nline 1\nline 2\n```",
                ),
                ("Risks", ""),
            ],
        }];
        let xml = document_xml("Tool library", "Plan", &parts);
        assert_balanced(&xml);
        assert!(xml.contains("<w:pStyle w:val=\"Title\"/></w:pPr><w:r><w:t xml:space=\"preserve\">Tool library"));
        assert!(xml.contains("<w:pStyle w:val=\"Heading1\"/></w:pPr><w:r><w:t xml:space=\"preserve\">Project brief"));
        assert!(xml.contains("<w:rPr><w:b/></w:rPr><w:t xml:space=\"preserve\">200 loans</w:t>"));
        assert!(
            xml.contains("• </w:t></w:r><w:r><w:t xml:space=\"preserve\">members "),
            "{xml}"
        );
        assert!(xml.contains("&lt;") && xml.contains("18 &amp; parents"), "{xml}");
        assert!(xml.contains("1. </w:t>") && xml.contains("2. </w:t>"), "{xml}");
        assert!(xml.contains("<w:tab/>"));
        assert!(xml.contains("line 1</w:t></w:r><w:r><w:br/></w:r>"));
        assert!(xml.contains("Not written yet."));
        assert!(!xml.contains("**") && !xml.contains("```"));
    }

    #[test]
    fn the_package_holds_the_parts_word_needs() {
        let bytes = plan(
            "T",
            "S",
            &[Part {
                title: "Brief",
                sections: vec![("Summary", "Text \u{1} & more")],
            }],
        )
        .unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        for name in [
            "[Content_Types].xml",
            "_rels/.rels",
            "word/_rels/document.xml.rels",
            "word/styles.xml",
            "word/document.xml",
        ] {
            let mut text = String::new();
            archive.by_name(name).unwrap().read_to_string(&mut text).unwrap();
            assert_balanced(&text);
            if name == "word/document.xml" {
                assert!(text.contains("Text  &amp; more"), "{text}");
            }
        }
    }
}
