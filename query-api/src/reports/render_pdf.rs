//! The report as an A4 PDF: title, period and zone, revenue per day with totals, top
//! customers, usage by app and by site. Labels are zh-CN first, then English, as on invoices.

use crate::pdf::{Align, Column, Flow};

use super::model::{ReportDocument, UsageLine, amount, count};

const TITLE_SIZE: i64 = 18;
const HEADING_SIZE: i64 = 12;
const TEXT_SIZE: i64 = 9;

pub fn render_pdf(doc: &ReportDocument) -> Vec<u8> {
    let mut flow = Flow::new();
    let title = doc.period.kind.title();
    flow.text(TITLE_SIZE, title);
    flow.rule();
    flow.text(
        TEXT_SIZE,
        &format!("报告期间 Period: {}", doc.period.label()),
    );
    flow.text(TEXT_SIZE, &format!("时区 Time zone: {}", doc.time_zone));
    flow.text(
        TEXT_SIZE,
        &format!(
            "生成时间 Generated at: {} UTC",
            doc.generated_at.format("%Y-%m-%d %H:%M:%S")
        ),
    );
    flow.space(8);

    let totals = doc.totals();
    heading(&mut flow, "汇总 Totals");
    flow.table(
        TEXT_SIZE,
        &[
            Column::new("充值 Recharged", 125, Align::Right),
            Column::new("消费 Consumed", 125, Align::Right),
            Column::new("退款 Refunded", 125, Align::Right),
            Column::new("净收入 Net", 124, Align::Right),
        ],
        &[vec![
            amount(totals.recharged),
            amount(totals.consumed),
            amount(totals.refunded),
            amount(totals.net),
        ]],
    );
    flow.space(8);

    heading(&mut flow, "每日收入 Revenue per day");
    let mut rows: Vec<Vec<String>> = doc
        .days
        .iter()
        .map(|d| {
            vec![
                d.day.to_string(),
                amount(d.recharged),
                amount(d.consumed),
                amount(d.refunded),
                amount(d.net()),
            ]
        })
        .collect();
    rows.push(vec![
        "合计 Total".to_owned(),
        amount(totals.recharged),
        amount(totals.consumed),
        amount(totals.refunded),
        amount(totals.net),
    ]);
    flow.table(
        TEXT_SIZE,
        &[
            Column::new("日期 Day", 99, Align::Left),
            Column::new("充值 Recharged", 100, Align::Right),
            Column::new("消费 Consumed", 100, Align::Right),
            Column::new("退款 Refunded", 100, Align::Right),
            Column::new("净收入 Net", 100, Align::Right),
        ],
        &rows,
    );
    flow.space(8);

    heading(&mut flow, "消费客户排行 Top customers by spend");
    let rows: Vec<Vec<String>> = doc
        .top_customers
        .iter()
        .enumerate()
        .map(|(index, c)| {
            vec![
                (index + 1).to_string(),
                c.name.clone(),
                c.username.clone(),
                c.category.clone(),
                if c.is_vip() { "VIP" } else { "" }.to_owned(),
                amount(c.spend),
                format!("{}%", doc.share_percent(c.spend)),
            ]
        })
        .collect();
    flow.table(
        TEXT_SIZE,
        &[
            Column::new("#", 22, Align::Right),
            Column::new("名称 Name", 130, Align::Left),
            Column::new("账号 Username", 100, Align::Left),
            Column::new("类别 Category", 65, Align::Left),
            Column::new("VIP", 30, Align::Left),
            Column::new("消费 Spend", 85, Align::Right),
            Column::new("占比 Share", 67, Align::Right),
        ],
        &rows,
    );
    flow.space(8);

    heading(&mut flow, "应用使用 Usage by app");
    usage_table(&mut flow, "应用 App", &doc.apps);
    flow.space(8);
    heading(&mut flow, "场地使用 Usage by site");
    usage_table(&mut flow, "场地 Site", &doc.sites);

    flow.into_pdf(&format!("{title} {}", doc.period.label()))
}

fn heading(flow: &mut Flow, text: &str) {
    flow.text(HEADING_SIZE, text);
}

fn usage_table(flow: &mut Flow, name_header: &str, lines: &[UsageLine]) {
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|line| {
            vec![
                line.name.clone(),
                count(line.sessions),
                count(line.player_times),
                line.average_players().to_string(),
                amount(line.spend),
            ]
        })
        .collect();
    flow.table(
        TEXT_SIZE,
        &[
            Column::new(name_header, 159, Align::Left),
            Column::new("局数 Sessions", 75, Align::Right),
            Column::new("人次 Player-times", 85, Align::Right),
            Column::new("平均人数 Avg players", 100, Align::Right),
            Column::new("消费 Spend", 80, Align::Right),
        ],
        &rows,
    );
}

#[cfg(test)]
mod tests {
    use lopdf::Document;

    use super::*;
    use crate::reports::model::sample::november;

    fn text_of(bytes: &[u8]) -> String {
        let pdf = Document::load_mem(bytes).unwrap();
        let pages: Vec<u32> = pdf.get_pages().keys().copied().collect();
        pdf.extract_text(&pages).unwrap()
    }

    #[test]
    fn the_extracted_text_carries_the_period_totals_and_every_section() {
        let text = text_of(&render_pdf(&november()));
        for expected in [
            "财务月报 Monthly finance report",
            "2026-11-01 – 2026-11-30",
            "Asia/Shanghai",
            "2026-12-01 00:05:00",
            // Totals: recharged, consumed, refunded, net.
            "1,000.50",
            "345.50",
            "120.25",
            "880.25",
            "2026-11-30",
            "星空VR体验馆",
            "starry",
            "VIP",
            "86.83%",
            "13.17%",
            "太空探险 Space",
            "2.40",
            "星空VR体验馆 · 朝阳店",
            "应用使用 Usage by app",
            "场地使用 Usage by site",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text:?}");
        }
    }

    #[test]
    fn a_year_of_days_runs_over_several_pages_and_keeps_every_day() {
        use crate::reports::model::DayRevenue;
        use crate::reports::period::{Period, ReportKind};
        let mut doc = november();
        doc.period = Period::starting(ReportKind::Yearly, "2028-01-01".parse().unwrap()).unwrap();
        doc.days = doc.period.days().map(DayRevenue::empty).collect();
        let bytes = render_pdf(&doc);
        let pdf = Document::load_mem(&bytes).unwrap();
        assert!(pdf.get_pages().len() > 5);
        let text = text_of(&bytes);
        assert!(text.matches("2028-").count() >= 366, "{text:?}");
        assert!(text.contains("2028-02-29") && text.contains("2028-12-31"));
    }
}
