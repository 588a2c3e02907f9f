//! Microsoft Purview (MIP) sensitivity labels in Office Open XML files (docx, xlsx, pptx): the
//! `MSIP_Label_<id>_*` custom properties in `docProps/custom.xml` and the label list in
//! `docMetadata/LabelInfo.xml`.
//!
//! The input is attacker-shaped: the archive is read through bounded reads (a part larger than
//! [`MAX_PART`] once inflated is refused, which stops zip bombs), archives with more than
//! [`MAX_ENTRIES`] entries are refused, and any structural damage is an error, never a panic.

use std::io::{Read, Seek};

use quick_xml::Reader;
use quick_xml::events::Event;

/// Largest inflated size of a metadata part that is read.
pub const MAX_PART: u64 = 1 << 20;
/// Most entries an archive may list.
pub const MAX_ENTRIES: usize = 100_000;

/// A sensitivity label found in a document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SensitivityLabel {
    /// The label's GUID.
    pub id: String,
    /// Its display name, when the document records it (`custom.xml` does; `LabelInfo.xml`
    /// names only the id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tenant (site) that defined it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_id: Option<String>,
    /// The part it was read from.
    pub part: &'static str,
}

impl SensitivityLabel {
    /// The classification it maps to: `label:<name>` in kebab case, or `label:mip` when the
    /// document records only the id.
    pub fn classification(&self) -> String {
        let kebab = self.name.as_deref().map(|n| {
            n.split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
                .join("-")
        });
        match kebab {
            Some(k) if !k.is_empty() => format!("label:{k}"),
            _ => "label:mip".to_owned(),
        }
    }
}

/// Why labels could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OfficeError {
    /// The archive is damaged or not a zip archive.
    #[error("not a readable Office document: {0}")]
    Malformed(String),
    /// A limit was hit.
    #[error("refused: {0}")]
    TooLarge(String),
}

const CUSTOM: &str = "docProps/custom.xml";
const LABEL_INFO: &str = "docMetadata/LabelInfo.xml";

/// Whether bytes start like a zip archive.
pub fn looks_like_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

/// The enabled sensitivity labels of an Office document.
pub fn sensitivity_labels<R: Read + Seek>(reader: R) -> Result<Vec<SensitivityLabel>, OfficeError> {
    OfficeDocument::open(reader)?.sensitivity_labels()
}

/// Largest inflated size of a content part whose text is extracted.
pub const MAX_TEXT_PART: u64 = 16 << 20;
/// Most text extracted from one document, all parts together.
pub const MAX_TEXT_TOTAL: usize = 64 << 20;

/// The text of one content part of a document (paragraphs, cells and shared strings on lines
/// of their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartText {
    /// The part's name in the archive, e.g. `word/document.xml`.
    pub part: String,
    /// Its text.
    pub text: String,
}

/// An Office Open XML document (docx, xlsx, pptx, or any zip archive), opened for reading
/// its labels and the text of its content parts.
#[derive(Debug)]
pub struct OfficeDocument<R> {
    zip: zip::ZipArchive<R>,
}

impl<R: Read + Seek> OfficeDocument<R> {
    /// Open the archive, refusing damaged ones and those listing too many entries.
    pub fn open(reader: R) -> Result<Self, OfficeError> {
        let zip =
            zip::ZipArchive::new(reader).map_err(|e| OfficeError::Malformed(e.to_string()))?;
        if zip.len() > MAX_ENTRIES {
            return Err(OfficeError::TooLarge(format!(
                "the archive lists {} entries (limit {MAX_ENTRIES})",
                zip.len()
            )));
        }
        Ok(Self { zip })
    }

    /// The enabled sensitivity labels.
    pub fn sensitivity_labels(&mut self) -> Result<Vec<SensitivityLabel>, OfficeError> {
        let mut labels = Vec::new();
        if let Some(xml) = self.read_part(CUSTOM, MAX_PART)? {
            labels.extend(custom_properties(&xml)?);
        }
        if let Some(xml) = self.read_part(LABEL_INFO, MAX_PART)? {
            for l in label_info(&xml)? {
                if !labels
                    .iter()
                    .any(|k: &SensitivityLabel| k.id.eq_ignore_ascii_case(&l.id))
                {
                    labels.push(l);
                }
            }
        }
        Ok(labels)
    }

    /// The text of the content parts (document body, headers, footers, notes and comments of
    /// Word; shared strings, sheets and comments of Excel; slides and notes of PowerPoint), in
    /// archive order. Each part is inflated to at most [`MAX_TEXT_PART`] bytes and the text of
    /// all parts is capped at [`MAX_TEXT_TOTAL`]; beyond either, the document is refused.
    pub fn text(&mut self) -> Result<Vec<PartText>, OfficeError> {
        let names: Vec<String> = self
            .zip
            .file_names()
            .filter_map(Result::ok)
            .filter(|n| is_content_part(n))
            .map(|n| n.into_owned())
            .collect();
        let mut parts = Vec::new();
        let mut total = 0usize;
        for name in names {
            let Some(xml) = self.read_part(&name, MAX_TEXT_PART)? else {
                continue;
            };
            let text = xml_text(&xml, &name)?;
            total += text.len();
            if total > MAX_TEXT_TOTAL {
                return Err(OfficeError::TooLarge(format!(
                    "the document's text exceeds {MAX_TEXT_TOTAL} bytes"
                )));
            }
            if !text.trim().is_empty() {
                parts.push(PartText { part: name, text });
            }
        }
        Ok(parts)
    }

    fn read_part(&mut self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, OfficeError> {
        let mut file = match self.zip.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(OfficeError::Malformed(format!("`{name}`: {e}"))),
        };
        let mut out = Vec::new();
        (&mut file)
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| OfficeError::Malformed(format!("`{name}`: {e}")))?;
        if out.len() as u64 > limit {
            return Err(OfficeError::TooLarge(format!(
                "`{name}` inflates to more than {limit} bytes"
            )));
        }
        Ok(Some(out))
    }
}

/// Parts that hold what a person wrote, not layout or settings.
fn is_content_part(name: &str) -> bool {
    const SKIP: &[&str] = &[
        "_rels",
        "theme",
        "styles",
        "fontTable",
        "settings",
        "webSettings",
        "numbering",
        "presProps",
        "viewProps",
        "tableStyles",
        "slideLayout",
        "slideMaster",
        "notesMaster",
        "handoutMaster",
        "calcChain",
        "printerSettings",
        "customXml",
        "docProps",
    ];
    let in_app = ["word/", "xl/", "ppt/"].iter().any(|p| name.starts_with(p));
    in_app && name.ends_with(".xml") && !SKIP.iter().any(|s| name.contains(s))
}

/// The character content of an XML part, with a line break after each paragraph, table row,
/// cell, shared string or line break element, and a tab for tab elements.
fn xml_text(xml: &[u8], part: &str) -> Result<String, OfficeError> {
    let mut text = String::new();
    each_event(xml, part, |event| {
        match event {
            Event::Text(t) => text.push_str(t.as_ref()),
            Event::CData(t) => text.push_str(t.as_ref()),
            Event::GeneralRef(r) => text.extend(entity(&r)),
            Event::End(e) => match e.local_name().as_ref() {
                "p" | "tr" | "row" | "si" | "c" => text.push('\n'),
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                "br" | "cr" => text.push('\n'),
                "tab" => text.push('\t'),
                _ => {}
            },
            _ => {}
        }
        Ok(())
    })?;
    Ok(text)
}

/// The character an entity or character reference stands for.
fn entity(r: &quick_xml::events::BytesRef<'_>) -> Option<char> {
    match r.as_ref() {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => r.resolve_char_ref().ok().flatten(),
    }
}

fn xml_error(part: &str, e: impl std::fmt::Display) -> OfficeError {
    OfficeError::Malformed(format!("`{part}`: {e}"))
}

/// `MSIP_Label_<id>_<Field>` properties, grouped by label; labels whose `Enabled` is not
/// `true` are left out.
fn custom_properties(xml: &[u8]) -> Result<Vec<SensitivityLabel>, OfficeError> {
    let mut props: Vec<(String, String)> = Vec::new();
    let mut current: Option<String> = None;
    let mut text = String::new();
    each_event(xml, CUSTOM, |event| {
        match event {
            Event::Start(e) if e.local_name().as_ref() == "property" => {
                current = None;
                text.clear();
                for a in e.attributes() {
                    let a = a.map_err(|e| xml_error(CUSTOM, e))?;
                    if a.key.local_name().as_ref() == "name" {
                        current = Some(a.value.into_owned());
                    }
                }
            }
            Event::Text(t) if current.is_some() && text.len() < 4096 => {
                text.push_str(t.as_ref());
            }
            Event::GeneralRef(r) if current.is_some() => text.extend(entity(&r)),
            Event::End(e) if e.local_name().as_ref() == "property" => {
                if let Some(name) = current.take() {
                    let value = text.trim();
                    if !value.is_empty() {
                        props.push((name, value.to_owned()));
                    }
                }
                text.clear();
            }
            _ => {}
        }
        Ok(())
    })?;
    let mut labels: Vec<(SensitivityLabel, bool)> = Vec::new();
    for (name, value) in props {
        let Some(rest) = name.strip_prefix("MSIP_Label_") else {
            continue;
        };
        let Some((id, field)) = rest.rsplit_once('_') else {
            continue;
        };
        let i = match labels.iter().position(|(l, _)| l.id == id) {
            Some(i) => i,
            None => {
                labels.push((
                    SensitivityLabel {
                        id: id.to_owned(),
                        name: None,
                        site_id: None,
                        part: CUSTOM,
                    },
                    false,
                ));
                labels.len() - 1
            }
        };
        if let Some((label, enabled)) = labels.get_mut(i) {
            match field {
                "Name" => label.name = Some(value),
                "SiteId" => label.site_id = Some(value),
                "Enabled" => *enabled = value.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
    }
    Ok(labels
        .into_iter()
        .filter(|(_, e)| *e)
        .map(|(l, _)| l)
        .collect())
}

/// `<clbl:label id=… enabled="1" removed="0" siteId=…/>` entries.
fn label_info(xml: &[u8]) -> Result<Vec<SensitivityLabel>, OfficeError> {
    let mut labels = Vec::new();
    each_event(xml, LABEL_INFO, |event| {
        match event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "label" => {
                let (mut id, mut site, mut enabled, mut removed) = (None, None, false, false);
                for a in e.attributes() {
                    let a = a.map_err(|e| xml_error(LABEL_INFO, e))?;
                    let v = a.value.into_owned();
                    match a.key.local_name().as_ref() {
                        "id" => id = Some(v),
                        "siteId" => site = Some(v),
                        "enabled" => enabled = v == "1" || v.eq_ignore_ascii_case("true"),
                        "removed" => removed = v == "1" || v.eq_ignore_ascii_case("true"),
                        _ => {}
                    }
                }
                if let (Some(id), true, false) = (id, enabled, removed) {
                    labels.push(SensitivityLabel {
                        id: id.trim_matches(|c| c == '{' || c == '}').to_owned(),
                        name: None,
                        site_id: site,
                        part: LABEL_INFO,
                    });
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(labels)
}

/// Most XML events read from one part (a million elements is far beyond any real metadata).
const MAX_EVENTS: usize = 1_000_000;

/// Feed each XML event of `part` to `f`, up to the end of the document, refusing malformed XML
/// and more than [`MAX_EVENTS`] events.
fn each_event(
    xml: &[u8],
    part: &str,
    mut f: impl FnMut(Event<'_>) -> Result<(), OfficeError>,
) -> Result<(), OfficeError> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    for _ in 0..MAX_EVENTS {
        match reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_error(part, e))?
        {
            Event::Eof => return Ok(()),
            event => f(event)?,
        }
        buf.clear();
    }
    Err(OfficeError::TooLarge(format!(
        "`{part}` has too many elements"
    )))
}
