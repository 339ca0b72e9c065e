//! PDF documents (invoices), written as PDF objects with `lopdf`.
//!
//! Chinese without a font file: the machine has no CJK font and we ship none, so Chinese text
//! uses the way ReportLab and iText do it — a Type0 font over Adobe's `STSong-Light`, a
//! CIDFont every conforming viewer supplies itself (Acrobat, pdf.js, poppler with
//! poppler-data). Nothing is embedded: text is UCS-2 big-endian under the predefined CMap
//! `UniGB-UCS2-H`, and a `/ToUnicode` CMap maps the codes back to Unicode so that text can be
//! copied and extracted. Latin-1 text (digits, tax numbers, `¥`) is set in Helvetica, a
//! standard font every viewer also has. A Chinese glyph is 1 em wide (`/DW 1000`).
//!
//! Layout:
//! - this module: [`Page`] (text and lines on one A4 page), [`pages_into_pdf`] (the document
//!   of one or more pages and its fonts), [`wrap`] and [`text_width`].
//! - [`invoice`]: [`InvoiceDocument`] and [`render_invoice`].
//! - [`flow`]: text and simple tables that run on over as many pages as they need.

pub mod flow;
pub mod invoice;

pub use flow::{Align, Column, Flow};
pub use invoice::{InvoiceDocument, render_invoice};

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, ObjectId, Stream, StringFormat, dictionary};

/// A4 in PDF points (1/72 in): 210 × 297 mm.
pub const A4_WIDTH: i64 = 595;
pub const A4_HEIGHT: i64 = 842;

/// Resource names of the two fonts on every page.
const LATIN_FONT: &str = "F1";
const CJK_FONT: &str = "F2";

/// Shown for a character outside the Basic Multilingual Plane, which UCS-2 cannot encode:
/// 〓 (geta mark) is what Chinese typesetting prints for a missing character.
const MISSING_CHARACTER: u16 = 0x3013;

/// `bfrange` entries per `beginbfrange` block: the CMap format's limit.
const BFRANGES_PER_BLOCK: usize = 100;

/// Advance widths of Helvetica's printable ASCII glyphs (0x20 to 0x7E) in 1/1000 em, from
/// Adobe's metrics file (Helvetica.afm); every viewer uses the same.
const HELVETICA_WIDTHS: [i64; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // ' '../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
];

/// Width counted for every other character: the CJK font's glyphs are 1 em (`/DW 1000`),
/// and Helvetica's Latin-1 letters are at most 1 em, so a line never overflows.
const FULL_WIDTH: i64 = 1000;

/// One page being drawn. Coordinates are PDF points from the bottom-left corner; a text's
/// `y` is its baseline.
#[derive(Default)]
pub struct Page {
    operations: Vec<Operation>,
}

impl Page {
    pub fn new() -> Page {
        Page::default()
    }

    /// Writes `text` on one line from (`x`, `y`) at `size` points. Each run of Latin-1
    /// characters is set in Helvetica and every other run in the CJK font; the viewer
    /// advances past each run by the font's own widths, so mixed text needs no metrics here.
    pub fn text(&mut self, x: i64, y: i64, size: i64, text: &str) {
        self.operations.push(Operation::new("BT", vec![]));
        self.operations
            .push(Operation::new("Td", vec![x.into(), y.into()]));
        for (font, bytes) in runs(text) {
            self.operations
                .push(Operation::new("Tf", vec![font.into(), size.into()]));
            let format = if font == CJK_FONT {
                StringFormat::Hexadecimal
            } else {
                StringFormat::Literal
            };
            self.operations
                .push(Operation::new("Tj", vec![Object::String(bytes, format)]));
        }
        self.operations.push(Operation::new("ET", vec![]));
    }

    /// A straight line, 1 point wide.
    pub fn line(&mut self, from: (i64, i64), to: (i64, i64)) {
        self.operations
            .push(Operation::new("m", vec![from.0.into(), from.1.into()]));
        self.operations
            .push(Operation::new("l", vec![to.0.into(), to.1.into()]));
        self.operations.push(Operation::new("S", vec![]));
    }

    /// The finished one-page A4 document, with `title` in its document information.
    pub fn into_pdf(self, title: &str) -> Vec<u8> {
        pages_into_pdf(vec![self], title)
    }
}

/// The finished A4 document of `pages` in order, with `title` in its document information.
/// Every page shares the two font objects.
pub fn pages_into_pdf(pages: Vec<Page>, title: &str) -> Vec<u8> {
    assert!(!pages.is_empty(), "a PDF has at least one page");
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let latin_font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        // WinAnsi agrees with Latin-1 on every byte `runs` gives Helvetica.
        "Encoding" => "WinAnsiEncoding",
    });
    let cjk_font_id = add_cjk_font(&mut doc);
    let mut kids: Vec<Object> = Vec::with_capacity(pages.len());
    for page in pages {
        let content = Content {
            operations: page.operations,
        };
        let content_bytes = content
            .encode()
            .expect("encoding content into memory cannot fail");
        let content_id = doc.add_object(Stream::new(dictionary! {}, content_bytes));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), A4_WIDTH.into(), A4_HEIGHT.into()],
            "Resources" => dictionary! {
                "Font" => dictionary! {
                    LATIN_FONT => latin_font_id,
                    CJK_FONT => cjk_font_id,
                },
            },
            "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = i64::try_from(kids.len()).expect("page counts fit in i64");
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    let info_id = doc.add_object(dictionary! {
        "Title" => Object::String(text_string(title), StringFormat::Hexadecimal),
        "Producer" => Object::string_literal("MR Ledger"),
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    doc.compress();
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes)
        .expect("writing a PDF into memory cannot fail");
    bytes
}

/// How wide `text` is at `size` points, in points (rounded up), with the widths [`wrap`]
/// uses: enough to right-align figures in a table column.
pub fn text_width(text: &str, size: i64) -> i64 {
    let units: i64 = text.chars().map(char_width).sum::<i64>() * size;
    (units + 999) / 1000
}

/// Splits `text` into lines no wider than `width` points at `size` points. A line breaks at
/// its last space when it has one, else between any two characters (Chinese has no spaces).
/// Empty text is one empty line.
pub fn wrap(text: &str, width: i64, size: i64) -> Vec<String> {
    let fits = |line: &str| line.chars().map(char_width).sum::<i64>() * size <= width * 1000;
    let mut lines = Vec::new();
    let mut line = String::new();
    for c in text.chars() {
        line.push(c);
        if fits(&line) || line.chars().count() == 1 {
            continue;
        }
        line.pop();
        // Break at the last space if the word after it still fits with `c`, else before `c`.
        let carried = match line.rfind(' ') {
            Some(space) if space > 0 && fits(&format!("{}{c}", &line[space + 1..])) => {
                let word = line[space + 1..].to_owned();
                line.truncate(space);
                word
            }
            _ => String::new(),
        };
        lines.push(std::mem::replace(&mut line, carried));
        line.push(c);
    }
    lines.push(line);
    lines
}

/// The advance of `c` in 1/1000 em, in the font `runs` chooses for it.
fn char_width(c: char) -> i64 {
    match u32::from(c) {
        code @ 0x20..=0x7E => HELVETICA_WIDTHS[(code - 0x20) as usize],
        _ => FULL_WIDTH,
    }
}

/// Splits `text` into runs of one font each, already encoded for that font.
fn runs(text: &str) -> Vec<(&'static str, Vec<u8>)> {
    let mut runs: Vec<(&'static str, Vec<u8>)> = Vec::new();
    for c in text.chars() {
        let (font, bytes) = encode(c);
        match runs.last_mut() {
            Some((last_font, last_bytes)) if *last_font == font => last_bytes.extend(bytes),
            _ => runs.push((font, bytes)),
        }
    }
    runs
}

/// One character in the font that shows it: printable Latin-1 as one WinAnsi byte (the
/// same value), control characters as `?`, anything else as its UCS-2 code.
fn encode(c: char) -> (&'static str, Vec<u8>) {
    match u32::from(c) {
        code @ (0x20..=0x7E | 0xA0..=0xFF) => (LATIN_FONT, vec![code as u8]),
        0x00..=0x1F | 0x7F..=0x9F => (LATIN_FONT, vec![b'?']),
        code => {
            let ucs2 = u16::try_from(code).unwrap_or(MISSING_CHARACTER);
            (CJK_FONT, ucs2.to_be_bytes().to_vec())
        }
    }
}

/// A PDF text string (document information): UTF-16BE with a byte order mark.
fn text_string(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFE, 0xFF];
    bytes.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    bytes
}

/// The Type0 font over `STSong-Light` (Adobe-GB1), with no font program: see the module
/// documentation.
fn add_cjk_font(doc: &mut Document) -> ObjectId {
    let descriptor_id = doc.add_object(dictionary! {
        "Type" => "FontDescriptor",
        "FontName" => "STSong-Light",
        // Serif, symbolic (glyphs outside the standard Latin set).
        "Flags" => 6,
        "FontBBox" => vec![(-25).into(), (-254).into(), 1000.into(), 880.into()],
        "ItalicAngle" => 0,
        "Ascent" => 880,
        "Descent" => -120,
        "CapHeight" => 880,
        "StemV" => 93,
    });
    let descendant_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "CIDFontType0",
        "BaseFont" => "STSong-Light",
        "CIDSystemInfo" => dictionary! {
            "Registry" => Object::string_literal("Adobe"),
            "Ordering" => Object::string_literal("GB1"),
            "Supplement" => 2,
        },
        "FontDescriptor" => descriptor_id,
        // Only non-Latin text is set in this font, and its glyphs are all full width.
        "DW" => 1000,
    });
    let to_unicode_id = doc.add_object(Stream::new(dictionary! {}, ucs2_to_unicode_cmap()));
    doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type0",
        // The CIDFont's name, a hyphen and the CMap's name, as the PDF specification asks.
        "BaseFont" => "STSong-Light-UniGB-UCS2-H",
        "Encoding" => "UniGB-UCS2-H",
        "DescendantFonts" => vec![descendant_id.into()],
        "ToUnicode" => to_unicode_id,
    })
}

/// A `/ToUnicode` CMap for UCS-2 codes: every code maps to itself. A `bfrange` may only vary
/// in its last byte, so there is one range per high byte, skipping the surrogates (no
/// character has such a code), in blocks of at most 100 ranges.
fn ucs2_to_unicode_cmap() -> Vec<u8> {
    let high_bytes: Vec<u16> = (0x00..=0xFF_u16)
        .filter(|high| !(0xD8..=0xDF).contains(high))
        .collect();
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin\n\
         12 dict begin\n\
         begincmap\n\
         /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
         /CMapName /Adobe-Identity-UCS def\n\
         /CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    for block in high_bytes.chunks(BFRANGES_PER_BLOCK) {
        cmap.push_str(&format!("{} beginbfrange\n", block.len()));
        for high in block {
            let first = high << 8;
            cmap.push_str(&format!(
                "<{first:04X}> <{last:04X}> <{first:04X}>\n",
                last = first | 0xFF
            ));
        }
        cmap.push_str("endbfrange\n");
    }
    cmap.push_str(
        "endcmap\n\
         CMapName currentdict /CMap defineresource pop\n\
         end\n\
         end\n",
    );
    cmap.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_and_chinese_runs_go_to_their_fonts() {
        let runs = runs("¥12 发票A\u{1F600}");
        assert_eq!(
            runs,
            vec![
                (LATIN_FONT, b"\xA512 ".to_vec()),
                (CJK_FONT, vec![0x53, 0xD1, 0x79, 0x68]),
                (LATIN_FONT, b"A".to_vec()),
                (CJK_FONT, vec![0x30, 0x13]),
            ]
        );
        assert_eq!(super::runs("a\nb"), vec![(LATIN_FONT, b"a?b".to_vec())]);
    }

    #[test]
    fn lines_wrap_at_the_width_preferring_spaces() {
        // 10 points at 10 points per em: ten Chinese characters, or 1000 units of Helvetica.
        assert_eq!(wrap("", 10, 1), [""]);
        assert_eq!(wrap("中国", 1, 1), ["中", "国"]);
        assert_eq!(
            wrap(&"中".repeat(25), 10, 1),
            ["中".repeat(10), "中".repeat(10), "中".repeat(5)]
        );
        // "ab cd" is 556+556+278+500+556 = 2446 units; two lines of 2 em.
        assert_eq!(wrap("ab cd", 2, 1), ["ab", "cd"]);
        assert_eq!(wrap("abcdef", 2, 1), ["abc", "def"]);
        // A word too long to fit after the break anyway is cut where the line is full.
        assert_eq!(wrap("i mmmm", 3, 1), ["i mmm", "m"]);
        // A single character wider than the line still goes on a line of its own.
        assert_eq!(wrap("@@", 1, 1), ["@", "@"]);
    }

    #[test]
    fn to_unicode_ranges_never_cross_a_high_byte() {
        let cmap = String::from_utf8(ucs2_to_unicode_cmap()).unwrap();
        let ranges: Vec<&str> = cmap.lines().filter(|l| l.starts_with('<')).collect();
        // The codespace range, then 256 high bytes less the 8 of the surrogates.
        assert_eq!(ranges.len(), 1 + 248);
        for range in &ranges[1..] {
            let codes: Vec<&str> = range.split(' ').collect();
            assert_eq!(codes[0][1..3], codes[1][1..3], "{range}");
            assert_eq!(codes[0], codes[2], "{range}");
        }
        for count in cmap.lines().filter_map(|l| l.strip_suffix(" beginbfrange")) {
            assert!(count.parse::<usize>().unwrap() <= BFRANGES_PER_BLOCK);
        }
    }
}
