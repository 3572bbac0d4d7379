//! The MCP servers an agent offers tools from, and the per-user credentials for them. A
//! server's `headers` are asked for per (user, server) whenever a request goes out, so the
//! headers sent for one user's listing or call are that user's and nobody else's.

use crate::error::{Error, Result};
use crate::limits::{
    DEFAULT_MCP_CACHE_TTL_MS, DEFAULT_MCP_TIMEOUT_MS, MAX_MCP_SERVERS, MAX_MCP_SERVER_NAME_BYTES,
    MAX_TIMEOUT_MS,
};
use futures_util::future::LocalBoxFuture;
use std::rc::Rc;

/// The host's credentials for one user at one server: the headers (an `Authorization`
/// with the user's own token, an API key) to send with that user's requests. `Err` is why
/// there are none (the host's function threw, or returned something that is not headers);
/// it fails that user's listing or call only.
pub trait McpHeaders {
    fn headers(
        &self,
        user: Option<&str>,
        org: Option<&str>,
        server: &str,
    ) -> LocalBoxFuture<'static, std::result::Result<Vec<(String, String)>, String>>;
}

/// One server: `name` prefixes its tools (`${name}_${tool}`), `url` is its Streamable HTTP
/// endpoint.
#[derive(Clone)]
pub struct McpServerConfig {
    pub name: String,
    pub url: String,
    pub headers: Option<Rc<dyn McpHeaders>>,
    /// Time limit of one HTTP exchange with the server (headers included), in ms.
    pub timeout_ms: u64,
    /// How long a user's tool list from this server is reused, in ms (`Infinity`: until
    /// evicted or forgotten; 0: listed again on every run).
    pub cache_ttl_ms: f64,
}

impl McpServerConfig {
    /// A server with no headers and the default time limit and cache lifetime.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> McpServerConfig {
        McpServerConfig {
            name: name.into(),
            url: url.into(),
            headers: None,
            timeout_ms: DEFAULT_MCP_TIMEOUT_MS,
            cache_ttl_ms: DEFAULT_MCP_CACHE_TTL_MS,
        }
    }

    pub fn with_headers(mut self, headers: Rc<dyn McpHeaders>) -> McpServerConfig {
        self.headers = Some(headers);
        self
    }

    /// The prefix of this server's tool names.
    pub fn prefix(&self) -> String {
        format!("{}_", self.name)
    }
}

/// A name that is a tool-name prefix: what model providers accept in a tool name, short
/// enough to leave room for the server's own tool name after the `_`.
pub fn valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_MCP_SERVER_NAME_BYTES
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Checks every server's fields, with `mcp[i].field` paths as the JS config names them.
pub fn validate(servers: &[McpServerConfig]) -> Result<()> {
    crate::error::within("mcp", servers.len() as u64, 0, MAX_MCP_SERVERS as u64)?;
    let mut seen = std::collections::BTreeSet::new();
    for (i, s) in servers.iter().enumerate() {
        let path = format!("mcp[{i}]");
        if !valid_server_name(&s.name) {
            return Err(Error::config(
                &format!("{path}.name"),
                format!(
                    "must be 1 to {MAX_MCP_SERVER_NAME_BYTES} letters, digits, `_` or `-` (it prefixes tool names)"
                ),
            ));
        }
        if !seen.insert(s.name.as_str()) {
            return Err(Error::config(
                &format!("{path}.name"),
                format!("two servers are named {:?}", s.name),
            ));
        }
        check_url(&s.url).map_err(|reason| Error::config(&format!("{path}.url"), reason))?;
        crate::error::within(
            &format!("{path}.timeoutMs"),
            s.timeout_ms,
            1,
            MAX_TIMEOUT_MS,
        )?;
        let ttl = s.cache_ttl_ms;
        if ttl.is_nan() || ttl < 0.0 {
            return Err(Error::config(
                &format!("{path}.cacheTtlMs"),
                format!("must be 0 or more (Infinity: no expiry), got {ttl}"),
            ));
        }
    }
    Ok(())
}

/// An absolute http(s) URL with a host, no credentials in it (they belong in `headers`,
/// per user) and nothing a header line or log could be split with.
fn check_url(url: &str) -> std::result::Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must be an http:// or https:// URL")?;
    if url.len() > 2048 {
        return Err("is over 2048 bytes".into());
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err("has no host".into());
    }
    if authority.contains('@') {
        return Err("must not carry credentials: pass them per user with `headers`".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn field(servers: &[McpServerConfig]) -> String {
        match validate(servers).unwrap_err() {
            Error::InvalidConfig { field, .. } => field,
            e => panic!("{e}"),
        }
    }

    #[test]
    fn names_urls_and_bounds_are_checked_by_path() {
        let ok = McpServerConfig::new("crm", "https://mcp.example.com/mcp");
        validate(&[
            ok.clone(),
            McpServerConfig::new("docs-2", "http://localhost:1/"),
        ])
        .unwrap();
        for bad in [
            "",
            "a.b",
            "a b",
            "ü",
            &"x".repeat(MAX_MCP_SERVER_NAME_BYTES + 1),
        ] {
            let s = McpServerConfig::new(bad, "https://x.example");
            assert_eq!(field(&[s]), "mcp[0].name", "{bad:?}");
        }
        assert_eq!(field(&[ok.clone(), ok.clone()]), "mcp[1].name");
        for bad in [
            "ftp://x.example",
            "https://",
            "https:///path",
            "https://user:pw@x.example/mcp",
            "https://x.example/a b",
            "https://x.example/\r\nX: y",
            "javascript:alert(1)",
        ] {
            let s = McpServerConfig::new("a", bad);
            assert_eq!(field(&[s]), "mcp[0].url", "{bad:?}");
        }
        let mut s = ok.clone();
        s.timeout_ms = 0;
        assert_eq!(field(&[s]), "mcp[0].timeoutMs");
        let mut s = ok.clone();
        s.cache_ttl_ms = f64::NAN;
        assert_eq!(field(&[s]), "mcp[0].cacheTtlMs");
        let mut s = ok;
        s.cache_ttl_ms = f64::INFINITY;
        validate(&[s]).unwrap();
    }
}
