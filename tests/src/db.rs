//! One fresh database per test, so tests run in parallel and leave nothing behind.
//!
//! The first test to need it builds a migrated template database (named after the
//! migrations' fingerprint, so a changed migration gets a new template); every test then
//! clones it with `CREATE DATABASE … TEMPLATE`, which takes milliseconds.

use std::sync::atomic::{AtomicU32, Ordering};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// Server used by tests; override with `MR_TEST_DATABASE_URL` (no database name).
fn server_url() -> String {
    std::env::var("MR_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Advisory lock key that serialises template creation across test processes.
const TEMPLATE_LOCK: i64 = 7_262_736_502;

pub struct TestDb {
    pub name: String,
    pub url: String,
    server: String,
}

impl TestDb {
    /// Creates a new database migrated to the latest schema.
    pub async fn new() -> TestDb {
        Self::on_server(server_url()).await
    }

    /// [`TestDb::new`] on another server (`postgres://user@host:port`, no database name),
    /// e.g. a private cluster a fault test restarts.
    pub async fn on_server(server: String) -> TestDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let (admin, conn) = tokio_postgres::connect(&format!("{server}/postgres"), NoTls)
            .await
            .expect("PostgreSQL must be running for tests (see README)");
        tokio::spawn(conn);

        let template = format!("mr_template_{:016x}", migrations::fingerprint());
        admin
            .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK])
            .await
            .unwrap();
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
            .await
            .unwrap()
            .is_some();
        if !exists {
            let building = format!("{template}_building");
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {building}"))
                .await
                .unwrap();
            admin
                .batch_execute(&format!("CREATE DATABASE {building}"))
                .await
                .unwrap();
            {
                let (mut client, conn) =
                    tokio_postgres::connect(&format!("{server}/{building}"), NoTls)
                        .await
                        .unwrap();
                let handle = tokio::spawn(conn);
                migrations::run(&mut client)
                    .await
                    .expect("migrations apply");
                drop(client);
                let _ = handle.await;
            }
            admin
                .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
                .await
                .unwrap();
        }
        let name = format!(
            "mr_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            uuid::Uuid::new_v4().simple().to_string().get(..8).unwrap()
        );
        let created = admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await;
        admin
            .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])
            .await
            .unwrap();
        created.expect("clone the template database");
        TestDb {
            url: format!("{server}/{name}"),
            name,
            server,
        }
    }

    /// A connection pool on this database.
    pub fn pool(&self, size: usize) -> Pool {
        let config: tokio_postgres::Config = self.url.parse().unwrap();
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Pool::builder(manager).max_size(size).build().unwrap()
    }

    /// One plain client on this database.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, NoTls).await.unwrap();
        tokio::spawn(conn);
        client
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop runs outside any async context guarantee: use a private runtime on a thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok((admin, conn)) =
                    tokio_postgres::connect(&format!("{server}/postgres"), NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}
