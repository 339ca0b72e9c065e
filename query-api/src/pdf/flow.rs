//! Documents longer than a page: headings, lines of text and simple tables laid out top to
//! bottom, starting a new A4 page whenever the next line would cross the bottom margin. A
//! table repeats its header row on every page it runs over to, and every page gets a footer
//! with its number once the page count is known.

use super::{A4_HEIGHT, A4_WIDTH, Page, pages_into_pdf, text_width};

const MARGIN: i64 = 48;
/// Space kept below the last line of a page for the footer.
const FOOTER_SPACE: i64 = 28;
const FOOTER_SIZE: i64 = 8;
/// Baseline to baseline, as a share of the font size (in percent): 1.4 lines.
const LEADING_PERCENT: i64 = 140;
/// Space between a column's text and its edges.
const CELL_PADDING: i64 = 4;

/// Where a column's text sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    /// Figures: right-aligned so their decimal points line up.
    Right,
}

/// One column of a table: its header and its width in points.
#[derive(Debug, Clone)]
pub struct Column {
    pub header: String,
    pub width: i64,
    pub align: Align,
}

impl Column {
    pub fn new(header: &str, width: i64, align: Align) -> Column {
        Column {
            header: header.to_owned(),
            width,
            align,
        }
    }
}

/// The pages written so far and where the next line goes.
pub struct Flow {
    done: Vec<Page>,
    page: Page,
    /// Baseline of the next line on `page`.
    y: i64,
}

impl Default for Flow {
    fn default() -> Self {
        Flow::new()
    }
}

impl Flow {
    pub fn new() -> Flow {
        Flow {
            done: Vec::new(),
            page: Page::new(),
            y: A4_HEIGHT - MARGIN,
        }
    }

    /// The width between the margins, for tables to fill.
    pub const fn width() -> i64 {
        A4_WIDTH - 2 * MARGIN
    }

    fn leading(size: i64) -> i64 {
        size * LEADING_PERCENT / 100
    }

    /// Moves to a fresh page unless `height` more points fit on this one.
    fn ensure(&mut self, height: i64) -> bool {
        if self.y - height >= MARGIN + FOOTER_SPACE {
            return false;
        }
        let full = std::mem::take(&mut self.page);
        self.done.push(full);
        self.y = A4_HEIGHT - MARGIN;
        true
    }

    /// One line of text at `size` points (cut at the right margin; callers keep lines short).
    pub fn text(&mut self, size: i64, text: &str) {
        let leading = Flow::leading(size);
        self.ensure(leading);
        self.y -= size;
        self.page.text(MARGIN, self.y, size, text);
        self.y -= leading - size;
    }

    /// Empty space of `points`, never carried over to the next page.
    pub fn space(&mut self, points: i64) {
        if !self.ensure(points) {
            self.y -= points;
        }
    }

    /// A rule across the page between the margins.
    pub fn rule(&mut self) {
        self.ensure(4);
        self.y -= 2;
        self.page
            .line((MARGIN, self.y), (A4_WIDTH - MARGIN, self.y));
        self.y -= 2;
    }

    /// A table: a header row, then `rows` (one cell per column), with the header again at
    /// the top of every further page. A cell wider than its column is cut, with `…`.
    pub fn table(&mut self, size: i64, columns: &[Column], rows: &[Vec<String>]) {
        let leading = Flow::leading(size);
        // The header never stands alone at the bottom of a page.
        self.ensure(3 * leading);
        self.header_row(size, columns);
        for row in rows {
            assert_eq!(row.len(), columns.len(), "one cell per column");
            if self.ensure(leading) {
                self.header_row(size, columns);
            }
            self.row(size, columns, row);
        }
    }

    fn header_row(&mut self, size: i64, columns: &[Column]) {
        let headers: Vec<String> = columns.iter().map(|c| c.header.clone()).collect();
        self.row(size, columns, &headers);
        let right = MARGIN + columns.iter().map(|c| c.width).sum::<i64>();
        self.page.line((MARGIN, self.y + 2), (right, self.y + 2));
        self.y -= 2;
    }

    fn row(&mut self, size: i64, columns: &[Column], cells: &[String]) {
        let leading = Flow::leading(size);
        self.y -= size;
        let mut x = MARGIN;
        for (column, cell) in columns.iter().zip(cells) {
            let room = column.width - 2 * CELL_PADDING;
            let text = fit(cell, room, size);
            let at = match column.align {
                Align::Left => x + CELL_PADDING,
                Align::Right => x + column.width - CELL_PADDING - text_width(&text, size),
            };
            self.page.text(at, self.y, size, &text);
            x += column.width;
        }
        self.y -= leading - size;
    }

    /// The finished document: every page gets the footer `第 n 页 / 共 N 页 Page n of N`.
    pub fn into_pdf(mut self, title: &str) -> Vec<u8> {
        self.done.push(self.page);
        let count = self.done.len();
        for (index, page) in self.done.iter_mut().enumerate() {
            let number = index + 1;
            page.text(
                MARGIN,
                MARGIN,
                FOOTER_SIZE,
                &format!("{title}  ·  第 {number} 页 / 共 {count} 页 Page {number} of {count}"),
            );
        }
        pages_into_pdf(self.done, title)
    }
}

/// `text` cut to `width` points at `size`, ending in `…` when cut.
fn fit(text: &str, width: i64, size: i64) -> String {
    if text_width(text, size) <= width {
        return text.to_owned();
    }
    let mut cut = String::new();
    for c in text.chars() {
        cut.push(c);
        if text_width(&cut, size) + text_width("…", size) > width {
            cut.pop();
            break;
        }
    }
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::Document;

    fn columns() -> Vec<Column> {
        vec![
            Column::new("日期 Day", 200, Align::Left),
            Column::new("金额 Amount", 150, Align::Right),
        ]
    }

    #[test]
    fn a_long_table_runs_over_pages_with_its_header_on_each() {
        let mut flow = Flow::new();
        flow.text(18, "报表 Report");
        let rows: Vec<Vec<String>> = (1..=200)
            .map(|n| vec![format!("row-{n:03}"), format!("{n}.00")])
            .collect();
        flow.table(10, &columns(), &rows);
        let pdf = Document::load_mem(&flow.into_pdf("Test")).unwrap();
        let pages = pdf.get_pages();
        assert!(pages.len() >= 4, "{} pages", pages.len());
        let mut seen = 0;
        for number in pages.keys() {
            let text = pdf.extract_text(&[*number]).unwrap();
            assert!(text.contains("金额 Amount"), "page {number}: {text:?}");
            assert!(
                text.contains(&format!("Page {number} of {}", pages.len())),
                "{text:?}"
            );
            seen += text.matches("row-").count();
        }
        // Every row is printed once, none lost at a page break.
        assert_eq!(seen, 200);
        let all = pdf
            .extract_text(&pages.keys().copied().collect::<Vec<_>>())
            .unwrap();
        assert!(all.contains("row-001") && all.contains("row-200"));
    }

    #[test]
    fn a_cell_too_wide_for_its_column_is_cut_with_an_ellipsis() {
        assert_eq!(fit("short", 100, 10), "short");
        let cut = fit(&"中".repeat(30), 100, 10);
        assert!(cut.ends_with('…'), "{cut}");
        assert!(text_width(&cut, 10) <= 100);
        assert_eq!(cut.chars().count(), 10);
    }
}
