//! Addresses as people type them: `--node 127.0.0.1:7070` and `--listen 7071` work as well as the
//! full forms.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs as _};

/// A node's base URL: `http(s)://…` as given (without a trailing `/`); `host:port` means
/// `http://host:port`; a bare port or `:port` means `http://127.0.0.1:port`.
pub fn node_url(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("a node URL cannot be empty".into());
    }
    if let Some((scheme, rest)) = s.split_once("://") {
        let rest = rest.trim_end_matches('/');
        return match scheme {
            "http" | "https" if !rest.is_empty() => Ok(format!("{scheme}://{rest}")),
            "http" | "https" => Err(format!("`{s}` names no host")),
            other => Err(format!(
                "`{other}://` is not a node URL scheme (use http:// or https://)"
            )),
        };
    }
    let hostport = match s.strip_prefix(':').unwrap_or(s) {
        port if port.parse::<u16>().is_ok() => format!("127.0.0.1:{port}"),
        _ => s.to_string(),
    };
    match hostport.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty() && !host.contains(['/', ' ']) && port.parse::<u16>().is_ok() =>
        {
            Ok(format!("http://{hostport}"))
        }
        None if !hostport.contains(['/', ' ']) => Ok(format!("http://{hostport}")),
        _ => Err(format!(
            "`{s}` is not a node URL (e.g. http://127.0.0.1:7070, 127.0.0.1:7070 or 7070)"
        )),
    }
}

/// An address to listen on: `7071` or `:7071` (127.0.0.1), `host:port` with the host resolved
/// (`localhost` → 127.0.0.1; IPv4 preferred), `[::1]:7071`, `0.0.0.0:7071`.
pub fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(port) = s.strip_prefix(':').unwrap_or(s).parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    let bad = || {
        format!(
            "`{s}` is not an address to listen on (e.g. 127.0.0.1:7070, localhost:7070 or 7070)"
        )
    };
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    let found: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
        .collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| found.first())
        .copied()
        .ok_or_else(|| format!("`{host}` resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls_as_typed() {
        for (typed, want) in [
            ("http://127.0.0.1:7070/", "http://127.0.0.1:7070"),
            ("https://node.example", "https://node.example"),
            ("127.0.0.1:7070", "http://127.0.0.1:7070"),
            ("localhost:7071", "http://localhost:7071"),
            ("7070", "http://127.0.0.1:7070"),
            (":7070", "http://127.0.0.1:7070"),
            ("[::1]:7070", "http://[::1]:7070"),
        ] {
            assert_eq!(node_url(typed).as_deref(), Ok(want), "{typed}");
        }
        for bad in ["", "ftp://x", "http://", "a b:1"] {
            assert!(node_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listen_addresses_as_typed() {
        let v4 = |p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p);
        assert_eq!(listen_addr("7071"), Ok(v4(7071)));
        assert_eq!(listen_addr(":7071"), Ok(v4(7071)));
        assert_eq!(listen_addr("localhost:7071"), Ok(v4(7071)));
        assert_eq!(listen_addr("127.0.0.1:0"), Ok(v4(0)));
        assert_eq!(listen_addr("[::1]:7071").map(|a| a.is_ipv6()), Ok(true));
        for bad in ["", "host", "localhost:http", ":", "99999"] {
            assert!(listen_addr(bad).is_err(), "{bad}");
        }
    }
}
