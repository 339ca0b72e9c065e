//! HTTP edge of reconciliation: finance runs a channel's statement of a day against the
//! ledger; the stored run is answered with its counts (the items are read through the query
//! API).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web;
use chrono::NaiveDate;
use ledger_core::operator::PaymentChannel;

use super::command::Command;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/finance/reconciliations", web::post().to(run));
}

async fn run(cmd: Command) -> HttpResponse {
    cmd.run(StatusCode::CREATED, async |caller, body, state, ctx| {
        let mut f = body.fields().await?;
        let channel = PaymentChannel::parse(&f.text("channel", 1, 16));
        if channel.is_none() {
            f.mark_bad("channel");
        }
        let date = NaiveDate::parse_from_str(&f.text("date", 10, 10), "%Y-%m-%d").ok();
        if date.is_none() {
            f.mark_bad("date");
        }
        f.finish()?;
        state
            .ledger
            .reconcile(
                &caller.staff(),
                ctx,
                channel.expect("checked"),
                date.expect("checked"),
            )
            .await
    })
    .await
}
