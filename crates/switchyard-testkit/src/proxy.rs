//! Small forward proxies on loopback that count the connections they carry, so tests can prove
//! that an outbound call really went through an account's proxy.
//!
//! - [`TestProxy::http`]: an HTTP proxy. `CONNECT host:port` is tunnelled; a plain request in
//!   absolute form (`GET http://host:port/path`, what clients send for `http://` targets) is
//!   passed to that host on a fresh connection and the bytes are piped both ways. Clients pool
//!   proxied connections per target, so one piped connection only ever carries one target.
//! - [`TestProxy::socks5`] / [`TestProxy::socks5_auth`]: a SOCKS5 proxy (RFC 1928) with no
//!   authentication or with username/password (RFC 1929). It accepts IPv4, IPv6 and domain-name
//!   targets and records which one it was given, so a `socks5h` test can see that the name was
//!   resolved at the proxy.
//!
//! [`TestProxy::alias`] makes the proxy resolve a made-up host name (`upstream.test`) to a
//! loopback address. Point Switchyard's upstream hosts at such a name and only calls that go
//! through the proxy (with the name resolved there: `socks5h`, or any HTTP proxy) can reach
//! the mock — a call that skips the proxy fails to resolve the name.
//!
//! Each accepted connection that reaches its target is counted in [`TestProxy::connections`];
//! refused handshakes (wrong password) are counted in [`TestProxy::refused`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Http,
    Socks5,
}

#[derive(Default)]
struct Counters {
    connections: AtomicUsize,
    refused: AtomicUsize,
    targets: Mutex<Vec<String>>,
    aliases: Mutex<std::collections::HashMap<String, SocketAddr>>,
}

impl Counters {
    async fn connect(&self, target: &str) -> std::io::Result<TcpStream> {
        let aliased = target.rsplit_once(':').and_then(|(host, _)| {
            self.aliases
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(host)
                .copied()
        });
        match aliased {
            Some(addr) => TcpStream::connect(addr).await,
            None => TcpStream::connect(target).await,
        }
    }
}

/// A running proxy; it stops when dropped.
pub struct TestProxy {
    addr: SocketAddr,
    kind: Kind,
    auth: Option<(String, String)>,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestProxy {
    /// An HTTP proxy (CONNECT and absolute-form requests), no authentication.
    pub async fn http() -> Self {
        Self::start(Kind::Http, None).await
    }

    /// A SOCKS5 proxy without authentication.
    pub async fn socks5() -> Self {
        Self::start(Kind::Socks5, None).await
    }

    /// A SOCKS5 proxy that requires this username and password.
    pub async fn socks5_auth(user: &str, password: &str) -> Self {
        Self::start(Kind::Socks5, Some((user.into(), password.into()))).await
    }

    async fn start(kind: Kind, auth: Option<(String, String)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("test proxy cannot bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("test proxy has no address: {e}"));
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(serve(listener, kind, auth.clone(), counters.clone()));
        Self {
            addr,
            kind,
            auth,
            counters,
            task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy URL with the given scheme (`http`, `socks5`, `socks5h`), with the credentials
    /// when this proxy requires them.
    pub fn url_with_scheme(&self, scheme: &str) -> String {
        match &self.auth {
            Some((u, p)) => format!("{scheme}://{u}:{p}@{}", self.addr),
            None => format!("{scheme}://{}", self.addr),
        }
    }

    /// `http://…` or `socks5://…` (with credentials when required).
    pub fn url(&self) -> String {
        self.url_with_scheme(match self.kind {
            Kind::Http => "http",
            Kind::Socks5 => "socks5",
        })
    }

    /// Resolves `host` (any port) to `to` at the proxy.
    pub fn alias(&self, host: &str, to: SocketAddr) {
        self.counters
            .aliases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(host.to_string(), to);
    }

    /// Connections carried to their target so far.
    pub fn connections(&self) -> usize {
        self.counters.connections.load(Ordering::SeqCst)
    }

    /// Handshakes refused (wrong or missing credentials).
    pub fn refused(&self) -> usize {
        self.counters.refused.load(Ordering::SeqCst)
    }

    /// The targets as the client named them (`127.0.0.1:4000`, `localhost:4000`), in order.
    pub fn targets(&self) -> Vec<String> {
        self.counters
            .targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A loopback URL nothing listens on: a dead proxy.
pub async fn dead_proxy_url(scheme: &str) -> String {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("cannot bind: {e}"));
    let addr = l.local_addr().unwrap_or_else(|e| panic!("no address: {e}"));
    drop(l);
    format!("{scheme}://{addr}")
}

async fn serve(
    listener: TcpListener,
    kind: Kind,
    auth: Option<(String, String)>,
    counters: Arc<Counters>,
) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            continue;
        };
        let auth = auth.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            let _ = match kind {
                Kind::Http => http_conn(conn, &counters).await,
                Kind::Socks5 => socks_conn(conn, auth.as_ref(), &counters).await,
            };
        });
    }
}

fn record(counters: &Counters, target: &str) {
    counters
        .targets
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(target.to_string());
    counters.connections.fetch_add(1, Ordering::SeqCst);
}

async fn http_conn(conn: TcpStream, counters: &Counters) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let end = line == "\r\n" || line == "\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let first = head.lines().next().unwrap_or_default().to_string();
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    if method.eq_ignore_ascii_case("CONNECT") {
        let Ok(mut upstream) = counters.connect(target).await else {
            reader
                .get_mut()
                .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                .await?;
            return Ok(());
        };
        record(counters, target);
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        let buffered = reader.buffer().to_vec();
        upstream.write_all(&buffered).await?;
        let mut client = reader.into_inner();
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }
    // Absolute form: http://host:port/path
    let authority = target
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default()
        .to_string();
    let Ok(mut upstream) = counters.connect(&authority).await else {
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    record(counters, &authority);
    upstream.write_all(head.as_bytes()).await?;
    let buffered = reader.buffer().to_vec();
    upstream.write_all(&buffered).await?;
    let mut client = reader.into_inner();
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

async fn socks_conn(
    mut conn: TcpStream,
    auth: Option<&(String, String)>,
    counters: &Counters,
) -> std::io::Result<()> {
    // Greeting: VER, NMETHODS, METHODS…
    let mut hdr = [0u8; 2];
    conn.read_exact(&mut hdr).await?;
    if hdr[0] != 5 {
        return Ok(());
    }
    let mut methods = vec![0u8; usize::from(hdr[1])];
    conn.read_exact(&mut methods).await?;
    match auth {
        None if methods.contains(&0) => conn.write_all(&[5, 0]).await?,
        Some((user, pass)) if methods.contains(&2) => {
            conn.write_all(&[5, 2]).await?;
            // RFC 1929: VER(1) ULEN UNAME PLEN PASSWD
            let mut v = [0u8; 2];
            conn.read_exact(&mut v).await?;
            let mut u = vec![0u8; usize::from(v[1])];
            conn.read_exact(&mut u).await?;
            let mut pl = [0u8; 1];
            conn.read_exact(&mut pl).await?;
            let mut p = vec![0u8; usize::from(pl[0])];
            conn.read_exact(&mut p).await?;
            if u != user.as_bytes() || p != pass.as_bytes() {
                counters.refused.fetch_add(1, Ordering::SeqCst);
                conn.write_all(&[1, 1]).await?;
                return Ok(());
            }
            conn.write_all(&[1, 0]).await?;
        }
        _ => {
            counters.refused.fetch_add(1, Ordering::SeqCst);
            conn.write_all(&[5, 0xff]).await?;
            return Ok(());
        }
    }
    // Request: VER CMD RSV ATYP DST.ADDR DST.PORT
    let mut req = [0u8; 4];
    conn.read_exact(&mut req).await?;
    let host = match req[3] {
        1 => {
            let mut a = [0u8; 4];
            conn.read_exact(&mut a).await?;
            std::net::Ipv4Addr::from(a).to_string()
        }
        4 => {
            let mut a = [0u8; 16];
            conn.read_exact(&mut a).await?;
            format!("[{}]", std::net::Ipv6Addr::from(a))
        }
        3 => {
            let mut len = [0u8; 1];
            conn.read_exact(&mut len).await?;
            let mut name = vec![0u8; usize::from(len[0])];
            conn.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => return Ok(()),
    };
    let mut port = [0u8; 2];
    conn.read_exact(&mut port).await?;
    let target = format!("{host}:{}", u16::from_be_bytes(port));
    if req[1] != 1 {
        conn.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Ok(());
    }
    let Ok(mut upstream) = counters.connect(&target).await else {
        conn.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Ok(());
    };
    record(counters, &target);
    conn.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).await?;
    tokio::io::copy_bidirectional(&mut conn, &mut upstream).await?;
    Ok(())
}
