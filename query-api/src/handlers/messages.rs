//! An operator's message center, its text in the request's language.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::AppState;
use crate::auth::Caller;
use crate::context;
use crate::envelope;
use crate::errors::ApiError;
use crate::messages::render;
use crate::params::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Query};
use crate::store::{MessageFilter, MessageRow};
use crate::views::{MessagePage, MessageView, UnreadCountView};

fn message_filter(query_string: &str) -> Result<MessageFilter, ApiError> {
    let mut q = Query::parse(query_string, &["unread_only", "limit", "cursor"]);
    let filter = MessageFilter {
        unread_only: q.flag("unread_only", false),
        limit: q.limit(PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX),
        after: q.cursor(),
    };
    q.finish(filter)
}

fn message_view(row: MessageRow, lang: context::Lang) -> MessageView {
    let (title, body) = render(&row.kind, &row.data, lang);
    MessageView {
        id: row.id,
        kind: row.kind,
        title,
        body,
        data: row.data,
        created_at: row.created_at,
        read_at: row.read_at,
    }
}

/// Newest first, with the unread count.
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    let filter = message_filter(req.query_string())?;
    let rows = state.store.messages(operator_id, &filter).await?;
    let lang = context::current().lang;
    Ok(envelope::ok(MessagePage {
        items: rows
            .page
            .items
            .into_iter()
            .map(|row| message_view(row, lang))
            .collect(),
        unread_count: rows.unread_count,
        next_cursor: rows.page.next_cursor,
    }))
}

pub async fn unread_count(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let operator_id = caller.operator_id()?;
    Query::parse(req.query_string(), &[]).finish(())?;
    let unread_count = state.store.unread_count(operator_id).await?;
    Ok(envelope::ok(UnreadCountView { unread_count }))
}
