//! Daily statement files in each gateway's layout: WeChat's UTF-8 CSV, and Alipay's zip
//! archive of two GBK CSV files (the detail and its summary) whose entry names are GBK too.

use std::io::Write;

use chrono::{Duration, NaiveDate, Utc};
use zip::write::SimpleFileOptions;

use super::Sim;
use super::alipay::local_time;
use super::store::{Channel, parse_yuan, yuan};

/// WeChat `tradebill` (bill_type ALL): a header row, one row per trade with every field
/// quoted by a leading backtick, then the summary header and row.
pub fn wechat_trade_bill(sim: &Sim, date: NaiveDate) -> String {
    let rows = sim.store.statement(Channel::Wechat, date);
    let mut out = String::from(
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,\
         交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,\
         充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,\
         费率备注\n",
    );
    let mut total_fen = 0i64;
    let mut fee_milli_fen = 0i64;
    for row in &rows {
        let fen = parse_yuan(&row.amount).unwrap_or(0);
        total_fen += fen;
        // 0.6% fee, in thousandths of a fen like WeChat prints it (5 decimals of yuan).
        let fee = fen * 6;
        fee_milli_fen += fee;
        let fields = [
            local_time(row.paid_at),
            sim.config.wechat_app_id.clone(),
            sim.config.wechat_mch_id.clone(),
            "0".into(),
            String::new(),
            row.transaction_id.clone(),
            row.out_trade_no.clone(),
            "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
            "NATIVE".into(),
            "SUCCESS".into(),
            "OTHERS".into(),
            "CNY".into(),
            row.amount.clone(),
            "0.00".into(),
            "0".into(),
            "0".into(),
            "0.00".into(),
            "0.00".into(),
            String::new(),
            String::new(),
            row.description.clone(),
            String::new(),
            five_decimals(fee),
            "0.60%".into(),
            row.amount.clone(),
            "0.00".into(),
            String::new(),
        ];
        out.push_str(&backticked(&fields));
    }
    out.push_str("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n");
    out.push_str(&backticked(&[
        rows.len().to_string(),
        yuan(total_fen),
        "0.00".into(),
        "0.00".into(),
        five_decimals(fee_milli_fen),
        yuan(total_fen),
        "0.00".into(),
    ]));
    out
}

fn backticked(fields: &[String]) -> String {
    let mut line = fields
        .iter()
        .map(|f| format!("`{f}"))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// Thousandths of a fen as yuan with 5 decimals: 6000 → "0.06000".
fn five_decimals(milli_fen: i64) -> String {
    format!("{}.{:05}", milli_fen / 100_000, milli_fen % 100_000)
}

/// The Alipay account of the simulated merchant as the statement files name it: the partner id
/// (`2088...`, 16 digits) followed by the account suffix `0156`, like Alipay's own examples.
pub const ALIPAY_ACCOUNT: &str = "20881021234567890156";

/// The names of the entries of the Alipay statement archive of `date`: the detail file
/// (业务明细) and the summary file (业务明细(汇总)), as Alipay names them.
pub fn alipay_entry_names(date: NaiveDate) -> [String; 2] {
    let day = date.format("%Y%m%d");
    [
        format!("{ALIPAY_ACCOUNT}_{day}_业务明细.csv"),
        format!("{ALIPAY_ACCOUNT}_{day}_业务明细(汇总).csv"),
    ]
}

/// The Alipay statement of `date` as `downloadBillFile.resource` serves it: a zip archive of
/// the detail and the summary CSV, contents and entry names GBK-encoded. Entry names are
/// given to the writer as raw bytes, so the zip's UTF-8 flag (general purpose bit 11) stays
/// clear, as in Alipay's archives.
pub fn alipay_statement_zip(sim: &Sim, date: NaiveDate) -> Vec<u8> {
    let [detail_name, summary_name] = alipay_entry_names(date);
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in [
        (detail_name, alipay_statement(sim, date)),
        (summary_name, alipay_summary(sim, date)),
    ] {
        let name = gbk(&name);
        writer
            .start_file_with_options(options.name(&name))
            .expect("a new entry of an in-memory archive");
        writer
            .write_all(&gbk(&text))
            .expect("writing to an in-memory archive");
    }
    writer
        .finish()
        .expect("finishing an in-memory archive")
        .into_inner()
}

/// `text` in GBK. Characters GBK lacks (none in the fixed text; perhaps in a product name)
/// become numeric character references, as `encoding_rs` encodes them.
fn gbk(text: &str) -> Vec<u8> {
    encoding_rs::GBK.encode(text).0.into_owned()
}

fn alipay_day(d: NaiveDate) -> String {
    d.format("%Y年%m月%d日").to_string()
}

/// Alipay trade statement (业务明细): `#` comment lines around a CSV table, totals at the end.
pub fn alipay_statement(sim: &Sim, date: NaiveDate) -> String {
    let rows = sim.store.statement(Channel::Alipay, date);
    let mut out = format!(
        "#支付宝业务明细查询\n#账号：[{ALIPAY_ACCOUNT}]\n#起始日期：[{} 00:00:00]   终止日期：[{} 00:00:00]\n\
         #-----------------------------------------业务明细列表----------------------------------------\n\
         支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,\
         对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,\
         商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,\
         退款批次号/请求号,服务费（元）,分润（元）,备注\n",
        alipay_day(date),
        alipay_day(date + Duration::days(1)),
    );
    let mut total_fen = 0i64;
    for row in &rows {
        let fen = parse_yuan(&row.amount).unwrap_or(0);
        total_fen += fen;
        let fee = -(fen * 6 + 500) / 1000;
        out.push_str(&format!(
            "{},{},交易,{},{},{},,,,,sim***@example.com,{},{},0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,{},0.00,\n",
            row.transaction_id,
            row.out_trade_no,
            row.description.replace(',', " "),
            local_time(row.paid_at),
            local_time(row.paid_at),
            row.amount,
            row.amount,
            yuan(fee),
        ));
    }
    out.push_str(
        "#-----------------------------------------业务明细列表结束------------------------------------\n",
    );
    out.push_str(&format!(
        "#交易合计：{}笔，商家实收共{}元，商家优惠共0.00元\n#退款合计：0笔，商家实收退款共0.00元，商家优惠退款共0.00元\n#导出时间：[{}]\n",
        rows.len(),
        yuan(total_fen),
        local_time(Utc::now()),
    ));
    out
}

/// Alipay statement summary (业务明细(汇总)): per store totals (one store, unnamed here) and
/// the 合计 row, between `#` comment lines.
pub fn alipay_summary(sim: &Sim, date: NaiveDate) -> String {
    let rows = sim.store.statement(Channel::Alipay, date);
    let total_fen: i64 = rows
        .iter()
        .map(|row| parse_yuan(&row.amount).unwrap_or(0))
        .sum();
    let fee_fen: i64 = rows
        .iter()
        .map(|row| -(parse_yuan(&row.amount).unwrap_or(0) * 6 + 500) / 1000)
        .sum();
    let totals = format!(
        "{},0,{},{},0.00,0.00,0.00,{},0.00,{}",
        rows.len(),
        yuan(total_fen),
        yuan(total_fen),
        yuan(fee_fen),
        yuan(total_fen + fee_fen),
    );
    format!(
        "#支付宝业务汇总查询\n#账号：[{ALIPAY_ACCOUNT}]\n#起始日期：[{} 00:00:00]   终止日期：[{} 00:00:00]\n\
         #-----------------------------------------业务汇总列表----------------------------------------\n\
         门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,\
         商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）\n\
         ,,{totals}\n\
         合计,,{totals}\n\
         #-----------------------------------------业务汇总列表结束------------------------------------\n\
         #导出时间：[{}]\n",
        alipay_day(date),
        alipay_day(date + Duration::days(1)),
        local_time(Utc::now()),
    )
}
