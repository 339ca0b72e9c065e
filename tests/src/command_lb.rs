//! nginx balancing several command-api instances, from the template the operations guide
//! describes (deploy/nginx/command-lb.conf.template), as a child process on a free port.

use std::collections::BTreeMap;
use std::path::Path;

use crate::nginx::{Nginx, template};

/// The config for these addresses: the template with its placeholders filled in, the line
/// naming `@COMMAND@` once per instance.
pub fn render(listen: &str, instances: &[&str], run_dir: &Path) -> String {
    let mut text = String::new();
    for line in template("command-lb.conf.template").lines() {
        // Comments mention the placeholder too; only configuration lines are repeated.
        if line.contains("@COMMAND@") && !line.trim_start().starts_with('#') {
            for instance in instances {
                text.push_str(&line.replace("@COMMAND@", instance));
                text.push('\n');
            }
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    let text = text
        .replace("@LISTEN@", listen)
        .replace("@RUN_DIR@", &run_dir.to_string_lossy());
    let config_lines = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'));
    let unfilled: Vec<&str> = config_lines.filter(|line| line.contains('@')).collect();
    assert!(
        unfilled.is_empty(),
        "placeholders left unfilled: {unfilled:?}"
    );
    text
}

/// nginx in front of command-api instances.
pub struct CommandLb {
    nginx: Nginx,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl CommandLb {
    /// Balances `instances` (`host:port` each) on a free port.
    pub fn start(instances: &[&str]) -> CommandLb {
        let nginx = Nginx::start(|listen, run_dir| render(listen, instances, run_dir));
        CommandLb {
            url: nginx.url.clone(),
            nginx,
        }
    }

    pub fn error_log(&self) -> String {
        self.nginx.error_log()
    }

    /// Requests to `path` so far by the instance that answered them (`upstream=` of the
    /// access log; `a, b` when nginx moved a request on from `a` to `b`).
    pub fn answered_by(&self, path: &str) -> BTreeMap<String, usize> {
        let log = self.nginx.log("nginx-access.log");
        let mut counts = BTreeMap::new();
        for line in log.lines().filter(|l| l.contains(&format!(" {path} "))) {
            let Some(upstream) = line
                .split(" upstream=")
                .nth(1)
                .and_then(|rest| rest.split(" upstream_status=").next())
            else {
                continue;
            };
            *counts.entry(upstream.to_owned()).or_insert(0) += 1;
        }
        counts
    }
}
