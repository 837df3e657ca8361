//! A minimal HTTP/1.1 keep-alive client for load generation: requests are written whole and
//! answers read by Content-Length, so the generator spends almost no CPU of the shared machine.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

pub struct Conn {
    stream: BufReader<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Self {
            stream: BufReader::new(s),
            buf: Vec::with_capacity(4096),
        }
    }

    /// Sends one request and reads the whole answer; returns the status code.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: &[u8],
    ) -> u16 {
        self.buf.clear();
        self.buf
            .extend_from_slice(format!("{method} {path} HTTP/1.1\r\nhost: bench\r\n").as_bytes());
        for (k, v) in headers {
            self.buf
                .extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        self.buf.extend_from_slice(
            format!(
                "content-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        self.buf.extend_from_slice(body);
        self.stream
            .get_mut()
            .write_all(&self.buf)
            .await
            .expect("write");
        self.buf.clear();
        while !self.buf.ends_with(b"\r\n\r\n") {
            let b = self.stream.read_u8().await.expect("read head");
            self.buf.push(b);
        }
        let head = String::from_utf8_lossy(&self.buf).to_ascii_lowercase();
        let status: u16 = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().expect("length"))
            .expect("content-length");
        let mut rest = vec![0u8; len];
        self.stream.read_exact(&mut rest).await.expect("read body");
        status
    }
}
