//! The console's nginx sends every API route to the service that serves it: each route of
//! both `ENDPOINTS` tables (and the headset protocol) goes through a real nginx, run from the
//! template `make run` uses, to two stub upstreams that answer with their own name. Live push
//! passes through unbuffered; other paths are the single-page app.

mod console_support;

use std::time::Duration;

use console_support::Nginx;
use ledger_core::access::Endpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const COMMAND: &str = "command-api";
const QUERY: &str = "query-api";

/// An upstream that answers every request with its name. A path ending in `/live` gets one
/// Server-Sent Event and then a connection held open, as the live routes do.
async fn stub(name: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::spawn(answer(socket, name));
        }
    });
    addr
}

async fn answer(mut socket: TcpStream, name: &'static str) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    // Keep-alive from nginx: answer each request on the connection in turn.
    loop {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let text = String::from_utf8_lossy(&head[..end]).into_owned();
        let body_len: usize = text
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        while head.len() < end + body_len {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        head.drain(..end + body_len);
        let path = text.split_whitespace().nth(1).unwrap_or("").to_owned();
        if path.ends_with("/live") {
            let event = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
                 Connection: close\r\n\r\nevent: hello\ndata: {name}\n\n"
            );
            let _ = socket.write_all(event.as_bytes()).await;
            // The stream stays open, like a quiet live connection.
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{name}",
            name.len()
        );
        if socket.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// A concrete path for a route: each `{param}` filled with a value of its shape.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&rest[..start]);
        out.push_str(match &rest[start + 1..end] {
            "ip" => "203.0.113.7",
            "aggregate_type" => "operator",
            _ => "5f0c6d1e-8a2b-4c3d-9e4f-0a1b2c3d4e5f",
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

async fn upstream_of(http: &reqwest::Client, base: &str, method: &str, path: &str) -> String {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = http
        .request(method.clone(), format!("{base}{path}"))
        .header("Content-Type", "application/json")
        .body(if method == reqwest::Method::GET {
            ""
        } else {
            "{}"
        })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{method} {path}");
    response.text().await.unwrap()
}

fn api_routes(table: &'static [Endpoint]) -> impl Iterator<Item = &'static Endpoint> {
    table.iter().filter(|e| e.path.starts_with("/api/"))
}

#[tokio::test]
async fn every_api_route_reaches_the_service_that_serves_it() {
    let (command, query) = (stub(COMMAND).await, stub(QUERY).await);
    let nginx = Nginx::start(&console_support::console_dist(), &command, &query);
    let http = reqwest::Client::new();

    let headset = [
        ("POST", command_api::http::headset::AUTHORIZE),
        ("POST", command_api::http::headset::END),
        ("GET", command_api::http::headset::CONFIG),
        ("POST", command_api::http::headset::HEARTBEAT),
    ];
    let mut checked = 0;
    for (method, path, expected) in api_routes(command_api::http::endpoints::ENDPOINTS)
        .map(|e| (e.method, e.path, COMMAND))
        .chain(headset.iter().map(|&(m, p)| (m, p, COMMAND)))
        .chain(api_routes(query_api::endpoints::ENDPOINTS).map(|e| (e.method, e.path, QUERY)))
    {
        if path.ends_with("/live") {
            continue; // streamed: checked below
        }
        let got = upstream_of(&http, &nginx.url, method, &concrete(path)).await;
        assert_eq!(got, expected, "{method} {path} went to {got}");
        checked += 1;
    }
    // Both tables are walked (not an empty filter) and paths shared by both services are among
    // them, so the method decides (PATCH vs GET of one operator).
    assert!(checked > 100, "only {checked} routes checked");
    let shared = "/api/v1/admin/operators/5f0c6d1e-8a2b-4c3d-9e4f-0a1b2c3d4e5f";
    assert_eq!(upstream_of(&http, &nginx.url, "GET", shared).await, QUERY);
    assert_eq!(
        upstream_of(&http, &nginx.url, "PATCH", shared).await,
        COMMAND
    );
}

#[tokio::test]
async fn live_push_passes_through_unbuffered() {
    let (command, query) = (stub(COMMAND).await, stub(QUERY).await);
    let nginx = Nginx::start(&console_support::console_dist(), &command, &query);
    for live in ["/api/v1/operator/live", "/api/v1/finance/live"] {
        assert!(
            query_api::endpoints::ENDPOINTS
                .iter()
                .any(|e| e.path == live && e.method == "GET"),
            "{live} is a query-api route"
        );
        // The upstream sent one event and holds the connection open: a buffering proxy would
        // sit on it (headers included) until the upstream closed.
        let first_event = async {
            let mut response = reqwest::get(format!("{}{live}", nginx.url)).await.unwrap();
            assert_eq!(response.status(), 200);
            response.chunk().await.unwrap().expect("a first chunk")
        };
        let first = tokio::time::timeout(Duration::from_secs(5), first_event)
            .await
            .unwrap_or_else(|_| panic!("{live}: the event was buffered"));
        let text = String::from_utf8_lossy(&first);
        assert!(text.contains("data: query-api"), "{live}: {text}");
    }
}

#[tokio::test]
async fn console_paths_are_the_single_page_app() {
    let (command, query) = (stub(COMMAND).await, stub(QUERY).await);
    let dist = console_support::console_dist();
    let nginx = Nginx::start(&dist, &command, &query);
    let index = std::fs::read_to_string(dist.join("index.html")).unwrap();
    // Console routes (and the services' own health and metrics, which are not published on
    // the console's origin) load the app, which routes in the browser.
    for path in [
        "/",
        "/login",
        "/operator/dashboard",
        "/operator/apps",
        "/admin/operators",
        "/admin/apps",
        "/admin/applications",
        "/admin/announcements",
        "/admin/transactions",
        "/finance/dashboard",
        "/finance/reconciliations",
        "/analyst/analysis",
        "/health",
        "/metrics",
    ] {
        let response = reqwest::get(format!("{}{path}", nginx.url)).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.unwrap(), index, "{path}");
    }
    let missing = reqwest::get(format!("{}/assets/missing-asset.js", nginx.url))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404, "a missing asset is not the app");
}
