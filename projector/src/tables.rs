//! Names, keys and columns of the read tables, as `mr_create_read_schema` defines them.
//!
//! One list serves the bulk writes and verify's diff; a test checks it against the DDL.

/// One read table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    pub name: &'static str,
    /// Primary key columns.
    pub key: &'static [&'static str],
    /// Every column, in DDL order.
    pub columns: &'static [&'static str],
}

pub(crate) const OPERATORS: Table = Table {
    name: "operators",
    key: &["id"],
    columns: &[
        "id",
        "username",
        "name",
        "phone",
        "email",
        "category",
        "status",
        "locked_at",
        "lock_reason",
        "balance",
        "total_credited",
        "total_charged",
        "games",
        "registered_at",
        "updated_at",
        "last_sequence",
        "low_balance_threshold",
        "total_refunded",
        "total_invoiced",
        "deactivated_at",
    ],
};

pub(crate) const CREDENTIALS: Table = Table {
    name: "credentials",
    key: &["key_id"],
    columns: &[
        "key_id",
        "operator_id",
        "fingerprint",
        "issued_at",
        "ends_at",
    ],
};

pub(crate) const SITES: Table = Table {
    name: "sites",
    key: &["id"],
    columns: &[
        "id",
        "operator_id",
        "name",
        "address",
        "status",
        "opened_at",
        "updated_at",
        "closed_at",
    ],
};

pub(crate) const APPS: Table = Table {
    name: "apps",
    key: &["id"],
    columns: &[
        "id",
        "name",
        "description",
        "unit_price",
        "min_players",
        "max_players",
        "status",
        "created_at",
        "updated_at",
        "last_sequence",
    ],
};

pub(crate) const GRANTS: Table = Table {
    name: "grants",
    key: &["operator_id", "app_id"],
    columns: &[
        "operator_id",
        "app_id",
        "expires_at",
        "status",
        "granted_at",
        "revoked_at",
    ],
};

pub(crate) const USAGE_RECORDS: Table = Table {
    name: "usage_records",
    key: &["operator_id", "session_id"],
    columns: &[
        "operator_id",
        "session_id",
        "site_id",
        "app_id",
        "app_name",
        "player_count",
        "unit_price",
        "total_cost",
        "balance_after",
        "authorization_token",
        "authorized_at",
        "ended_at",
        "duration_seconds",
        "position",
    ],
};

pub(crate) const TRANSACTIONS: Table = Table {
    name: "transactions",
    key: &["position"],
    columns: &[
        "position",
        "operator_id",
        "kind",
        "amount",
        "balance_after",
        "reference",
        "description",
        "occurred_at",
    ],
};

pub(crate) const HEADSET_SERVERS: Table = Table {
    name: "headset_servers",
    key: &["operator_id", "server_id"],
    columns: &[
        "operator_id",
        "server_id",
        "site_id",
        "players_online",
        "version",
        "last_seen_at",
        "last_sequence",
    ],
};

pub(crate) const STAFF: Table = Table {
    name: "staff",
    key: &["id"],
    columns: &[
        "id",
        "username",
        "name",
        "role",
        "status",
        "created_at",
        "updated_at",
    ],
};

pub(crate) const APP_APPLICATIONS: Table = Table {
    name: "app_applications",
    key: &["id"],
    columns: &[
        "id",
        "operator_id",
        "app_id",
        "app_name",
        "reason",
        "status",
        "review_reason",
        "reviewed_by",
        "applied_at",
        "reviewed_at",
    ],
};

pub(crate) const REFUNDS: Table = Table {
    name: "refunds",
    key: &["id"],
    columns: &[
        "id",
        "operator_id",
        "status",
        "requested_amount",
        "reason",
        "amount",
        "balance_after",
        "reject_reason",
        "reviewed_by",
        "requested_at",
        "reviewed_at",
    ],
};

pub(crate) const INVOICES: Table = Table {
    name: "invoices",
    key: &["id"],
    columns: &[
        "id",
        "operator_id",
        "status",
        "invoice_type",
        "title",
        "tax_number",
        "amount",
        "invoice_number",
        "seller_name",
        "seller_tax_number",
        "reject_reason",
        "reviewed_by",
        "requested_at",
        "issued_at",
        "reviewed_at",
    ],
};

pub(crate) const RECHARGE_ORDERS: Table = Table {
    name: "recharge_orders",
    key: &["id"],
    columns: &[
        "id",
        "operator_id",
        "out_trade_no",
        "channel",
        "amount",
        "status",
        "transaction_id",
        "query_failures",
        "reason",
        "ordered_at",
        "paid_at",
        "updated_at",
    ],
};

pub(crate) const ANNOUNCEMENTS: Table = Table {
    name: "announcements",
    key: &["id"],
    columns: &[
        "id",
        "title",
        "body",
        "published_by",
        "published_at",
        "position",
    ],
};

pub(crate) const MESSAGES: Table = Table {
    name: "messages",
    key: &["operator_id", "id"],
    columns: &["operator_id", "id", "kind", "data", "created_at", "read_at"],
};

pub(crate) const STAFF_ACTIONS: Table = Table {
    name: "staff_actions",
    key: &["position"],
    columns: &[
        "position",
        "actor_id",
        "actor_role",
        "action",
        "aggregate_type",
        "aggregate_id",
        "details",
        "source_ip",
        "request_id",
        "occurred_at",
    ],
};

/// The zone the statistics' days are cut in (see `time_zone`).
pub(crate) const STATS_SETTINGS: Table = Table {
    name: "stats_settings",
    key: &["singleton"],
    columns: &["singleton", "time_zone"],
};

pub(crate) const STATS_USAGE_DAILY: Table = Table {
    name: "stats_usage_daily",
    key: &["operator_id", "day", "site_id", "app_id"],
    columns: &[
        "operator_id",
        "day",
        "site_id",
        "app_id",
        "sessions",
        "player_times",
        "spend",
        "sessions_upto_2",
        "sessions_3_4",
        "sessions_5_8",
        "sessions_9_plus",
    ],
};

pub(crate) const STATS_MONEY_DAILY: Table = Table {
    name: "stats_money_daily",
    key: &["operator_id", "day"],
    columns: &[
        "operator_id",
        "day",
        "recharged",
        "recharges",
        "charged",
        "charges",
        "refunded",
        "refunds",
    ],
};

/// The checkpoint, as far as it is derived from the events (`updated_at` is wall-clock time).
pub(crate) const CHECKPOINT: Table = Table {
    name: "checkpoint",
    key: &["singleton"],
    columns: &["tx_id", "position", "events"],
};

/// Every table the projector fills, checkpoint first.
pub(crate) const ALL: [Table; 20] = [
    CHECKPOINT,
    OPERATORS,
    CREDENTIALS,
    SITES,
    APPS,
    GRANTS,
    USAGE_RECORDS,
    TRANSACTIONS,
    HEADSET_SERVERS,
    STAFF,
    APP_APPLICATIONS,
    REFUNDS,
    INVOICES,
    RECHARGE_ORDERS,
    ANNOUNCEMENTS,
    MESSAGES,
    STAFF_ACTIONS,
    STATS_SETTINGS,
    STATS_USAGE_DAILY,
    STATS_MONEY_DAILY,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_listed_table_matches_the_read_schema_ddl() {
        let db = ::tests::db::TestDb::new().await;
        let client = db.client().await;
        for table in ALL {
            let rows = client
                .query(
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_schema = 'read' AND table_name = $1 ORDER BY ordinal_position",
                    &[&table.name],
                )
                .await
                .unwrap();
            let ddl: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            if table.name == CHECKPOINT.name {
                assert!(
                    table.columns.iter().all(|c| ddl.iter().any(|d| d == c)),
                    "checkpoint: {ddl:?}"
                );
            } else {
                assert_eq!(table.columns, ddl, "columns of {}", table.name);
            }
            let key = client
                .query(
                    "SELECT a.attname::text FROM pg_index i \
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                     WHERE i.indrelid = ('read.' || $1)::regclass AND i.indisprimary ORDER BY a.attnum",
                    &[&table.name],
                )
                .await
                .unwrap();
            let key: Vec<String> = key.iter().map(|r| r.get(0)).collect();
            assert_eq!(table.key, key, "primary key of {}", table.name);
        }
        let listed: Vec<&str> = ALL.iter().map(|t| t.name).collect();
        let in_schema = client
            .query(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = 'read' ORDER BY 1",
                &[],
            )
            .await
            .unwrap();
        for row in &in_schema {
            let name: String = row.get(0);
            assert!(
                listed.contains(&name.as_str()),
                "read.{name} is not listed, so verify would not diff it"
            );
        }
    }
}
