//! The invoice PDF: one A4 page with the invoice's parties and its amount in figures and in
//! Chinese capitals.

use chrono::{DateTime, FixedOffset, Utc};
use ledger_core::chinese_amount::chinese_capitals;
use ledger_core::money::Money;

use super::{A4_HEIGHT, A4_WIDTH, Page, wrap};

/// China Standard Time is UTC+8 all year (no daylight saving), so a fixed offset gives the
/// Asia/Shanghai date without a time zone database.
const CHINA_UTC_OFFSET_SECONDS: i32 = 8 * 3600;

const MARGIN: i64 = 56;
const TITLE_SIZE: i64 = 22;
const TEXT_SIZE: i64 = 11;
/// Baseline to baseline within a row and between rows.
const LINE_HEIGHT: i64 = 16;
const ROW_GAP: i64 = 10;
/// Where values start: right of the longest label ("纳税人识别号 Tax number").
const VALUE_X: i64 = MARGIN + 170;

/// What an invoice PDF shows. The caller has the facts; nothing here looks anything up.
#[derive(Debug, Clone)]
pub struct InvoiceDocument {
    pub invoice_number: String,
    pub issued_at: DateTime<Utc>,
    pub seller_name: String,
    pub seller_tax_number: String,
    pub buyer_title: String,
    pub buyer_tax_number: String,
    /// `"general"` (普通发票) or `"special"` (专用发票); anything else is shown as given.
    pub invoice_type: String,
    pub amount: Money,
}

/// Renders `doc` as a one-page A4 PDF.
pub fn render_invoice(doc: &InvoiceDocument) -> Vec<u8> {
    let mut page = Page::new();
    let mut y = A4_HEIGHT - MARGIN - TITLE_SIZE;
    page.text(MARGIN, y, TITLE_SIZE, "电子发票 Invoice");
    y -= 14;
    rule(&mut page, y);
    y -= 28;

    let issue_date = doc
        .issued_at
        .with_timezone(&china_time())
        .format("%Y-%m-%d");
    let amount_in_figures = format!("¥{} (CNY {})", with_thousands(doc.amount), doc.amount);
    let date = issue_date.to_string();
    let words = chinese_capitals(doc.amount);
    let type_label = invoice_type_label(&doc.invoice_type);
    // (label, value) rows in blocks: the invoice, the seller, the buyer, the amount.
    let blocks: [&[(&str, &str)]; 4] = [
        &[
            ("发票号码 Invoice No.", &doc.invoice_number),
            ("开票日期 Date of issue", &date),
            ("发票类型 Invoice type", type_label),
        ],
        &[
            ("销售方 Seller", &doc.seller_name),
            ("纳税人识别号 Tax number", &doc.seller_tax_number),
        ],
        &[
            ("购买方 Buyer", &doc.buyer_title),
            ("纳税人识别号 Tax number", &doc.buyer_tax_number),
        ],
        &[
            ("金额（小写） Amount", &amount_in_figures),
            ("金额（大写） In words", &words),
        ],
    ];
    for (index, block) in blocks.iter().enumerate() {
        if index > 0 {
            rule(&mut page, y + LINE_HEIGHT);
        }
        for (label, value) in *block {
            page.text(MARGIN, y, TEXT_SIZE, label);
            for line in wrap(value, A4_WIDTH - MARGIN - VALUE_X, TEXT_SIZE) {
                page.text(VALUE_X, y, TEXT_SIZE, &line);
                y -= LINE_HEIGHT;
            }
            y -= ROW_GAP;
        }
    }
    rule(&mut page, y + LINE_HEIGHT);
    page.into_pdf(&format!("电子发票 Invoice {}", doc.invoice_number))
}

/// A horizontal rule across the page between the margins.
fn rule(page: &mut Page, y: i64) {
    page.line((MARGIN, y), (A4_WIDTH - MARGIN, y));
}

fn china_time() -> FixedOffset {
    FixedOffset::east_opt(CHINA_UTC_OFFSET_SECONDS).expect("UTC+8 is a valid offset")
}

fn invoice_type_label(invoice_type: &str) -> &str {
    match invoice_type {
        "general" => "普通发票 General",
        "special" => "专用发票 Special",
        other => other,
    }
}

/// `1234567.80` → `1,234,567.80`.
fn with_thousands(amount: Money) -> String {
    let plain = amount.to_string();
    let (yuan, fen) = plain.split_once('.').expect("Money prints two decimals");
    let mut grouped = String::new();
    for (index, digit) in yuan.chars().enumerate() {
        if index > 0 && (yuan.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped}.{fen}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use lopdf::{Document, Object};

    fn invoice() -> InvoiceDocument {
        InvoiceDocument {
            invoice_number: "25440000000012345678".to_owned(),
            // 00:30 on 1 January in Shanghai, still 31 December in UTC.
            issued_at: Utc.with_ymd_and_hms(2025, 12, 31, 16, 30, 0).unwrap(),
            seller_name: "上海某某虚拟现实科技有限公司".to_owned(),
            seller_tax_number: "91310000MA1FL0XX1A".to_owned(),
            buyer_title: "北京星空VR体验馆有限公司".to_owned(),
            buyer_tax_number: "91110105MA01ABCD2E".to_owned(),
            invoice_type: "special".to_owned(),
            amount: Money::parse("1234.56").unwrap(),
        }
    }

    fn extract_text(pdf: &Document) -> String {
        pdf.extract_text(&[1]).unwrap()
    }

    #[test]
    fn the_invoice_is_a_one_page_a4_pdf() {
        let bytes = render_invoice(&invoice());
        assert!(bytes.starts_with(b"%PDF-"));
        let pdf = Document::load_mem(&bytes).unwrap();
        let pages = pdf.get_pages();
        assert_eq!(pages.len(), 1);
        let page = pdf.get_dictionary(pages[&1]).unwrap();
        let media_box: Vec<i64> = page
            .get(b"MediaBox")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_i64().unwrap())
            .collect();
        assert_eq!(media_box, [0, 0, 595, 842]);
    }

    #[test]
    fn the_extracted_text_shows_every_fact_of_the_invoice() {
        let pdf = Document::load_mem(&render_invoice(&invoice())).unwrap();
        let text = extract_text(&pdf);
        for expected in [
            "电子发票",
            "Invoice",
            "25440000000012345678",
            "2026-01-01",
            "上海某某虚拟现实科技有限公司",
            "91310000MA1FL0XX1A",
            "北京星空VR体验馆有限公司",
            "91110105MA01ABCD2E",
            "专用发票 Special",
            "¥1,234.56",
            "1234.56",
            "壹仟贰佰叁拾肆元伍角陆分",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text:?}");
        }
    }

    /// lopdf decodes `UniGB-UCS2-H` text itself and never reads `/ToUnicode`; without the
    /// `/Encoding` it must go through our CMap, which proves the CMap maps every code back.
    #[test]
    fn the_to_unicode_cmap_alone_gives_back_the_chinese_text() {
        let mut pdf = Document::load_mem(&render_invoice(&invoice())).unwrap();
        let type0_id = pdf
            .objects
            .iter()
            .find(|(_, object)| {
                let subtype = object.as_dict().and_then(|d| d.get(b"Subtype")?.as_name());
                subtype.is_ok_and(|name| name == b"Type0")
            })
            .map(|(id, _)| *id)
            .unwrap();
        let font = pdf.get_object_mut(type0_id).unwrap().as_dict_mut().unwrap();
        assert!(font.remove(b"Encoding").is_some());
        let text = extract_text(&pdf);
        assert!(text.contains("北京星空"), "{text:?}");
        assert!(text.contains("壹仟贰佰叁拾肆元伍角陆分"), "{text:?}");
    }

    #[test]
    fn chinese_is_a_type0_stsong_font_with_nothing_embedded() {
        let pdf = Document::load_mem(&render_invoice(&invoice())).unwrap();
        let fonts = pdf.get_page_fonts(pdf.get_pages()[&1]).unwrap();
        let type0 = fonts[b"F2".as_slice()];
        let name =
            |d: &lopdf::Dictionary, key: &[u8]| d.get(key).unwrap().as_name().unwrap().to_vec();
        assert_eq!(name(type0, b"Subtype"), b"Type0");
        assert_eq!(name(type0, b"Encoding"), b"UniGB-UCS2-H");
        let descendants = type0.get(b"DescendantFonts").unwrap().as_array().unwrap();
        let cid_font = pdf
            .get_dictionary(descendants[0].as_reference().unwrap())
            .unwrap();
        assert_eq!(name(cid_font, b"Subtype"), b"CIDFontType0");
        assert_eq!(name(cid_font, b"BaseFont"), b"STSong-Light");
        let info = cid_font.get(b"CIDSystemInfo").unwrap().as_dict().unwrap();
        assert_eq!(info.get(b"Registry").unwrap().as_str().unwrap(), b"Adobe");
        assert_eq!(info.get(b"Ordering").unwrap().as_str().unwrap(), b"GB1");
        assert_eq!(info.get(b"Supplement").unwrap().as_i64().unwrap(), 2);
        let descriptor_id = cid_font
            .get(b"FontDescriptor")
            .unwrap()
            .as_reference()
            .unwrap();
        let descriptor = pdf.get_dictionary(descriptor_id).unwrap();
        for embedded in [b"FontFile".as_slice(), b"FontFile2", b"FontFile3"] {
            assert!(descriptor.get(embedded).is_err());
        }
        let helvetica = fonts[b"F1".as_slice()];
        assert_eq!(name(helvetica, b"BaseFont"), b"Helvetica");
        assert!(matches!(type0.get(b"ToUnicode"), Ok(Object::Reference(_))));
    }

    #[test]
    fn a_long_name_wraps_and_is_shown_whole() {
        let mut doc = invoice();
        doc.buyer_title = "中国".repeat(30);
        let pdf = Document::load_mem(&render_invoice(&doc)).unwrap();
        let text = extract_text(&pdf).replace('\n', "");
        assert!(text.contains(&doc.buyer_title), "{text:?}");
        // 313 points at 11 points a character: 28 characters a line.
        let lines = wrap(&doc.buyer_title, A4_WIDTH - MARGIN - VALUE_X, TEXT_SIZE);
        assert_eq!(
            lines.iter().map(|l| l.chars().count()).collect::<Vec<_>>(),
            [28, 28, 4]
        );
    }

    #[test]
    fn the_largest_amount_fits_on_its_lines() {
        let mut doc = invoice();
        doc.amount = Money::parse("9999999999999999.99").unwrap();
        let pdf = Document::load_mem(&render_invoice(&doc)).unwrap();
        let text = extract_text(&pdf);
        assert!(
            text.contains("¥9,999,999,999,999,999.99 (CNY 9999999999999999.99)\n"),
            "{text:?}"
        );
        // 38 characters in words take two lines.
        let words = chinese_capitals(doc.amount);
        assert!(text.replace('\n', "").contains(&words), "{text:?}");
    }

    #[test]
    fn amounts_get_thousands_separators() {
        for (plain, grouped) in [
            ("0", "0.00"),
            ("999.99", "999.99"),
            ("1000", "1,000.00"),
            ("1234.56", "1,234.56"),
            ("123456", "123,456.00"),
            ("9999999999999999.99", "9,999,999,999,999,999.99"),
        ] {
            assert_eq!(with_thousands(Money::parse(plain).unwrap()), grouped);
        }
    }

    #[test]
    fn general_and_special_invoices_are_named_in_both_languages() {
        assert_eq!(invoice_type_label("general"), "普通发票 General");
        assert_eq!(invoice_type_label("special"), "专用发票 Special");
        assert_eq!(invoice_type_label("other"), "other");
    }
}
