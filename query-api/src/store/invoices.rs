//! Invoice requests and issued invoices.

use chrono::{DateTime, Utc};
use ledger_core::ids::{InvoiceId, OperatorId};
use tokio_postgres::Row;

use super::{Keyed, Store, StoreError, finish_page, money, time_id_key, time_id_params, time_opt};
use crate::cursor::TimeIdKey;
use crate::views::{FinanceInvoiceView, InvoiceView, OperatorRef, Page, Time};

/// The status of an invoice that was issued (and so has a PDF).
pub const ISSUED: &str = "issued";

/// Which invoices to list, newest request first.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub operator_id: Option<OperatorId>,
    /// `pending`, `issued` or `rejected`.
    pub status: Option<String>,
    pub limit: i64,
    pub after: Option<TimeIdKey>,
}

const INVOICE_SELECT: &str =
    "SELECT i.id, i.operator_id, i.status, i.invoice_type, i.title, i.tax_number,
        i.amount, i.invoice_number, i.seller_name, i.seller_tax_number, i.reject_reason,
        i.reviewed_by, i.requested_at, i.issued_at, i.reviewed_at,
        o.username AS operator_username, o.name AS operator_name
     FROM read.invoices i
     LEFT JOIN read.operators o ON o.id = i.operator_id";

fn invoice_view(row: &Row) -> Result<Keyed<FinanceInvoiceView, TimeIdKey>, StoreError> {
    let requested_at: DateTime<Utc> = row.try_get("requested_at")?;
    let id = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    Ok(Keyed {
        key: time_id_key(requested_at, id),
        item: FinanceInvoiceView {
            invoice: InvoiceView {
                id: InvoiceId(id),
                operator_id: OperatorId(row.try_get("operator_id")?),
                pdf_available: status == ISSUED,
                status,
                invoice_type: row.try_get("invoice_type")?,
                title: row.try_get("title")?,
                tax_number: row.try_get("tax_number")?,
                amount: money(row, "amount")?,
                invoice_number: row.try_get("invoice_number")?,
                seller_name: row.try_get("seller_name")?,
                seller_tax_number: row.try_get("seller_tax_number")?,
                reject_reason: row.try_get("reject_reason")?,
                reviewed_by: row.try_get("reviewed_by")?,
                requested_at: Time(requested_at),
                issued_at: time_opt(row, "issued_at")?,
                reviewed_at: time_opt(row, "reviewed_at")?,
            },
            operator: OperatorRef {
                username: row.try_get("operator_username")?,
                name: row.try_get("operator_name")?,
            },
        },
    })
}

impl Store {
    pub async fn invoices(
        &self,
        filter: &InvoiceFilter,
    ) -> Result<Page<FinanceInvoiceView>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "{INVOICE_SELECT}
             WHERE ($1::uuid IS NULL OR i.operator_id = $1)
               AND ($2::text IS NULL OR i.status = $2)
               AND ($3::timestamptz IS NULL OR (i.requested_at, i.id) < ($3, $4::uuid))
             ORDER BY i.requested_at DESC, i.id DESC
             LIMIT $5"
        );
        let stmt = client.prepare_cached(&sql).await?;
        let (after_time, after_id) = time_id_params(filter.after);
        let rows = client
            .query(
                &stmt,
                &[
                    &filter.operator_id.map(|o| o.as_uuid()),
                    &filter.status,
                    &after_time,
                    &after_id,
                    &(filter.limit + 1),
                ],
            )
            .await?;
        let rows = rows
            .iter()
            .map(invoice_view)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(finish_page(rows, filter.limit))
    }

    /// One invoice; with `owner`, only when it is that operator's (another operator's invoice
    /// is as absent as an unknown one).
    pub async fn invoice(
        &self,
        invoice_id: InvoiceId,
        owner: Option<OperatorId>,
    ) -> Result<Option<FinanceInvoiceView>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "{INVOICE_SELECT} WHERE i.id = $1 AND ($2::uuid IS NULL OR i.operator_id = $2)"
        );
        let stmt = client.prepare_cached(&sql).await?;
        client
            .query_opt(&stmt, &[&invoice_id.as_uuid(), &owner.map(|o| o.as_uuid())])
            .await?
            .as_ref()
            .map(|row| invoice_view(row).map(|keyed| keyed.item))
            .transpose()
    }
}
