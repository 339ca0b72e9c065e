//! Usage and transaction exports through the real query API: 100,000 usage records of one
//! operator downloaded as CSV and XLSX, parsed back and compared row by row with what the list
//! endpoint pages through, while query-api's resident memory is sampled and must stay flat.
//!
//! The operator, its login and its site are made through the command API as usual; the
//! 100,000 usage rows (and the transactions) are written straight into the read tables with
//! one `INSERT … SELECT generate_series` each. Projecting that many authorizations would take
//! minutes and prove nothing more here: the exports only read the read tables.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tests::cluster::{Answer, Cluster};
use uuid::Uuid;

const USAGE_ROWS: i64 = 100_000;
const TRANSACTION_ROWS: i64 = 3_000;
/// The list endpoints' largest page.
const PAGE_LIMIT_MAX: usize = 100;
/// Most that query-api's resident memory may grow while an export of `USAGE_ROWS` runs: a
/// batch of rows and the buffers (about 6 MiB measured in a debug build), well under half the
/// CSV (about 26 MB), so a server holding the file would fail.
const RSS_GROWTH_MAX_KIB: u64 = 10 * 1024;
const PASSWORD: &str = "Export-test-password1";

const USAGE_HEADER: [&str; 13] = [
    "authorized_at",
    "site_id",
    "site_name",
    "app_id",
    "app_name",
    "player_count",
    "unit_price",
    "total_cost",
    "balance_after",
    "session_id",
    "authorization_token",
    "duration_seconds",
    "ended_at",
];
const TRANSACTION_HEADER: [&str; 7] = [
    "occurred_at",
    "kind",
    "amount",
    "balance_after",
    "reference",
    "description",
    "position",
];

struct Arcade {
    id: Uuid,
    token: String,
    site: Uuid,
}

async fn register(cluster: &Cluster) -> Arcade {
    let url = format!("{}/api/v1/auth/operator/register", cluster.command);
    let body = json!({"username": "export_arcade", "name": "星际体验馆", "phone": "13800138000",
                      "email": "export@example.com", "password": PASSWORD});
    let created = cluster.call("POST", &url, None, Some(body)).await.ok();
    let id: Uuid = created["operator"]["id"].as_str().unwrap().parse().unwrap();
    let token = cluster.token("operator", "export_arcade", PASSWORD).await;
    let site = cluster
        .command(
            "POST",
            "/api/v1/operator/sites",
            &token,
            json!({"name": "朝阳店, \"旗舰\"", "address": "北京市朝阳区"}),
        )
        .await
        .ok();
    let site: Uuid = site["id"].as_str().unwrap().parse().unwrap();
    // The exports 404 until the projector has the operator; the site name joins in.
    cluster
        .query_until("/api/v1/operator/sites", &token, |sites| {
            sites.as_array().is_some_and(|s| !s.is_empty())
        })
        .await;
    Arcade { id, token, site }
}

/// `USAGE_ROWS` usage records: three per second (ties broken by position), some with a
/// fraction of a second, every fourth at a site the read side does not know (no site name),
/// every tenth not ended yet.
async fn insert_usage(cluster: &Cluster, arcade: &Arcade) {
    let sql = cluster.db.client().await;
    sql.execute(
        "INSERT INTO read.usage_records (operator_id, session_id, site_id, app_id, app_name,
             player_count, unit_price, total_cost, balance_after, authorization_token,
             authorized_at, ended_at, duration_seconds, position)
         SELECT $1, 'SESSION-' || md5(n::text) || '-' || n,
                CASE WHEN n % 4 = 0 THEN '00000000-0000-7000-8000-000000000004'::uuid ELSE $2 END,
                CASE WHEN n % 2 = 0 THEN '00000000-0000-7000-8000-0000000000a1'::uuid
                     ELSE '00000000-0000-7000-8000-0000000000a2'::uuid END,
                CASE WHEN n % 2 = 0 THEN '太空探险' ELSE 'Deep, \"Sea\" Dive' END,
                n % 8 + 1,
                (n % 7 + 1) * 1.50,
                (n % 7 + 1) * 1.50 * (n % 8 + 1),
                1000000.00 - n * 0.01,
                gen_random_uuid(),
                timestamptz '2026-11-01 00:00:00+00' + (n / 3) * interval '1 second'
                    + CASE WHEN n % 5 = 0 THEN interval '0.123456 second' ELSE interval '0' END,
                CASE WHEN n % 10 = 0 THEN NULL
                     ELSE timestamptz '2026-11-01 00:10:00+00' + (n / 3) * interval '1 second' END,
                CASE WHEN n % 10 = 0 THEN NULL ELSE 600 - n % 3 END,
                n
         FROM generate_series(1, $3::bigint) AS n",
        &[&arcade.id, &arcade.site, &USAGE_ROWS],
    )
    .await
    .unwrap();
}

/// `TRANSACTION_ROWS` money movements, charges (negative) and recharges, at positions far
/// above the few events the test appends.
async fn insert_transactions(cluster: &Cluster, arcade: &Arcade) {
    let sql = cluster.db.client().await;
    sql.execute(
        "INSERT INTO read.transactions (position, operator_id, kind, amount, balance_after,
             reference, description, occurred_at)
         SELECT 1000000 + n, $1,
                CASE WHEN n % 3 = 0 THEN 'recharge' ELSE 'charge' END,
                CASE WHEN n % 3 = 0 THEN 100.00 ELSE -(n % 50 + 0.25) END,
                5000.00 + n,
                'REF-' || n,
                CASE WHEN n % 7 = 0 THEN E'line one\\nline \"two\", more' ELSE 'game ' || n END,
                timestamptz '2026-11-01 00:00:00+00' + (n / 2) * interval '1 minute'
         FROM generate_series(1, $2::bigint) AS n",
        &[&arcade.id, &TRANSACTION_ROWS],
    )
    .await
    .unwrap();
}

/// Every row of a list, paged through at the largest page size.
async fn all_rows(cluster: &Cluster, token: &str, path: &str) -> Vec<Value> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}{separator}limit={PAGE_LIMIT_MAX}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = cluster.query(&url, token).await.ok();
        rows.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return rows,
        }
    }
}

/// A list row as the CSV export writes it: null as an empty field, numbers as written.
fn record(row: &Value, header: &[&str]) -> Vec<String> {
    header
        .iter()
        .map(|name| match &row[*name] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn csv_records(answer: &Answer, header: &[&str]) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_reader(answer.bytes.as_slice());
    assert_eq!(reader.headers().unwrap(), header);
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Runs `download` while sampling `pid`'s resident memory every few milliseconds; returns
/// its answer, the memory just before, and the peak during.
async fn with_rss_samples(pid: u32, download: impl Future<Output = Answer>) -> (Answer, u64, u64) {
    let baseline = rss_kib(pid);
    let peak = Arc::new(AtomicU64::new(baseline));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (peak, done) = (peak.clone(), done.clone());
        async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    let answer = download.await;
    done.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
    (answer, baseline, peak.load(Ordering::Relaxed))
}

fn assert_flat(what: &str, baseline: u64, peak: u64, file_bytes: usize) {
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "{what}: query-api RSS {baseline} KiB before, peak {peak} KiB (+{growth} KiB), \
         file {} KiB",
        file_bytes / 1024
    );
    assert!(
        growth < RSS_GROWTH_MAX_KIB,
        "{what}: query-api grew by {growth} KiB (limit {RSS_GROWTH_MAX_KIB} KiB)"
    );
}

#[tokio::test]
async fn a_100k_usage_export_streams_in_flat_memory_and_holds_exactly_the_listed_rows() {
    let cluster = Cluster::start(&[]).await;
    let arcade = register(&cluster).await;
    insert_usage(&cluster, &arcade).await;
    let list = all_rows(&cluster, &arcade.token, "/api/v1/operator/usage-records").await;
    assert_eq!(list.len(), USAGE_ROWS as usize);
    let expected: Vec<Vec<String>> = list.iter().map(|r| record(r, &USAGE_HEADER)).collect();
    let pid = cluster.query_api_pid();

    // CSV: the list's rows, in its order, field for field; memory flat while it streams.
    let (csv, baseline, peak) = with_rss_samples(
        pid,
        cluster.query("/api/v1/operator/usage-records/export", &arcade.token),
    )
    .await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        csv.headers["content-disposition"],
        format!("attachment; filename=\"usage-records-{}.csv\"", arcade.id).as_str()
    );
    assert_flat("csv", baseline, peak, csv.bytes.len());
    assert!(
        csv.bytes.len() as u64 > 2 * RSS_GROWTH_MAX_KIB * 1024,
        "{} bytes",
        csv.bytes.len()
    );
    let records = csv_records(&csv, &USAGE_HEADER);
    assert_eq!(records.len(), expected.len());
    for (i, (got, want)) in records.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "row {i}");
    }
    // The rows the test relies on are there: a quoted app name, no site name, not ended.
    assert!(records.iter().any(|r| r[4] == "Deep, \"Sea\" Dive"));
    assert!(records.iter().any(|r| r[2].is_empty() && r[12].is_empty()));

    // XLSX: the same rows, amounts and counts as numbers, times as date cells (to the second).
    let (xlsx, baseline, peak) = with_rss_samples(
        pid,
        cluster.query(
            "/api/v1/operator/usage-records/export?format=xlsx",
            &arcade.token,
        ),
    )
    .await;
    assert_eq!(xlsx.status, 200, "{}", xlsx.body);
    assert_eq!(
        xlsx.headers["content-disposition"],
        format!("attachment; filename=\"usage-records-{}.xlsx\"", arcade.id).as_str()
    );
    assert_flat("xlsx", baseline, peak, xlsx.bytes.len());
    let sheet = sheet_rows(&xlsx.bytes);
    assert_eq!(sheet[0], USAGE_HEADER.map(str::to_owned).to_vec());
    assert_eq!(sheet.len() - 1, list.len());
    for (i, (cells, row)) in sheet[1..].iter().zip(&list).enumerate() {
        assert_xlsx_row(cells, row, &USAGE_HEADER, i);
    }

    // Filters are the list's: a time range, and one site within it (kept to an hour of
    // rows so paging the list stays quick).
    let site = arcade.site;
    let range = "from=2026-11-01T02:00:00Z&to=2026-11-01T03:00:00%2B00:00";
    for filter in [range.to_owned(), format!("site_id={site}&{range}")] {
        let listed = all_rows(
            &cluster,
            &arcade.token,
            &format!("/api/v1/operator/usage-records?{filter}"),
        )
        .await;
        assert!(!listed.is_empty() && listed.len() < list.len(), "{filter}");
        let csv = cluster
            .query(
                &format!("/api/v1/operator/usage-records/export?{filter}"),
                &arcade.token,
            )
            .await;
        let want: Vec<Vec<String>> = listed.iter().map(|r| record(r, &USAGE_HEADER)).collect();
        assert_eq!(csv_records(&csv, &USAGE_HEADER), want, "{filter}");
    }
    let ranged = cluster
        .query(
            &format!("/api/v1/operator/usage-records/export?{range}&format=xlsx"),
            &arcade.token,
        )
        .await;
    assert_eq!(
        ranged.headers["content-disposition"],
        format!(
            "attachment; filename=\"usage-records-{}-20261101-20261101.xlsx\"",
            arcade.id
        )
        .as_str()
    );

    // Staff see the same file through the admin route.
    let admin = cluster.admin_token().await;
    let staff = cluster
        .query(
            &format!("/api/v1/admin/operators/{}/usage-records/export", arcade.id),
            &admin,
        )
        .await;
    assert_eq!(staff.status, 200);
    assert_eq!(csv_records(&staff, &USAGE_HEADER), expected);
}

/// The statement timeout of the slow-client test: far below the time the download takes.
const SHORT_STATEMENT_TIMEOUT_MS: u64 = 500;

#[tokio::test]
async fn a_slow_download_outlives_the_statement_timeout_and_holds_no_pooled_connection() {
    // One pooled connection, a short statement timeout, a short wait for a connection: a
    // download that kept one statement open would be cancelled, and one that kept the
    // connection would starve every other request (503).
    let timeout = SHORT_STATEMENT_TIMEOUT_MS.to_string();
    let cluster = Cluster::start(&[
        ("MR_QUERY_DB_POOL_SIZE", "1"),
        ("MR_QUERY_DB_STATEMENT_TIMEOUT_MS", &timeout),
        ("MR_QUERY_DB_WAIT_TIMEOUT_MS", "1000"),
    ])
    .await;
    let arcade = register(&cluster).await;
    insert_usage(&cluster, &arcade).await;

    let url = format!("{}/api/v1/operator/usage-records/export", cluster.query);
    let mut response = cluster
        .http
        .get(&url)
        .bearer_auth(&arcade.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response
        .chunk()
        .await
        .unwrap()
        .expect("a first chunk")
        .to_vec();
    // The client stops reading; the server fills the socket and waits, longer than any
    // statement may run. Meanwhile other requests are answered.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(SHORT_STATEMENT_TIMEOUT_MS)).await;
        let page = cluster
            .query("/api/v1/operator/usage-records?limit=5", &arcade.token)
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
    }
    while let Some(chunk) = response.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    let mut reader = csv::Reader::from_reader(body.as_slice());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), USAGE_ROWS as usize);
    // Newest first, down to the first session.
    assert!(
        records[0][9].ends_with(&format!("-{USAGE_ROWS}")),
        "{:?}",
        records[0]
    );
    assert!(records[records.len() - 1][9].ends_with("-1"));
}

#[tokio::test]
async fn transaction_exports_hold_the_listed_rows_and_bad_requests_are_refused_by_name() {
    let cluster = Cluster::start(&[]).await;
    let arcade = register(&cluster).await;
    insert_transactions(&cluster, &arcade).await;
    let admin = cluster.admin_token().await;
    let list = all_rows(&cluster, &arcade.token, "/api/v1/operator/transactions").await;
    assert_eq!(list.len(), TRANSACTION_ROWS as usize);
    let expected: Vec<Vec<String>> = list
        .iter()
        .map(|r| record(r, &TRANSACTION_HEADER))
        .collect();

    // The operator's own, and the same through the admin route: negative amounts signed.
    for (path, token) in [
        (
            "/api/v1/operator/transactions/export".to_owned(),
            &arcade.token,
        ),
        (
            format!("/api/v1/admin/operators/{}/transactions/export", arcade.id),
            &admin,
        ),
    ] {
        let csv = cluster.query(&path, token).await;
        assert_eq!(csv.status, 200, "{path}: {}", csv.body);
        assert_eq!(
            csv.headers["content-disposition"],
            format!("attachment; filename=\"transactions-{}.csv\"", arcade.id).as_str()
        );
        let records = csv_records(&csv, &TRANSACTION_HEADER);
        assert_eq!(records, expected, "{path}");
        assert!(records.iter().any(|r| r[2].starts_with('-')));
    }
    // A kind filter, as the list does it.
    let charges = all_rows(
        &cluster,
        &arcade.token,
        "/api/v1/operator/transactions?kind=charge",
    )
    .await;
    let csv = cluster
        .query(
            "/api/v1/operator/transactions/export?kind=charge",
            &arcade.token,
        )
        .await;
    let want: Vec<Vec<String>> = charges
        .iter()
        .map(|r| record(r, &TRANSACTION_HEADER))
        .collect();
    assert_eq!(csv_records(&csv, &TRANSACTION_HEADER), want);
    // XLSX of the transactions: signed amounts as numbers.
    let xlsx = cluster
        .query(
            "/api/v1/operator/transactions/export?format=xlsx",
            &arcade.token,
        )
        .await;
    assert_eq!(xlsx.status, 200);
    let sheet = sheet_rows(&xlsx.bytes);
    assert_eq!(sheet.len() - 1, list.len());
    for (i, (cells, row)) in sheet[1..].iter().zip(&list).enumerate() {
        assert_xlsx_row(cells, row, &TRANSACTION_HEADER, i);
    }

    // The global monitor's export: the monitor's rows, with the operator's columns first.
    let monitor_header: Vec<&str> = ["operator_id", "operator_username"]
        .into_iter()
        .chain(TRANSACTION_HEADER)
        .collect();
    let path = format!("operator_id={}&kind=recharge", arcade.id);
    let monitor = all_rows(
        &cluster,
        &admin,
        &format!("/api/v1/admin/transactions?{path}"),
    )
    .await;
    assert_eq!(monitor.len(), (TRANSACTION_ROWS / 3) as usize);
    let csv = cluster
        .query(&format!("/api/v1/admin/transactions/export?{path}"), &admin)
        .await;
    assert_eq!(csv.status, 200);
    let want: Vec<Vec<String>> = monitor.iter().map(|r| record(r, &monitor_header)).collect();
    assert_eq!(csv_records(&csv, &monitor_header), want);
    assert_eq!(want[0][1], "export_arcade");
    let all = cluster
        .query("/api/v1/admin/transactions/export", &admin)
        .await;
    assert_eq!(
        all.headers["content-disposition"],
        "attachment; filename=\"transactions-all.csv\""
    );
    assert_eq!(csv_records(&all, &monitor_header).len(), list.len());

    // Bad parameters are refused by name, before anything is streamed.
    for (path, field) in [
        ("/api/v1/operator/transactions/export?format=pdf", "format"),
        (
            "/api/v1/operator/usage-records/export?format=XLSX",
            "format",
        ),
        ("/api/v1/operator/usage-records/export?limit=10", "limit"),
        ("/api/v1/operator/transactions/export?cursor=x", "cursor"),
        (
            "/api/v1/operator/transactions/export?from=yesterday",
            "from",
        ),
        (
            "/api/v1/admin/transactions/export?operator_id=nope",
            "operator_id",
        ),
    ] {
        let refused = cluster.query(path, &admin_or(&arcade, path, &admin)).await;
        assert_eq!(refused.status, 400, "{path}: {}", refused.body);
        assert_eq!(refused.code(), "INVALID_PARAMS", "{path}");
        assert_eq!(refused.body["details"]["fields"], json!([field]), "{path}");
    }
    // An unknown operator is a 404, in either format.
    let unknown = Uuid::now_v7();
    for path in [
        format!("/api/v1/admin/operators/{unknown}/usage-records/export"),
        format!("/api/v1/admin/operators/{unknown}/transactions/export?format=xlsx"),
    ] {
        let answer = cluster.query(&path, &admin).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
    }
    // Another operator's data is not the operator's to export.
    let forbidden = cluster
        .query(
            &format!("/api/v1/admin/operators/{}/usage-records/export", arcade.id),
            &arcade.token,
        )
        .await;
    assert_eq!(forbidden.status, 403);
}

/// The token a path is meant for: the operator's own routes, or staff.
fn admin_or(arcade: &Arcade, path: &str, admin: &str) -> String {
    if path.starts_with("/api/v1/operator/") {
        arcade.token.clone()
    } else {
        admin.to_owned()
    }
}

/// One XLSX row against its list row: text as is, numbers (counts and amounts) equal to the
/// list's, times equal to the second (spreadsheet dates hold seconds).
fn assert_xlsx_row(cells: &[String], row: &Value, header: &[&str], i: usize) {
    assert_eq!(cells.len(), header.len(), "row {i}: {cells:?}");
    for ((cell, name), n) in cells.iter().zip(header).zip(0..) {
        let want = &row[*name];
        let what = format!("row {i} column {n} ({name}): {cell:?} vs {want}");
        match want {
            Value::Null => assert!(cell.is_empty(), "{what}"),
            Value::Number(number) => assert_eq!(cell, &number.to_string(), "{what}"),
            Value::String(s) if name.ends_with("_at") => {
                let time: DateTime<Utc> = s.parse().unwrap();
                let serial: f64 = cell.parse().unwrap();
                let seconds = ((serial - 25_569.0) * 86_400.0).round() as i64;
                assert_eq!(seconds, time.timestamp(), "{what}");
            }
            Value::String(s) if is_amount(name) => {
                let value: f64 = cell.parse().unwrap();
                assert_eq!(&format!("{value:.2}"), s, "{what}");
            }
            Value::String(s) => assert_eq!(cell, s, "{what}"),
            other => panic!("unexpected {other} in {what}"),
        }
    }
}

fn is_amount(name: &str) -> bool {
    matches!(
        name,
        "unit_price" | "total_cost" | "balance_after" | "amount"
    )
}

/// The first worksheet's rows as the raw text of each cell (`<v>` numbers, inline `<t>`
/// strings unescaped), absent cells as empty strings.
fn sheet_rows(xlsx: &[u8]) -> Vec<Vec<String>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(xlsx)).expect("a zip");
    let mut xml = String::new();
    archive
        .by_name("xl/worksheets/sheet1.xml")
        .expect("a first worksheet")
        .read_to_string(&mut xml)
        .unwrap();
    let mut rows = Vec::new();
    for row in xml.split("<row ").skip(1) {
        let row = &row[..row.find("</row>").expect("closed row")];
        let mut cells: Vec<String> = Vec::new();
        for cell in row.split("<c r=\"").skip(1) {
            let letters: String = cell.chars().take_while(char::is_ascii_uppercase).collect();
            let column = letters
                .bytes()
                .fold(0usize, |n, b| n * 26 + usize::from(b - b'A' + 1))
                - 1;
            let text = if let Some(start) = cell.find("<v>") {
                let rest = &cell[start + 3..];
                rest[..rest.find("</v>").unwrap()].to_owned()
            } else {
                let start = cell.find("<t").expect("a value or an inline string");
                let rest = &cell[start..];
                let rest = &rest[rest.find('>').unwrap() + 1..];
                unescape(&rest[..rest.find("</t>").unwrap()])
            };
            cells.resize(column, String::new());
            cells.push(text);
        }
        rows.push(cells);
    }
    let width = rows.first().map_or(0, Vec::len);
    for row in &mut rows {
        row.resize(width, String::new());
    }
    rows
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
