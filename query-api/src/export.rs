//! Streaming exports: one description of the columns gives both a CSV and an XLSX file of
//! rows that arrive as a stream (a database row stream from the store), in constant memory
//! whatever the number of rows.
//!
//! - CSV is written as the rows arrive: records go into one small buffer that leaves as a body
//!   chunk each time it holds [`CSV_CHUNK_BYTES`]. The status line (200) is sent before the
//!   rows are read, so an error mid-way can only end the body early (it is logged; the client
//!   sees a cut-off response, never a complete-looking file).
//! - XLSX is a zip whose directory comes last, so nothing can be sent before it is finished:
//!   rows go through a bounded channel to a blocking task that writes a constant-memory
//!   worksheet and saves the workbook into an unnamed temporary file, which is then streamed
//!   back in chunks. An error on the way is still a proper error answer.
//!
//! The caller names the columns ([`Column`]) and turns each row into cells ([`Cell`]);
//! amounts stay [`Money`] until they are written.
//!
//! The writers take any stream of rows. Large exports read theirs with [`keyset_batches`]:
//! one short query per batch on the list's own keyset order, each on a pooled connection
//! taken and given back, so no statement or connection lives as long as the download (a slow
//! client or a long export is never cut off by the pool's `statement_timeout`).

use std::future::Future;
use std::io::Seek;
use std::pin::Pin;

use actix_web::HttpResponse;
use actix_web::body::SizedStream;
use actix_web::web::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::{Stream, StreamExt, stream};
use ledger_core::money::Money;
use rust_decimal::prelude::ToPrimitive;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::errors::ApiError;
use crate::params::Query;
use crate::store::StoreError;
use crate::views::SignedMoney;

/// Size at which the CSV buffer is sent as one body chunk: large enough for few chunks, small
/// enough that an export of any length holds about this much at a time.
pub const CSV_CHUNK_BYTES: usize = 64 * 1024;
/// Size of the chunks a finished XLSX file is read back in.
pub const FILE_CHUNK_BYTES: usize = 64 * 1024;
/// Rows in flight between the database stream and the XLSX writer: keeps the writer busy
/// without letting a fast database fill memory while it writes.
pub const XLSX_CHANNEL_ROWS: usize = 1024;
/// Data rows per worksheet: a worksheet holds 1,048,576 rows, one of them the header. Longer
/// exports continue on further worksheets, each with the header again.
pub const XLSX_SHEET_ROWS: u32 = 1_048_575;

/// Size at which the JSON Lines buffer is sent as one body chunk (as for CSV).
pub const NDJSON_CHUNK_BYTES: usize = 64 * 1024;

pub const NDJSON_TYPE: &str = "application/x-ndjson";
pub const CSV_TYPE: &str = "text/csv; charset=utf-8";
pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// What a column holds; decides its XLSX cell type and format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// An amount: a numeric cell with two decimals in XLSX, `12.30` in CSV.
    Money,
    Integer,
    /// A time: a date cell in XLSX (UTC, to the second), RFC 3339 UTC in CSV.
    Time,
}

/// One column of an export.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The header cell.
    pub name: &'static str,
    pub kind: Kind,
}

/// One cell of a row; `Empty` fits any column (an absent value).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Text(String),
    Money(Money),
    /// A signed amount (a ledger movement): fits a [`Kind::Money`] column, `-12.30` in CSV.
    SignedMoney(SignedMoney),
    Integer(i64),
    Time(DateTime<Utc>),
}

impl Cell {
    pub fn text_opt(value: Option<String>) -> Cell {
        value.map_or(Cell::Empty, Cell::Text)
    }

    pub fn money_opt(value: Option<Money>) -> Cell {
        value.map_or(Cell::Empty, Cell::Money)
    }

    fn fits(&self, kind: Kind) -> bool {
        matches!(
            (self, kind),
            (Cell::Empty, _)
                | (Cell::Text(_), Kind::Text)
                | (Cell::Money(_) | Cell::SignedMoney(_), Kind::Money)
                | (Cell::Integer(_), Kind::Integer)
                | (Cell::Time(_), Kind::Time)
        )
    }
}

/// What to export and how: the caller's columns and its row-to-cells function.
pub struct Export<T> {
    /// The download's file name without extension (ASCII, no quotes).
    pub file_stem: String,
    pub columns: &'static [Column],
    /// One row as cells, one per column, in column order.
    pub cells: fn(T) -> Vec<Cell>,
}

impl<T> Export<T> {
    fn row(&self, row: T) -> Vec<Cell> {
        let cells = (self.cells)(row);
        assert_eq!(cells.len(), self.columns.len(), "one cell per column");
        for (cell, column) in cells.iter().zip(self.columns) {
            assert!(cell.fits(column.kind), "{cell:?} in column {}", column.name);
        }
        cells
    }

    fn disposition(&self, extension: &str) -> (&'static str, String) {
        attachment(&self.file_stem, extension)
    }
}

/// The `Content-Disposition` of a download named `{file_stem}.{extension}`.
fn attachment(file_stem: &str, extension: &str) -> (&'static str, String) {
    assert!(
        file_stem
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'),
        "export file names are plain ASCII: {file_stem}"
    );
    (
        "Content-Disposition",
        format!("attachment; filename=\"{file_stem}.{extension}\""),
    )
}

/// The file format of a download, from its `format` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Xlsx,
}

impl FileFormat {
    /// The values `format` takes.
    pub const NAMES: &'static [&'static str] = &["csv", "xlsx"];

    /// The `format` parameter: CSV when absent; anything else is recorded as invalid.
    pub fn param(q: &mut Query) -> FileFormat {
        match q.one_of("format", FileFormat::NAMES).as_deref() {
            Some("xlsx") => FileFormat::Xlsx,
            _ => FileFormat::Csv,
        }
    }
}

/// The download of `rows` in `format`.
pub async fn respond<T: 'static>(
    format: FileFormat,
    export: Export<T>,
    rows: impl Stream<Item = Result<T, StoreError>> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    match format {
        FileFormat::Csv => Ok(csv(export, rows)),
        FileFormat::Xlsx => Ok(xlsx(export, rows).await?),
    }
}

/// One batch of a keyset-batched read: the rows, and the key after the last of them when
/// more may follow (`None`: this was the last batch).
pub struct Batch<T, K> {
    pub rows: Vec<T>,
    pub next: Option<K>,
}

/// The rows of `fetch` called batch after batch: first with `None` (from the start), then
/// with each batch's `next` key, until a batch says it was the last or fails (the failure is
/// the stream's last item). At most one batch is held at a time.
pub fn keyset_batches<T, K, F, Fut>(
    mut fetch: F,
) -> impl Stream<Item = Result<T, StoreError>> + Send + 'static
where
    T: Send + 'static,
    K: Send + 'static,
    F: FnMut(Option<K>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Batch<T, K>, StoreError>> + Send + 'static,
{
    // `Some(after)` while batches remain; `after` is `None` before the first one.
    let state: Option<Option<K>> = Some(None);
    stream::unfold(state, move |state| {
        let batch = state.map(&mut fetch);
        async move {
            let batch = batch?.await;
            Some(match batch {
                Ok(Batch { rows, next }) => {
                    let rows = stream::iter(rows.into_iter().map(Ok)).left_stream();
                    (rows, next.map(Some))
                }
                Err(e) => (stream::iter([Err(e)]).right_stream(), None),
            })
        }
    })
    .flatten()
}

/// Why an XLSX export could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading the rows")]
    Rows(#[from] StoreError),
    #[error("writing the xlsx file")]
    Xlsx(#[from] XlsxError),
    #[error("temporary file")]
    Io(#[from] std::io::Error),
    #[error("xlsx writer task failed")]
    Task(#[from] tokio::task::JoinError),
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> ApiError {
        match e {
            ExportError::Rows(e) => ApiError::Store(e),
            other => ApiError::Store(StoreError::Corrupt(format!("xlsx export: {other:?}"))),
        }
    }
}

type Rows<T> = Pin<Box<dyn Stream<Item = Result<T, StoreError>> + Send>>;

/// A CSV download of `rows`: the header, then one record per row, sent in chunks of about
/// [`CSV_CHUNK_BYTES`] as the rows arrive.
pub fn csv<T: 'static>(
    export: Export<T>,
    rows: impl Stream<Item = Result<T, StoreError>> + Send + 'static,
) -> HttpResponse {
    let disposition = export.disposition("csv");
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(CSV_CHUNK_BYTES));
    writer
        .write_record(export.columns.iter().map(|c| c.name))
        .expect("a header fits in memory");
    let state = CsvState {
        rows: Box::pin(rows) as Rows<T>,
        export,
        writer: Some(writer),
        done: false,
    };
    let body = stream::unfold(state, move |mut state| async move {
        if state.done {
            return None;
        }
        let chunk = state.next_chunk().await;
        if let Err(e) = &chunk {
            state.done = true;
            tracing::error!(error = %e, file = %state.export.file_stem, "csv export ended early");
        }
        match chunk {
            Ok(chunk) if chunk.is_empty() => None,
            chunk => Some((chunk, state)),
        }
    });
    HttpResponse::Ok()
        .content_type(CSV_TYPE)
        .insert_header(disposition)
        .streaming(body)
}

/// A JSON Lines download `{file_stem}.jsonl` of `lines`: one JSON value per line, sent in
/// chunks of about [`NDJSON_CHUNK_BYTES`] as the lines arrive. As with [`csv`], an error
/// mid-way is logged and ends the body early.
pub fn ndjson<T: serde::Serialize + 'static>(
    file_stem: &str,
    lines: impl Stream<Item = Result<T, StoreError>> + Send + 'static,
) -> HttpResponse {
    let disposition = attachment(file_stem, "jsonl");
    let file_stem = file_stem.to_owned();
    let state = (Box::pin(lines) as Rows<T>, false);
    let body = stream::unfold(state, move |(mut lines, done)| {
        let file_stem = file_stem.clone();
        async move {
            if done {
                return None;
            }
            let mut buffer = Vec::with_capacity(NDJSON_CHUNK_BYTES);
            let mut done = false;
            while buffer.len() < NDJSON_CHUNK_BYTES {
                match lines.next().await {
                    Some(Ok(line)) => {
                        serde_json::to_writer(&mut buffer, &line)
                            .expect("export lines serialize to JSON");
                        buffer.push(b'\n');
                    }
                    Some(Err(e)) => {
                        tracing::error!(error = %e, file = %file_stem, "jsonl export ended early");
                        return Some((Err(std::io::Error::other(e)), (lines, true)));
                    }
                    None => {
                        done = true;
                        break;
                    }
                }
            }
            if buffer.is_empty() {
                return None;
            }
            Some((Ok(Bytes::from(buffer)), (lines, done)))
        }
    });
    HttpResponse::Ok()
        .content_type(NDJSON_TYPE)
        .insert_header(disposition)
        .streaming(body)
}

struct CsvState<T> {
    rows: Rows<T>,
    export: Export<T>,
    /// Always `Some` between chunks.
    writer: Option<csv::Writer<Vec<u8>>>,
    /// The rows ended (or failed): nothing more to send.
    done: bool,
}

impl<T> CsvState<T> {
    fn writer(&mut self) -> &mut csv::Writer<Vec<u8>> {
        self.writer
            .as_mut()
            .expect("the writer is put back after each chunk")
    }

    /// Writes rows until the buffer holds a chunk or the rows end; returns the buffer's
    /// content (empty when there is nothing more).
    async fn next_chunk(&mut self) -> Result<Bytes, std::io::Error> {
        while self.writer().get_ref().len() < CSV_CHUNK_BYTES {
            match self.rows.next().await {
                Some(Ok(row)) => {
                    let cells = self.export.row(row);
                    let writer = self.writer();
                    for cell in &cells {
                        write_csv_field(writer, cell).map_err(csv_io)?;
                    }
                    writer.write_record(None::<&[u8]>).map_err(csv_io)?;
                    // The csv writer keeps a small buffer of its own: move it into ours.
                    writer.flush()?;
                }
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => {
                    self.done = true;
                    break;
                }
            }
        }
        // The csv writer lends out no mutable buffer: take it back, copy the chunk out, and
        // hand the cleared buffer (its capacity kept) to a new writer.
        let writer = self.writer.take().expect("the writer is put back");
        let mut buffer = writer.into_inner().map_err(|e| e.into_error())?;
        let chunk = Bytes::copy_from_slice(&buffer);
        buffer.clear();
        self.writer = Some(csv::Writer::from_writer(buffer));
        Ok(chunk)
    }
}

fn write_csv_field(writer: &mut csv::Writer<Vec<u8>>, cell: &Cell) -> csv::Result<()> {
    match cell {
        Cell::Empty => writer.write_field(""),
        Cell::Text(text) => writer.write_field(text),
        Cell::Money(money) => writer.write_field(money.to_string()),
        Cell::SignedMoney(amount) => writer.write_field(signed_text(amount)),
        Cell::Integer(n) => writer.write_field(n.to_string()),
        Cell::Time(t) => writer.write_field(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

/// A signed amount as the JSON lists print it (`-50.00`, `50.00`, never `-0.00`).
fn signed_text(amount: &SignedMoney) -> String {
    let sign = if amount.negative && !amount.magnitude.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}{}", amount.magnitude)
}

fn csv_io(e: csv::Error) -> std::io::Error {
    std::io::Error::other(e)
}

/// What the XLSX writer task receives.
enum Message {
    Row(Vec<Cell>),
    /// Every row was sent: save the workbook. A channel closed without it means the rows
    /// failed, and nothing is saved.
    End,
}

/// An XLSX download of `rows`: a worksheet with a bold header row and one row per row,
/// written in constant memory, then sent from a temporary file.
pub async fn xlsx<T>(
    export: Export<T>,
    rows: impl Stream<Item = Result<T, StoreError>> + Send,
) -> Result<HttpResponse, ExportError> {
    let (sender, receiver) = mpsc::channel(XLSX_CHANNEL_ROWS);
    let columns = export.columns;
    let writer =
        tokio::task::spawn_blocking(move || write_xlsx(columns, receiver, XLSX_SHEET_ROWS));
    let mut rows = std::pin::pin!(rows);
    let mut failed = None;
    while let Some(row) = rows.next().await {
        match row {
            // A closed channel: the writer failed, its error is awaited below.
            Ok(row) => {
                if sender.send(Message::Row(export.row(row))).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if let Some(e) = failed {
        drop(sender);
        // The writer stops without saving; its own error, if any, is secondary.
        let _ = writer.await;
        return Err(ExportError::Rows(e));
    }
    // Err: the writer already failed.
    let _ = sender.send(Message::End).await;
    let file = writer.await??;
    let len = file.metadata()?.len();
    let file = tokio::fs::File::from_std(file);
    let file_stem = export.file_stem.clone();
    let body = stream::unfold(Some((file, vec![0; FILE_CHUNK_BYTES])), move |state| {
        let file_stem = file_stem.clone();
        async move {
            let (mut file, mut buffer) = state?;
            match file.read(&mut buffer).await {
                Ok(0) => None,
                Ok(n) => Some((
                    Ok(Bytes::copy_from_slice(&buffer[..n])),
                    Some((file, buffer)),
                )),
                Err(e) => {
                    tracing::error!(error = %e, file = %file_stem, "xlsx export ended early");
                    Some((Err(e), None))
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type(XLSX_TYPE)
        .insert_header(export.disposition("xlsx"))
        .body(SizedStream::new(len, Box::pin(body))))
}

/// Cell formats of the XLSX exports.
struct Formats {
    header: Format,
    money: Format,
    time: Format,
}

/// The blocking half of [`xlsx`]: writes the rows as they come and saves the workbook into
/// an unnamed temporary file (gone once closed), rewound for reading.
fn write_xlsx(
    columns: &'static [Column],
    mut receiver: mpsc::Receiver<Message>,
    sheet_rows: u32,
) -> Result<std::fs::File, ExportError> {
    let formats = Formats {
        header: Format::new().set_bold(),
        money: Format::new().set_num_format("0.00"),
        time: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
    };
    let mut workbook = Workbook::new();
    let mut sheet = add_sheet(&mut workbook, columns, &formats)?;
    let mut row: u32 = 0;
    loop {
        match receiver.blocking_recv() {
            Some(Message::Row(cells)) => {
                if row == sheet_rows {
                    sheet = add_sheet(&mut workbook, columns, &formats)?;
                    row = 0;
                }
                row += 1;
                for (col, cell) in (0u16..).zip(&cells) {
                    write_xlsx_cell(sheet, row, col, cell, &formats)?;
                }
            }
            Some(Message::End) => break,
            None => return Err(std::io::Error::other("rows failed, workbook not saved").into()),
        }
    }
    let mut file = tempfile::tempfile()?;
    workbook.save_to_writer(&mut file)?;
    file.rewind()?;
    Ok(file)
}

/// A new constant-memory worksheet with the header row; the previous one is complete (a
/// constant-memory worksheet is written row by row and never revisited).
fn add_sheet<'a>(
    workbook: &'a mut Workbook,
    columns: &'static [Column],
    formats: &Formats,
) -> Result<&'a mut Worksheet, XlsxError> {
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    for (col, column) in (0u16..).zip(columns) {
        sheet.write_string_with_format(0, col, column.name, &formats.header)?;
        if column.kind == Kind::Time {
            sheet.set_column_width(col, 20)?;
        }
    }
    Ok(sheet)
}

fn write_xlsx_cell(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    cell: &Cell,
    formats: &Formats,
) -> Result<(), XlsxError> {
    match cell {
        Cell::Empty => {}
        Cell::Text(text) => {
            sheet.write_string(row, col, text)?;
        }
        // Spreadsheet numbers are doubles: an amount of at most 15 significant digits comes
        // back exactly with the two-decimal format (no arithmetic is done on it here).
        Cell::Money(money) => {
            let value = money
                .as_decimal()
                .to_f64()
                .expect("every decimal has a nearest double");
            sheet.write_number_with_format(row, col, value, &formats.money)?;
        }
        Cell::SignedMoney(amount) => {
            let magnitude = amount
                .magnitude
                .as_decimal()
                .to_f64()
                .expect("every decimal has a nearest double");
            let value = if amount.negative && !amount.magnitude.is_zero() {
                -magnitude
            } else {
                magnitude
            };
            sheet.write_number_with_format(row, col, value, &formats.money)?;
        }
        Cell::Integer(n) => {
            sheet.write_number(row, col, *n as f64)?;
        }
        Cell::Time(t) => {
            let time = ExcelDateTime::from_timestamp(t.timestamp())?;
            sheet.write_datetime_with_format(row, col, &time, &formats.time)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &[Column] = &[
        Column {
            name: "n",
            kind: Kind::Integer,
        },
        Column {
            name: "amount",
            kind: Kind::Money,
        },
        Column {
            name: "note",
            kind: Kind::Text,
        },
        Column {
            name: "at",
            kind: Kind::Time,
        },
    ];

    fn export() -> Export<i64> {
        Export {
            file_stem: "numbers".into(),
            columns: COLUMNS,
            cells: |n| {
                vec![
                    Cell::Integer(n),
                    Cell::Money(Money::from_fen(n).unwrap()),
                    Cell::text_opt((n % 2 == 0).then(|| format!("even, {n}"))),
                    Cell::Time(DateTime::from_timestamp(1_763_728_200 + n, 0).unwrap()),
                ]
            },
        }
    }

    #[tokio::test]
    async fn csv_is_sent_in_chunks_and_reads_back_whole() {
        let rows = stream::iter((0..20_000).map(Ok));
        let response = csv(export(), rows);
        assert_eq!(
            response.headers().get("content-disposition").unwrap(),
            "attachment; filename=\"numbers.csv\""
        );
        assert_eq!(response.headers().get("content-type").unwrap(), CSV_TYPE);
        let mut body = response.into_body();
        let mut chunks = Vec::new();
        while let Some(chunk) = std::future::poll_fn(|cx| {
            actix_web::body::MessageBody::poll_next(Pin::new(&mut body), cx)
        })
        .await
        {
            chunks.push(chunk.unwrap());
        }
        assert!(chunks.len() > 2, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|c| c.len() < 2 * CSV_CHUNK_BYTES));
        let all: Vec<u8> = chunks.concat();
        let mut reader = csv::Reader::from_reader(all.as_slice());
        assert_eq!(reader.headers().unwrap(), vec!["n", "amount", "note", "at"]);
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 20_000);
        assert_eq!(
            records[2],
            vec!["2", "0.02", "even, 2", "2025-11-21T12:30:02Z"]
        );
        assert_eq!(&records[3][2], "");
    }

    #[tokio::test]
    async fn a_failing_row_ends_the_csv_body_with_an_error() {
        let rows = stream::iter((0..5_000).map(|n| {
            if n == 4_000 {
                Err(StoreError::Corrupt("bad row".into()))
            } else {
                Ok(n)
            }
        }));
        let body = csv(export(), rows).into_body();
        assert!(actix_web::body::to_bytes(body).await.is_err());
    }

    #[tokio::test]
    async fn keyset_batches_ask_for_each_batch_after_the_last_key_until_a_short_one() {
        let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = asked.clone();
        // Rows 0..10 in batches of 4: [0..4), [4..8), [8..10).
        let rows = keyset_batches(move |after: Option<i64>| {
            log.lock().unwrap().push(after);
            let start = after.map_or(0, |last| last + 1);
            let rows: Vec<i64> = (start..(start + 4).min(10)).collect();
            let next = (rows.len() == 4 && start + 4 < 10).then(|| start + 3);
            async move { Ok(Batch { rows, next }) }
        });
        let rows: Vec<i64> = rows.map(Result::unwrap).collect().await;
        assert_eq!(rows, (0..10).collect::<Vec<_>>());
        assert_eq!(*asked.lock().unwrap(), [None, Some(3), Some(7)]);
    }

    #[tokio::test]
    async fn a_failing_batch_is_the_last_item_of_the_rows() {
        let rows = keyset_batches(|after: Option<i64>| async move {
            match after {
                None => Ok(Batch {
                    rows: vec![1, 2],
                    next: Some(2),
                }),
                Some(_) => Err(StoreError::Corrupt("second batch".into())),
            }
        });
        let items: Vec<Result<i64, StoreError>> = rows.collect().await;
        assert_eq!(items.len(), 3);
        assert!(matches!(items[..2], [Ok(1), Ok(2)]));
        assert!(matches!(items[2], Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn signed_amounts_read_like_the_json_lists() {
        let amount = |negative, fen| SignedMoney {
            negative,
            magnitude: Money::from_fen(fen).unwrap(),
        };
        assert_eq!(signed_text(&amount(true, 5_000)), "-50.00");
        assert_eq!(signed_text(&amount(false, 1_230)), "12.30");
        assert_eq!(signed_text(&amount(true, 0)), "0.00");
        assert!(Cell::SignedMoney(amount(true, 1)).fits(Kind::Money));
        assert!(!Cell::SignedMoney(amount(true, 1)).fits(Kind::Text));
    }

    #[test]
    fn csv_and_xlsx_are_chosen_by_the_format_parameter() {
        let mut q = Query::parse("format=xlsx", &["format"]);
        assert_eq!(FileFormat::param(&mut q), FileFormat::Xlsx);
        let mut q = Query::parse("", &["format"]);
        assert_eq!(FileFormat::param(&mut q), FileFormat::Csv);
        let mut q = Query::parse("format=pdf", &["format"]);
        FileFormat::param(&mut q);
        assert!(matches!(
            q.finish(()),
            Err(ApiError::InvalidParams { fields }) if fields == ["format"]
        ));
    }

    #[tokio::test]
    async fn xlsx_is_a_zip_of_the_announced_length() {
        let rows = stream::iter((0..3_000).map(Ok));
        let response = xlsx(export(), rows).await.unwrap();
        assert_eq!(response.headers().get("content-type").unwrap(), XLSX_TYPE);
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        assert!(body.starts_with(b"PK"));
    }

    #[test]
    fn rows_beyond_a_full_worksheet_continue_on_the_next_with_the_header_again() {
        let (sender, receiver) = mpsc::channel(XLSX_CHANNEL_ROWS);
        let rows = std::thread::spawn(move || {
            for n in 0..2_500 {
                sender.blocking_send(Message::Row(export().row(n))).unwrap();
            }
            sender.blocking_send(Message::End).unwrap();
        });
        let mut file = write_xlsx(COLUMNS, receiver, 1_000).unwrap();
        rows.join().unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut sheet = |n: usize| {
            let mut xml = String::new();
            let name = format!("xl/worksheets/sheet{n}.xml");
            std::io::Read::read_to_string(&mut archive.by_name(&name).unwrap(), &mut xml).unwrap();
            xml
        };
        for (n, data_rows, first) in [(1, 1_000, 0), (2, 1_000, 1_000), (3, 500, 2_000)] {
            let xml = sheet(n);
            assert_eq!(xml.matches("<row ").count(), data_rows + 1, "sheet {n}");
            assert!(xml.contains("<t>amount</t>"), "sheet {n} has the header");
            assert!(
                xml.contains(&format!("<c r=\"A2\"><v>{first}</v></c>")),
                "sheet {n} starts at row {first}"
            );
        }
    }

    #[tokio::test]
    async fn a_failing_row_fails_the_xlsx_before_anything_is_sent() {
        let rows = stream::iter((0..3_000).map(|n| {
            if n == 2_000 {
                Err(StoreError::Corrupt("bad row".into()))
            } else {
                Ok(n)
            }
        }));
        let result = xlsx(export(), rows).await;
        assert!(matches!(result, Err(ExportError::Rows(_))), "{result:?}");
    }
}
