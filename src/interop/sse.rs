//! The `data:` payloads of a whole Server-Sent Events body (the gateway buffers answers, so an
//! MCP or A2A stream arrives complete). Written here rather than taken from a crate: the
//! streaming SSE crates parse byte streams for long-lived connections, and this is a dozen
//! lines over a finished buffer. Follows the WHATWG rules that matter for JSON payloads: lines
//! end in CRLF, LF or CR; an event ends at a blank line; several `data:` lines join with `\n`;
//! one space after the colon is dropped; comments (`:`) and other fields are ignored.

pub(super) fn data_payloads(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    let mut data: Option<String> = None;
    for line in text
        .split("\r\n")
        .flat_map(|l| l.split('\n'))
        .flat_map(|l| l.split('\r'))
    {
        if line.is_empty() {
            if let Some(d) = data.take() {
                out.push(d);
            }
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_string()),
            }
        }
    }
    if let Some(d) = data {
        out.push(d);
    }
    out
}

/// The last event `id` and the last `retry` (milliseconds) a stream gave: where to resume it
/// and how long to wait first (MCP's Streamable HTTP, SEP-1699).
pub(super) fn resume_point(body: &[u8]) -> (Option<String>, Option<u64>) {
    let text = String::from_utf8_lossy(body);
    let (mut id, mut retry) = (None, None);
    for line in text
        .split("\r\n")
        .flat_map(|l| l.split('\n'))
        .flat_map(|l| l.split('\r'))
    {
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            // WHATWG: an id with NULL is ignored; an empty one resets it.
            "id" if !value.contains('\0') => {
                id = (!value.is_empty()).then(|| value.to_string());
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                retry = value.parse().ok();
            }
            _ => {}
        }
    }
    (id, retry)
}

#[cfg(test)]
mod tests {
    use super::{data_payloads, resume_point};

    #[test]
    fn the_resume_point_is_the_last_id_and_retry() {
        assert_eq!(
            resume_point(b"id: event-1\nretry: 500\ndata:\n\n"),
            (Some("event-1".into()), Some(500))
        );
        assert_eq!(
            resume_point(b"id: a\nid: b\nretry: x\n\n"),
            (Some("b".into()), None)
        );
        assert_eq!(resume_point(b"id: a\nid:\n\n"), (None, None));
        assert_eq!(resume_point(b""), (None, None));
    }

    #[test]
    fn events_split_on_blank_lines_in_any_line_ending() {
        let body = b"event: message\r\ndata: {\"a\":1}\r\n\r\n: ping\n\nevent: message\ndata: {\"b\":\ndata: 2}\n\ndata:{\"c\":3}";
        assert_eq!(
            data_payloads(body),
            vec!["{\"a\":1}", "{\"b\":\n2}", "{\"c\":3}"]
        );
        assert!(data_payloads(b"").is_empty());
        assert_eq!(data_payloads(b"data: x\r\rdata: y\r\r"), vec!["x", "y"]);
    }
}
