//! The gateways' daily statements, parsed into the trades they list. Columns are found by
//! their header names (the gateways add columns over time); summary and comment lines are not
//! trades and are skipped. Only successful payments are read: reconciliation compares credits.

use chrono::{DateTime, Utc};
use ledger_core::money::Money;

use super::alipay::parse_time;

/// One paid trade of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    pub out_trade_no: String,
    pub transaction_id: String,
    pub amount: Money,
    pub paid_at: Option<DateTime<Utc>>,
}

fn column(header: &[&str], name: &str) -> Result<usize, String> {
    header
        .iter()
        .position(|h| h.trim() == name)
        .ok_or_else(|| format!("statement header has no column {name}"))
}

fn field<'a>(fields: &[&'a str], index: usize, line: usize) -> Result<&'a str, String> {
    fields
        .get(index)
        .copied()
        .ok_or_else(|| format!("statement line {line} is short"))
}

fn amount(text: &str, line: usize) -> Result<Money, String> {
    Money::parse(text.trim()).map_err(|e| format!("statement line {line}: amount {text:?}: {e}"))
}

/// WeChat Pay `tradebill` (bill_type ALL): a header row, one row per trade with every field
/// prefixed by a backtick, then a summary header (`总交易单数,...`) and its row.
pub fn parse_wechat_trade_bill(text: &str) -> Result<Vec<StatementLine>, String> {
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines().enumerate();
    let (_, header) = lines.next().ok_or("empty trade bill")?;
    let header: Vec<&str> = header.split(',').collect();
    let time = column(&header, "交易时间")?;
    let transaction = column(&header, "微信订单号")?;
    let out_trade = column(&header, "商户订单号")?;
    let state = column(&header, "交易状态")?;
    let total = column(&header, "订单金额")?;
    let mut out = Vec::new();
    for (index, line) in lines {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with("总交易单数") {
            // The summary header and its row end the trades.
            break;
        }
        let fields: Vec<&str> = line
            .split(',')
            .map(|f| f.trim().trim_start_matches('`'))
            .collect();
        if field(&fields, state, number)? != "SUCCESS" {
            continue;
        }
        out.push(StatementLine {
            out_trade_no: field(&fields, out_trade, number)?.to_owned(),
            transaction_id: field(&fields, transaction, number)?.to_owned(),
            amount: amount(field(&fields, total, number)?, number)?,
            paid_at: parse_time(field(&fields, time, number)?.trim()),
        });
    }
    Ok(out)
}

/// Alipay trade statement (业务明细): `#` comment lines around a CSV table whose first row is
/// the header; totals are `#` lines too. Only `交易` rows (not refunds) are payments.
pub fn parse_alipay_statement(text: &str) -> Result<Vec<StatementLine>, String> {
    let text = text.trim_start_matches('\u{feff}');
    let mut rows = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty());
    let (_, header) = rows.next().ok_or("statement has no table")?;
    let header: Vec<&str> = header.split(',').collect();
    let transaction = column(&header, "支付宝交易号")?;
    let out_trade = column(&header, "商户订单号")?;
    let kind = column(&header, "业务类型")?;
    let finished = column(&header, "完成时间")?;
    let total = column(&header, "订单金额（元）")?;
    let mut out = Vec::new();
    for (index, line) in rows {
        let number = index + 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if field(&fields, kind, number)? != "交易" {
            continue;
        }
        out.push(StatementLine {
            out_trade_no: field(&fields, out_trade, number)?.to_owned(),
            transaction_id: field(&fields, transaction, number)?.to_owned(),
            amount: amount(field(&fields, total, number)?, number)?,
            paid_at: parse_time(field(&fields, finished, number)?.trim()),
        });
    }
    Ok(out)
}

/// The text of a downloaded file: UTF-8 if it is valid UTF-8 (the development gateway),
/// otherwise GBK (Alipay's real files and the names inside their archives).
fn decode_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::GBK.decode(bytes).0.into_owned(),
    }
}

/// The detail CSV of an Alipay statement archive: the entry named `..._业务明细.csv` (not the
/// `..._业务明细(汇总).csv` summary), else the largest `.csv` entry.
fn alipay_detail_from_zip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("statement archive: {e}"))?;
    let mut detail = None;
    let mut largest: Option<(u64, usize)> = None;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| format!("statement archive entry {index}: {e}"))?;
        if !entry.is_file() {
            continue;
        }
        let name = decode_text(entry.name_raw());
        if !name.to_ascii_lowercase().ends_with(".csv") {
            continue;
        }
        if name.ends_with("业务明细.csv") && !name.ends_with("(汇总).csv") {
            detail = Some(index);
            break;
        }
        if largest.is_none_or(|(size, _)| entry.size() > size) {
            largest = Some((entry.size(), index));
        }
    }
    let index = detail
        .or(largest.map(|(_, index)| index))
        .ok_or("statement archive holds no CSV file")?;
    let mut entry = archive
        .by_index(index)
        .map_err(|e| format!("statement archive entry {index}: {e}"))?;
    let mut out = Vec::new();
    entry
        .read_to_end(&mut out)
        .map_err(|e| format!("statement archive entry {index}: {e}"))?;
    Ok(out)
}

/// An Alipay statement download as fetched: the zip archive of GBK CSV files Alipay serves
/// (recognised by the zip magic), or a bare CSV (UTF-8, as the development gateway serves it,
/// or GBK).
pub fn parse_alipay_download(bytes: &[u8]) -> Result<Vec<StatementLine>, String> {
    let csv = if bytes.starts_with(b"PK\x03\x04") {
        alipay_detail_from_zip(bytes)?
    } else {
        bytes.to_vec()
    };
    parse_alipay_statement(&decode_text(&csv))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WECHAT: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注
`2026-11-22 10:00:01,`wxd930ea5d5a258f4f,`1900000109,`0,`,`4200000001,`MR001,`oUp,`NATIVE,`SUCCESS,`OTHERS,`CNY,`100.00,`0.00,`0,`0,`0.00,`0.00,`,`,`充值,`,`0.60000,`0.60%,`100.00,`0.00,`
`2026-11-22 11:00:00,`wxd930ea5d5a258f4f,`1900000109,`0,`,`4200000002,`MR002,`oUp,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50000,`R1,`5.00,`0.00,`,`,`充值,`,`0.00000,`0.60%,`5.00,`5.00,`
`2026-11-22 12:30:00,`wxd930ea5d5a258f4f,`1900000109,`0,`,`4200000003,`MR003,`oUp,`NATIVE,`SUCCESS,`OTHERS,`CNY,`12.34,`0.00,`0,`0,`0.00,`0.00,`,`,`充值,`,`0.07404,`0.60%,`12.34,`0.00,`
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
`2,`112.34,`5.00,`0.00,`0.67404,`112.34,`5.00
";

    const ALIPAY: &str = "#支付宝业务明细查询
#账号：[2021000000000001]
#起始日期：[2026年11月22日 00:00:00]   终止日期：[2026年11月23日 00:00:00]
#-----------------------------------------业务明细列表----------------------------------------
支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注
2026112222001,MR101,交易,充值,2026-11-22 00:10:00,2026-11-22 00:10:05,,,,,sim***@example.com,50.00,50.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.30,0.00,
2026112222002,MR102,退款,充值,2026-11-22 09:00:00,2026-11-22 09:00:00,,,,,sim***@example.com,-10.00,-10.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,R1,0.06,0.00,
#-----------------------------------------业务明细列表结束------------------------------------
#交易合计：1笔，商家实收共50.00元，商家优惠共0.00元
#退款合计：1笔，商家实收退款共-10.00元，商家优惠退款共0.00元
#导出时间：[2026年11月23日 09:00:00]
";

    #[test]
    fn wechat_trade_bill_lists_successful_trades_without_summary() {
        let lines = parse_wechat_trade_bill(WECHAT).unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].out_trade_no, "MR001");
        assert_eq!(lines[0].transaction_id, "4200000001");
        assert_eq!(lines[0].amount, Money::parse("100.00").unwrap());
        assert_eq!(
            lines[0].paid_at.unwrap().to_rfc3339(),
            "2026-11-22T02:00:01+00:00"
        );
        assert_eq!(lines[1].out_trade_no, "MR003");
        assert_eq!(lines[1].amount, Money::parse("12.34").unwrap());
    }

    #[test]
    fn alipay_statement_lists_payments_without_comments_or_refunds() {
        let lines = parse_alipay_statement(ALIPAY).unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].out_trade_no, "MR101");
        assert_eq!(lines[0].transaction_id, "2026112222001");
        assert_eq!(lines[0].amount, Money::parse("50.00").unwrap());
        assert_eq!(
            lines[0].paid_at.unwrap().to_rfc3339(),
            "2026-11-21T16:10:05+00:00"
        );
    }

    #[test]
    fn an_empty_day_and_a_wrong_file_are_told_apart() {
        let empty = "交易时间,微信订单号,商户订单号,交易状态,订单金额\n总交易单数,应结订单总金额\n`0,`0.00\n";
        assert!(parse_wechat_trade_bill(empty).unwrap().is_empty());
        assert!(parse_wechat_trade_bill("<html>nope</html>").is_err());
        assert!(parse_alipay_statement("#only comments\n").is_err());
    }

    fn gbk(text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
        assert!(!unmappable);
        bytes.into_owned()
    }

    fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        use std::io::Write;
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in files {
            writer
                .start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    const ALIPAY_SUMMARY: &str = "#支付宝业务汇总查询
#账号：[2021000000000001]
#起始日期：[2026年11月22日 00:00:00]   终止日期：[2026年11月23日 00:00:00]
门店编号,门店名称,交易订单总笔数,退款订单总笔数,已收入总金额（元）
,,1,1,40.00
#导出时间：[2026年11月23日 09:00:00]
";

    #[test]
    fn alipay_zip_of_gbk_csv_files_reads_the_detail_file() {
        // The summary file comes first and is larger than nothing: it must not be picked.
        let archive = zip_of(&[
            (
                "20210000000000010156_20261122_业务明细(汇总).csv",
                gbk(ALIPAY_SUMMARY),
            ),
            ("20210000000000010156_20261122_业务明细.csv", gbk(ALIPAY)),
        ]);
        assert!(archive.starts_with(b"PK\x03\x04"));
        assert!(std::str::from_utf8(&gbk(ALIPAY)).is_err(), "really GBK");
        let lines = parse_alipay_download(&archive).unwrap();
        assert_eq!(lines, parse_alipay_statement(ALIPAY).unwrap());
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].out_trade_no, "MR101");
        assert_eq!(lines[0].transaction_id, "2026112222001");
        assert_eq!(lines[0].amount, Money::parse("50.00").unwrap());
    }

    /// A zip as Alipay writes it: entry names given as GBK bytes, so the UTF-8 flag (general
    /// purpose bit 11) is clear and a reader must decode the names itself.
    fn gbk_named_zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        use std::io::Write;
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            let name = gbk(name);
            writer.start_file_with_options(options.name(&name)).unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    /// Each entry's raw name and whether its local header sets the UTF-8 flag.
    fn raw_names(archive: &[u8]) -> Vec<(Vec<u8>, bool)> {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
        (0..zip.len())
            .map(|index| {
                let entry = zip.by_index_raw(index).unwrap();
                let start = usize::try_from(entry.header_start()).unwrap();
                let flags = u16::from_le_bytes([archive[start + 6], archive[start + 7]]);
                (entry.name_raw().to_vec(), flags & 0x0800 != 0)
            })
            .collect()
    }

    #[test]
    fn alipay_zip_with_gbk_entry_names_reads_the_detail_file_by_its_decoded_name() {
        // The summary comes first and is the larger file: only its decoded name tells it
        // apart from the detail (the largest-CSV fallback would pick it).
        let summary = format!("{ALIPAY_SUMMARY}{}", "#\n".repeat(2000));
        assert!(summary.len() > ALIPAY.len());
        let archive = gbk_named_zip_of(&[
            (
                "20881021234567890156_20261122_业务明细(汇总).csv",
                gbk(&summary),
            ),
            ("20881021234567890156_20261122_业务明细.csv", gbk(ALIPAY)),
        ]);
        let names = raw_names(&archive);
        assert_eq!(names.len(), 2);
        for (name, utf8_flag) in &names {
            assert!(std::str::from_utf8(name).is_err(), "GBK bytes: {name:?}");
            assert!(!utf8_flag, "the UTF-8 flag is clear");
        }
        assert_eq!(
            decode_text(&names[1].0),
            "20881021234567890156_20261122_业务明细.csv"
        );
        let lines = parse_alipay_download(&archive).unwrap();
        assert_eq!(lines, parse_alipay_statement(ALIPAY).unwrap());

        // In the other order, too.
        let archive = gbk_named_zip_of(&[
            ("20881021234567890156_20261122_业务明细.csv", gbk(ALIPAY)),
            (
                "20881021234567890156_20261122_业务明细(汇总).csv",
                gbk(&summary),
            ),
        ]);
        assert_eq!(parse_alipay_download(&archive).unwrap(), lines);
    }

    #[test]
    fn alipay_zip_without_the_detail_name_falls_back_to_the_largest_csv() {
        let archive = zip_of(&[
            ("a.csv", gbk(ALIPAY_SUMMARY)),
            ("b.csv", gbk(ALIPAY)),
            ("readme.txt", b"not a statement".repeat(100)),
        ]);
        let lines = parse_alipay_download(&archive).unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].out_trade_no, "MR101");
        assert!(parse_alipay_download(&zip_of(&[("x.txt", vec![1])])).is_err());
    }

    #[test]
    fn alipay_plain_csv_download_is_read_as_utf8_or_gbk() {
        let lines = parse_alipay_download(ALIPAY.as_bytes()).unwrap();
        assert_eq!(lines, parse_alipay_statement(ALIPAY).unwrap());
        assert_eq!(parse_alipay_download(&gbk(ALIPAY)).unwrap(), lines);
    }
}
