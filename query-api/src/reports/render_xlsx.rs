//! The report as a workbook: one sheet per section of the PDF (summary, revenue per day, top
//! customers, usage by app, usage by site), with numbers as numbers so finance can sum them.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::model::{ReportDocument, UsageLine};

/// Money shown with thousands separators and two decimals.
const MONEY_FORMAT: &str = "#,##0.00";

struct Formats {
    header: Format,
    money: Format,
    decimal: Format,
}

pub fn render_xlsx(doc: &ReportDocument) -> Result<Vec<u8>, XlsxError> {
    let formats = Formats {
        header: Format::new().set_bold(),
        money: Format::new().set_num_format(MONEY_FORMAT),
        decimal: Format::new().set_num_format("0.00"),
    };
    let mut workbook = Workbook::new();
    summary(workbook.add_worksheet(), doc, &formats)?;
    revenue(workbook.add_worksheet(), doc, &formats)?;
    customers(workbook.add_worksheet(), doc, &formats)?;
    usage(
        workbook.add_worksheet().set_name("应用 Apps")?,
        "应用 App",
        &doc.apps,
        &formats,
    )?;
    usage(
        workbook.add_worksheet().set_name("场地 Sites")?,
        "场地 Site",
        &doc.sites,
        &formats,
    )?;
    workbook.save_to_buffer()
}

fn headers(sheet: &mut Worksheet, names: &[&str], formats: &Formats) -> Result<(), XlsxError> {
    for (col, name) in (0u16..).zip(names) {
        sheet.write_string_with_format(0, col, *name, &formats.header)?;
        sheet.set_column_width(col, 18)?;
    }
    Ok(())
}

/// Spreadsheet numbers are doubles: an amount of at most 15 significant digits comes back
/// exactly with the two-decimal format (no arithmetic is done on it here).
fn number(value: Decimal) -> f64 {
    value.to_f64().expect("every decimal has a nearest double")
}

fn write_money(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    value: Decimal,
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet.write_number_with_format(row, col, number(value), &formats.money)?;
    Ok(())
}

fn summary(
    sheet: &mut Worksheet,
    doc: &ReportDocument,
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet.set_name("汇总 Summary")?;
    sheet.set_column_width(0, 24)?;
    sheet.set_column_width(1, 28)?;
    sheet.write_string_with_format(0, 0, doc.period.kind.title(), &formats.header)?;
    let facts = [
        ("报告期间 Period", doc.period.label()),
        ("开始 Start", doc.period.start.to_string()),
        ("结束 End", doc.period.end.to_string()),
        ("时区 Time zone", doc.time_zone.clone()),
        (
            "生成时间 Generated at (UTC)",
            doc.generated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        ),
    ];
    let mut row = 1;
    for (label, value) in facts {
        sheet.write_string(row, 0, label)?;
        sheet.write_string(row, 1, value)?;
        row += 1;
    }
    let totals = doc.totals();
    row += 1;
    for (label, value) in [
        ("充值 Recharged", totals.recharged),
        ("消费 Consumed", totals.consumed),
        ("退款 Refunded", totals.refunded),
        ("净收入 Net", totals.net),
    ] {
        sheet.write_string(row, 0, label)?;
        write_money(sheet, row, 1, value, formats)?;
        row += 1;
    }
    for (label, value) in [
        ("局数 Sessions", totals.sessions),
        ("人次 Player-times", totals.player_times),
    ] {
        sheet.write_string(row, 0, label)?;
        sheet.write_number(row, 1, value as f64)?;
        row += 1;
    }
    Ok(())
}

fn revenue(
    sheet: &mut Worksheet,
    doc: &ReportDocument,
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet.set_name("每日收入 Revenue")?;
    headers(
        sheet,
        &[
            "日期 Day",
            "充值 Recharged",
            "消费 Consumed",
            "退款 Refunded",
            "净收入 Net",
        ],
        formats,
    )?;
    let mut row = 0;
    for day in &doc.days {
        row += 1;
        sheet.write_string(row, 0, day.day.to_string())?;
        for (col, value) in [
            (1, day.recharged),
            (2, day.consumed),
            (3, day.refunded),
            (4, day.net()),
        ] {
            write_money(sheet, row, col, value, formats)?;
        }
    }
    let totals = doc.totals();
    row += 1;
    sheet.write_string_with_format(row, 0, "合计 Total", &formats.header)?;
    for (col, value) in [
        (1, totals.recharged),
        (2, totals.consumed),
        (3, totals.refunded),
        (4, totals.net),
    ] {
        write_money(sheet, row, col, value, formats)?;
    }
    Ok(())
}

fn customers(
    sheet: &mut Worksheet,
    doc: &ReportDocument,
    formats: &Formats,
) -> Result<(), XlsxError> {
    sheet.set_name("客户 Top customers")?;
    headers(
        sheet,
        &[
            "名次 Rank",
            "名称 Name",
            "账号 Username",
            "类别 Category",
            "VIP",
            "消费 Spend",
            "占比 Share (%)",
        ],
        formats,
    )?;
    for (row, (rank, customer)) in (1u32..).zip(doc.top_customers.iter().enumerate()) {
        sheet.write_number(row, 0, (rank + 1) as f64)?;
        sheet.write_string(row, 1, &customer.name)?;
        sheet.write_string(row, 2, &customer.username)?;
        sheet.write_string(row, 3, &customer.category)?;
        sheet.write_string(row, 4, if customer.is_vip() { "VIP" } else { "" })?;
        write_money(sheet, row, 5, customer.spend, formats)?;
        let share = number(doc.share_percent(customer.spend));
        sheet.write_number_with_format(row, 6, share, &formats.decimal)?;
    }
    Ok(())
}

fn usage(
    sheet: &mut Worksheet,
    name_header: &str,
    lines: &[UsageLine],
    formats: &Formats,
) -> Result<(), XlsxError> {
    headers(
        sheet,
        &[
            name_header,
            "局数 Sessions",
            "人次 Player-times",
            "平均人数 Avg players",
            "消费 Spend",
        ],
        formats,
    )?;
    for (row, line) in (1u32..).zip(lines) {
        sheet.write_string(row, 0, &line.name)?;
        sheet.write_number(row, 1, line.sessions as f64)?;
        sheet.write_number(row, 2, line.player_times as f64)?;
        sheet.write_number_with_format(row, 3, number(line.average_players()), &formats.decimal)?;
        write_money(sheet, row, 4, line.spend, formats)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::reports::model::sample::november;

    /// The text of every part of the workbook whose name starts with `prefix`.
    fn parts(bytes: &[u8], prefix: &str) -> String {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut text = String::new();
        for index in 0..archive.len() {
            let mut file = archive.by_index(index).unwrap();
            if file.name().unwrap().starts_with(prefix) {
                file.read_to_string(&mut text).unwrap();
            }
        }
        text
    }

    #[test]
    fn the_workbook_has_a_sheet_per_section_with_the_figures_as_numbers() {
        let bytes = render_xlsx(&november()).unwrap();
        let workbook = parts(&bytes, "xl/workbook.xml");
        for sheet in [
            "汇总 Summary",
            "每日收入 Revenue",
            "客户 Top customers",
            "应用 Apps",
            "场地 Sites",
        ] {
            assert!(workbook.contains(sheet), "{sheet} not in {workbook}");
        }
        let strings = parts(&bytes, "xl/sharedStrings.xml");
        for text in [
            "星空VR体验馆",
            "starry",
            "VIP",
            "太空探险 Space",
            "2026-11-30",
        ] {
            assert!(strings.contains(text), "{text} not in {strings}");
        }
        let sheets = parts(&bytes, "xl/worksheets/");
        // Totals: recharged, consumed, refunded, net; shares; average players.
        for value in [
            "1000.5", "345.5", "120.25", "880.25", "86.83", "13.17", "2.4",
        ] {
            assert!(
                sheets.contains(&format!("<v>{value}</v>")),
                "{value} not in the sheets"
            );
        }
        let styles = parts(&bytes, "xl/styles.xml");
        assert!(styles.contains("#,##0.00"), "{styles}");
    }
}
