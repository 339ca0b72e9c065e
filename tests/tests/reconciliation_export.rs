//! A large reconciliation run through the real query API: its items paged with cursors, and
//! the streamed CSV and XLSX exports, which hold exactly the rows the pages hold.
//!
//! The run is written directly in SQL (the command side writes runs in one transaction; the
//! query side reads them as they are), with more rows than one export chunk.

use std::io::Read;

use serde_json::Value;
use tests::cluster::Cluster;
use uuid::Uuid;

/// Items of the run: the CSV is several export chunks (64 KiB) long.
const ITEMS: i32 = 5_000;

const HEADER: [&str; 7] = [
    "line",
    "kind",
    "out_trade_no",
    "transaction_id",
    "gateway_amount",
    "ledger_amount",
    "detail",
];

/// A run of `ITEMS` items of every kind, some of them without transaction id or amount, some
/// with a detail that needs CSV quoting.
async fn insert_run(cluster: &Cluster) -> Uuid {
    let run_id = Uuid::now_v7();
    let sql = cluster.db.client().await;
    sql.execute(
        "INSERT INTO reconciliation_runs (id, channel, bill_date, created_by, created_at,
             matched, missing_in_ledger, missing_at_gateway, amount_mismatch, gateway_count,
             gateway_total, ledger_count, ledger_total)
         VALUES ($1, 'wechat', '2026-11-21', 'finance', now(), 1250, 1250, 1250, 1250, 3750,
                 0, 3750, 0)",
        &[&run_id],
    )
    .await
    .unwrap();
    sql.execute(
        "INSERT INTO reconciliation_items (run_id, line, kind, out_trade_no, transaction_id,
             gateway_amount, ledger_amount, detail)
         SELECT $1, n,
                (ARRAY['matched', 'missing_in_ledger', 'missing_at_gateway',
                       'amount_mismatch'])[n % 4 + 1],
                'MR' || lpad(n::text, 8, '0'),
                CASE WHEN n % 4 = 2 THEN NULL ELSE '4200' || n END,
                CASE WHEN n % 4 = 2 THEN NULL ELSE round(n * 1.37, 2) END,
                CASE WHEN n % 4 = 1 THEN NULL
                     WHEN n % 4 = 3 THEN round(n * 1.37, 2) + 1
                     ELSE round(n * 1.37, 2) END,
                CASE WHEN n % 7 = 0 THEN 'amounts differ, \"by\" ' || n || E'\\nsee statement'
                     ELSE NULL END
         FROM generate_series(1, $2::integer) AS n",
        &[&run_id, &ITEMS],
    )
    .await
    .unwrap();
    run_id
}

/// Every item of the run detail, page by page (`query` without `limit`/`cursor`), and the
/// number of pages.
async fn all_pages(cluster: &Cluster, token: &str, path: &str, limit: u32) -> (Vec<Value>, usize) {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!("{path}{separator}limit={limit}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = cluster.query(&url, token).await.ok();
        pages += 1;
        assert_eq!(page["channel"], "wechat", "{page}");
        let page = &page["items"];
        let rows = page["items"].as_array().unwrap();
        assert!(rows.len() <= limit as usize);
        items.extend(rows.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(rows.len(), limit as usize, "only the last page is short");
                cursor = Some(next.to_owned());
            }
            None => return (items, pages),
        }
    }
}

/// An item as the export writes it: null as an empty field.
fn record(item: &Value) -> Vec<String> {
    HEADER
        .iter()
        .map(|name| match &item[*name] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn lines(items: &[Value]) -> Vec<i64> {
    items.iter().map(|i| i["line"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn paging_returns_every_item_once_in_line_order_and_the_exports_hold_the_same_rows() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.admin_token().await;
    let run_id = insert_run(&cluster).await;
    let detail = format!("/api/v1/finance/reconciliations/{run_id}");

    // Paging: every line exactly once, in order, at the largest page size and an odd one.
    let (items, pages) = all_pages(&cluster, &admin, &detail, 100).await;
    assert_eq!(pages, 50);
    assert_eq!(lines(&items), (1..=i64::from(ITEMS)).collect::<Vec<_>>());
    let (odd, _) = all_pages(&cluster, &admin, &detail, 37).await;
    assert_eq!(odd, items);
    // The default page is the first 20.
    let first = cluster.query(&detail, &admin).await.ok();
    assert_eq!(first["matched"], 1250, "{first}");
    assert_eq!(
        lines(first["items"]["items"].as_array().unwrap()),
        (1..=20).collect::<Vec<_>>()
    );
    // One kind: its lines only, still in order, across pages.
    let (mismatches, _) = all_pages(
        &cluster,
        &admin,
        &format!("{detail}?kind=amount_mismatch"),
        100,
    )
    .await;
    assert_eq!(
        lines(&mismatches),
        (1..=i64::from(ITEMS))
            .filter(|n| n % 4 == 3)
            .collect::<Vec<_>>()
    );
    // Bad page parameters are refused by name.
    for (query, field) in [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("cursor=junk", "cursor"),
    ] {
        let refused = cluster.query(&format!("{detail}?{query}"), &admin).await;
        assert_eq!(refused.status, 400, "{query}: {}", refused.body);
        assert_eq!(
            refused.body["details"]["fields"][0], field,
            "{}",
            refused.body
        );
    }

    // CSV: the header, then exactly the paged rows.
    let csv = cluster
        .query(&format!("{detail}/export?format=csv"), &admin)
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        csv.headers["content-disposition"],
        "attachment; filename=\"reconciliation-wechat-2026-11-21.csv\""
    );
    assert!(csv.bytes.len() > 2 * 64 * 1024, "{} bytes", csv.bytes.len());
    let mut reader = csv::Reader::from_reader(csv.bytes.as_slice());
    assert_eq!(reader.headers().unwrap(), HEADER.as_slice());
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(records, items.iter().map(record).collect::<Vec<_>>());
    assert!(records[6][6].contains("\"by\" 7\nsee"), "{:?}", records[6]);
    // One kind only.
    let csv = cluster
        .query(
            &format!("{detail}/export?format=csv&kind=amount_mismatch"),
            &admin,
        )
        .await;
    let records: Vec<Vec<String>> = csv::Reader::from_reader(csv.bytes.as_slice())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(records, mismatches.iter().map(record).collect::<Vec<_>>());

    // XLSX: a valid zip whose one sheet has the header and one row per item, amounts as
    // numbers with two decimals.
    let xlsx = cluster
        .query(&format!("{detail}/export?format=xlsx"), &admin)
        .await;
    assert_eq!(xlsx.status, 200);
    assert_eq!(
        xlsx.headers["content-disposition"],
        "attachment; filename=\"reconciliation-wechat-2026-11-21.xlsx\""
    );
    assert_eq!(
        xlsx.headers["content-length"].to_str().unwrap(),
        xlsx.bytes.len().to_string()
    );
    let sheet = sheet_xml(&xlsx.bytes);
    assert_eq!(sheet.matches("<row ").count(), ITEMS as usize + 1);
    // The out_trade_no column, in order.
    let trade_nos: Vec<&str> = sheet
        .split("<t>MR")
        .skip(1)
        .map(|rest| &rest[..8])
        .collect();
    let paged: Vec<String> = items
        .iter()
        .map(|i| i["out_trade_no"].as_str().unwrap()[2..].to_owned())
        .collect();
    assert_eq!(trade_nos, paged);
    // Line 1 (missing_in_ledger): numeric line and gateway amount 1.37, no ledger amount.
    let row2 = &sheet[sheet.find("<row r=\"2\"").unwrap()..sheet.find("<row r=\"3\"").unwrap()];
    assert!(row2.contains("<c r=\"A2\"><v>1</v></c>"), "{row2}");
    assert!(row2.contains("<v>1.37</v>"), "{row2}");
    assert!(!row2.contains("r=\"F2\""), "{row2}");
    // Money cells carry the two-decimal number format.
    let styles = zip_entry(&xlsx.bytes, "xl/styles.xml");
    assert!(styles.contains("formatCode=\"0.00\""), "{styles}");
    // With a kind: its rows only.
    let xlsx = cluster
        .query(
            &format!("{detail}/export?format=xlsx&kind=amount_mismatch"),
            &admin,
        )
        .await;
    let sheet = sheet_xml(&xlsx.bytes);
    assert_eq!(sheet.matches("<row ").count(), mismatches.len() + 1);

    // An unknown run is a 404 for both.
    let unknown = Uuid::now_v7();
    for path in [
        format!("/api/v1/finance/reconciliations/{unknown}"),
        format!("/api/v1/finance/reconciliations/{unknown}/export?format=xlsx"),
    ] {
        assert_eq!(cluster.query(&path, &admin).await.status, 404, "{path}");
    }
}

fn zip_entry(bytes: &[u8], name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    let mut text = String::new();
    archive
        .by_name(name)
        .unwrap_or_else(|_| panic!("{name} in the xlsx"))
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn sheet_xml(bytes: &[u8]) -> String {
    zip_entry(bytes, "xl/worksheets/sheet1.xml")
}
